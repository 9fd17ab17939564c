"""Servers the tests start on loopback: a scripted, deliberately broken SMTP server of our own.

`ScriptedServer(Behaviour(...))` listens on 127.0.0.1 on a free port in a thread of its own and
answers each command line from a table, so a test can make any reply (wrong codes, mixed codes,
silence, a close mid-reply, bytes dripped slowly) happen on a real socket. The hostile actions
below (`drip`, `slow`, `endless`, `close`, `reset`, `pause`, `sequence`) build the callables.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Action = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]] | None


@dataclass
class Behaviour:
    # None: send nothing (silence). A callable gets the writer and does what it likes.
    greeting: Action = b"220 broken.test ESMTP scripted\r\n"
    # Reply per command verb (upper case); anything not listed gets `default`.
    replies: dict[str, Action] = field(default_factory=dict)
    quit: Action = b"221 2.0.0 bye\r\n"
    default: Action = b"250 2.0.0 OK\r\n"
    data_start: Action = b"354 End data with <CR><LF>.<CR><LF>\r\n"
    data_end: Action = b"250 2.0.0 queued\r\n"
    # Close the connection right after replying to these verbs.
    close_after: set[str] = field(default_factory=lambda: {"QUIT"})
    # After a 354: what to do with the message (default: read to the final dot, send data_end).
    message: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]] | None = None


def ehlo(*lines: str, code: str = "250") -> bytes:
    """A well-formed multi-line EHLO reply."""
    all_lines = ["broken.test", *lines]
    out = [f"{code}-{line}\r\n" for line in all_lines[:-1]]
    out.append(f"{code} {all_lines[-1]}\r\n")
    return "".join(out).encode()


# ---- hostile actions: each returns an Action (an async callable taking the writer) ----------


def pause(seconds: float) -> Action:
    """Wait, send nothing."""

    async def act(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)

    return act


def slow(data: bytes, delay: float) -> Action:
    """Wait `delay` seconds, then send `data` at once."""
    return sequence(pause(delay), data)


def drip(data: bytes, interval: float) -> Action:
    """Send `data` one byte at a time, `interval` seconds apart."""

    async def act(writer: asyncio.StreamWriter) -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval)

    return act


def endless(head: bytes, repeat: bytes, limit: int = 64 * 1024 * 1024) -> Action:
    """Send `head`, then `repeat` over and over (until the peer goes away, or `limit` bytes)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        sent = len(head)
        block = repeat * max(1, 16384 // len(repeat))
        while sent < limit and not writer.is_closing():
            writer.write(block)
            sent += len(block)
            await writer.drain()

    return act


def close(data: bytes = b"") -> Action:
    """Send `data` (e.g. half a reply), then close the connection (FIN)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        if data:
            writer.write(data)
            await writer.drain()
        writer.close()

    return act


def reset(data: bytes = b"") -> Action:
    """Send `data`, then reset the connection (SO_LINGER 0, then close: an RST, not a FIN)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        if data:
            writer.write(data)
            await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return act


def sequence(*actions: Action) -> Action:
    """Several actions one after the other (bytes are sent, callables awaited)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        for action in actions:
            if writer.is_closing():
                return
            await ScriptedServer.act(action, writer)

    return act


class ScriptedServer:
    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.host = host
        self.port = 0
        self.received: list[bytes] = []  # every command line, for assertions
        self.connections = 0
        self.connected = threading.Event()  # set when the first client is accepted
        self.disconnected = threading.Event()  # set when a client connection has ended
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, self.host, 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self._loop.run_until_complete(
                asyncio.wait(tasks, timeout=2)  # let handlers run their `finally` (close)
            )
        self._loop.close()

    @staticmethod
    async def act(action: Action, writer: asyncio.StreamWriter) -> None:
        if action is None:
            return
        if isinstance(action, bytes):
            writer.write(action)
            await writer.drain()
        else:
            await action(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        b = self.behaviour
        self.connections += 1
        self.connected.set()
        try:
            await self.act(b.greeting, writer)
            while not writer.is_closing():
                line = await reader.readline()
                if not line:
                    break
                self.received.append(line)
                verb = line.split(b" ", 1)[0].strip().upper().decode("latin-1")
                if verb == "DATA":
                    await self.act(b.data_start, writer)
                    if isinstance(b.data_start, bytes) and b.data_start.startswith(b"354"):
                        if b.message is not None:
                            await b.message(reader, writer)
                            continue
                        await reader.readuntil(b"\r\n.\r\n")
                        await self.act(b.data_end, writer)
                    continue
                fallback = b.quit if verb == "QUIT" else b.default
                await self.act(b.replies.get(verb, fallback), writer)
                if verb in b.close_after:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the server is shutting down
        finally:
            writer.close()
            self.disconnected.set()
