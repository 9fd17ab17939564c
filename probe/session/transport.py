"""One TCP connection to a server: send bytes, read whole replies, all under timeouts.

The socket side only: parsing is the protocol core's (`ReplyReader`), judging the asserter's.
Every wait is bounded twice: by the per-reply timeout and by the session deadline, so no session
outlives its deadline whatever the server does (drip-feeding, silence, endless lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from dataclasses import dataclass

from probe.protocol.reader import CapExceeded, Closed, NeedData, ReplyReader
from probe.protocol.reply import Reply

CHUNK = 4096


DEADLINE_REACHED = "session deadline reached"


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """No judgeable reply: why, and whether the connection is gone for good."""

    reason: str
    closed: bool
    deadline: bool = False  # the session deadline (not the reply timeout) ran out
    aborted: bool = False  # we closed it: the reply went past a cap


class Transport:
    def __init__(
        self,
        reply_timeout: float,
        deadline: float,
        max_reply_bytes: int,
        max_reply_lines: int,
    ) -> None:
        self.reply_timeout = reply_timeout
        self.deadline = deadline  # time.monotonic() value after which nothing more is awaited
        self._caps = (max_reply_bytes, max_reply_lines)
        self._reader_stream: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.replies = ReplyReader(*self._caps)
        self.closed = True
        self.peer: str | None = None
        self._lost: str | None = None  # why the connection broke, when the server broke it

    def _remaining(self, limit: float) -> float:
        return max(0.0, min(limit, self.deadline - time.monotonic()))

    @property
    def past_deadline(self) -> bool:
        return time.monotonic() >= self.deadline

    async def connect(self, host: str, port: int, timeout: float) -> str | None:
        """Open the connection; None on success, else the reason it failed."""
        if self.past_deadline:
            return DEADLINE_REACHED
        wait = self._remaining(timeout)
        try:
            self._reader_stream, self._writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=CHUNK * 4), wait
            )
        except TimeoutError:
            if self.past_deadline:
                return DEADLINE_REACHED
            return f"connect to {_hostport(host, port)} timed out after {wait:.1f} s"
        except OSError as exc:
            # asyncio's strerror is "Connect call failed (...)"; the errno says what happened.
            why = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
            return f"connect to {_hostport(host, port)} failed: {why}"
        self.closed = False
        self._lost = None
        self.peer = _hostport(host, port)
        return None

    async def send(self, data: bytes) -> str | None:
        """Write and drain; None on success, else the reason."""
        if self._writer is None or self.closed:
            return self._lost or "connection is closed"
        if self.past_deadline:
            return DEADLINE_REACHED  # nothing is sent once the deadline has passed
        try:
            self._writer.write(data)
            # asyncio.timeout, not wait_for: on 3.11 wait_for(..., 0) times out even when the
            # awaitable would finish at once.
            async with asyncio.timeout(self._remaining(self.reply_timeout)):
                await self._writer.drain()
        except TimeoutError:
            if self.past_deadline:
                return DEADLINE_REACHED
            return "timed out sending (the server is not reading)"
        except (ConnectionError, OSError) as exc:
            self.closed = True
            self._lost = f"send failed: {exc}"
            return self._lost
        return None

    async def read_reply(self, timeout: float | None = None) -> Reply | ReadFailure:
        """The next complete reply, or why there is none. The timeout covers the whole reply."""
        limit = self.reply_timeout if timeout is None else timeout
        until = time.monotonic() + self._remaining(limit)
        while True:
            event = self.replies.next_event()
            if isinstance(event, Reply):
                return event
            if isinstance(event, CapExceeded):
                await self.abort()
                return ReadFailure(event.message, closed=True, aborted=True)
            if isinstance(event, Closed):
                self.closed = True
                if event.partial:
                    return ReadFailure(
                        f"connection closed in the middle of a reply "
                        f"({len(event.partial)} bytes of an unfinished reply)",
                        closed=True,
                    )
                return ReadFailure("connection closed by the server before any reply", True)
            assert isinstance(event, NeedData)
            if self._reader_stream is None or self.closed:
                return ReadFailure(self._lost or "connection is closed", closed=True)
            wait = until - time.monotonic()
            if wait <= 0:
                return self._timed_out(limit)
            try:
                chunk = await asyncio.wait_for(self._reader_stream.read(CHUNK), wait)
            except TimeoutError:
                return self._timed_out(limit)
            except (ConnectionError, OSError, ssl.SSLError) as exc:
                self.closed = True
                self._lost = f"connection lost: {exc}"
                return ReadFailure(self._lost, closed=True)
            self.replies.receive_data(chunk)

    async def collect(self, until: float) -> None:
        """Take in whatever the server sends before `until` (a time.monotonic() value, bounded by
        the deadline), without waiting for a complete reply; return early on the first data, the
        end of the stream or an error. Used before sending a command: what arrives while no
        command is outstanding was not asked for, and must not be taken for the next reply.
        Reading at most one chunk keeps memory bounded whatever the server floods."""
        if self._reader_stream is None or self.closed or self.replies.buffered:
            return
        wait = max(0.0, min(until, self.deadline) - time.monotonic())
        try:
            # asyncio.timeout, not wait_for: with no time left, still take what is buffered.
            async with asyncio.timeout(wait):
                chunk = await self._reader_stream.read(CHUNK)
        except TimeoutError:
            return
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self.closed = True
            self._lost = f"connection lost: {exc}"
            return
        self.replies.receive_data(chunk)

    def _timed_out(self, limit: float) -> ReadFailure:
        pending = self.replies.buffered
        deadline = self.past_deadline
        what = DEADLINE_REACHED if deadline else f"no complete reply within {limit:g} s"
        reason = what + (f" ({pending} bytes of an unfinished reply)" if pending else "")
        return ReadFailure(reason, closed=False, deadline=deadline)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> str | None:
        """Upgrade to TLS after a 220 to STARTTLS; None on success, else the reason."""
        if self._writer is None:
            return "connection is closed"
        if self.past_deadline:
            await self.abort()
            return DEADLINE_REACHED
        limit = self._remaining(self.reply_timeout)
        try:
            async with asyncio.timeout(limit):
                await self._writer.start_tls(context, server_hostname=server_hostname)
        except TimeoutError:
            await self.abort()
            if self.past_deadline:
                return DEADLINE_REACHED
            return f"TLS handshake timed out after {limit:g} s"
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            await self.abort()
            return f"TLS handshake failed: {str(exc) or type(exc).__name__}"
        # RFC 3207 §4.2: nothing received before the handshake counts afterwards.
        self.replies = ReplyReader(*self._caps)
        return None

    @property
    def tls_version(self) -> str | None:
        if self._writer is None:
            return None
        ssl_object = self._writer.get_extra_info("ssl_object")
        return None if ssl_object is None else ssl_object.version()

    async def close(self) -> None:
        """Close politely, bounded: never wait long for a peer that will not finish."""
        if self._writer is None:
            return
        self.closed = True
        writer, self._writer = self._writer, None
        writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError, OSError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def abort(self) -> None:
        if self._writer is not None:
            transport = self._writer.transport
            self._writer = None
            transport.abort()
        self.closed = True


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
