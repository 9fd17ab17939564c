"""A loopback SMTP server that counts: connections at once (the most seen), and when each began.

basic.yaml passes against it. `hold` delays the greeting, so sessions overlap long enough for a
limit on concurrency to show. Several can listen on 127.0.0.x addresses of their own.
"""

from __future__ import annotations

import asyncio
import threading
import time

REPLIES = {
    b"EHLO": b"250-count.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"DATA": b"354 go\r\n",
    b"QUIT": b"221 bye\r\n",
    b"VRFY": b"252 maybe\r\n",
}


class CountingServer:
    def __init__(self, host: str = "127.0.0.1", hold: float = 0.0, port: int = 0) -> None:
        self.host = host
        self.hold = hold
        self.port = port
        self.open = 0
        self.most = 0
        self.started: list[float] = []  # time.monotonic() of each connection
        self.sessions = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.open += 1
            self.most = max(self.most, self.open)
            self.started.append(time.monotonic())
            self.sessions += 1
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            writer.write(b"220 count.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                writer.write(REPLIES.get(verb, b"250 OK\r\n"))
                if verb == b"DATA":
                    await reader.readuntil(b"\r\n.\r\n")
                    writer.write(b"250 queued\r\n")
                if verb == b"QUIT":
                    break
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with self._lock:
                self.open -= 1
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    def __enter__(self) -> CountingServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("counting server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
