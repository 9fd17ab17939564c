"""The asyncio driver: many sessions at once on one event loop (fleet runs, domains with several
MX hosts, folders of scenarios).

Every wait is bounded by the action's `until`; the session deadline (plus a small margin) is a
backstop around the whole session. Cancellation (SIGINT/SIGTERM in the orchestrator) marks the
session interrupted and closes its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

from probe.results import ServerResult
from probe.session.actions import (
    DONE,
    TIMED_OUT,
    Action,
    Close,
    Connect,
    Connected,
    Data,
    Event,
    Failed,
    Receive,
    Send,
    StartTLS,
    TLSUp,
    hostport,
)
from probe.session.drivers.common import (
    CHUNK,
    client_context,
    connect_error,
    peer_chain,
    tls_error,
)
from probe.session.legacy_tls import legacy_context
from probe.session.machine import Session
from probe.session.state import DEADLINE_REACHED

BACKSTOP = 2.0  # seconds past the session deadline before the whole session is cut off
CLOSE_LIMIT = 1.0  # a polite close never waits longer than this for the peer


class AsyncConnection:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def perform(self, action: Action) -> Event:
        if isinstance(action, Connect):
            return await self._connect(action)
        if isinstance(action, Close):
            await self.close(action.abort)
            return DONE
        if self.reader is None or self.writer is None:
            return Failed("connection is closed")
        if isinstance(action, Send):
            return await self._send(self.writer, action)
        if isinstance(action, Receive):
            return await self._receive(self.reader, action)
        return await self._start_tls(self.writer, action)

    async def _connect(self, action: Connect) -> Event:
        try:
            async with asyncio.timeout(_remaining(action.until)):
                self.reader, self.writer = await asyncio.open_connection(
                    action.host, action.port, limit=CHUNK * 4
                )
        except TimeoutError:
            return TIMED_OUT
        except OSError as exc:
            return Failed(connect_error(exc))
        return Connected(hostport(action.host, action.port))

    async def _send(self, writer: asyncio.StreamWriter, action: Send) -> Event:
        try:
            writer.write(action.data)
            if not writer.transport.get_write_buffer_size() and not writer.transport.is_closing():
                await writer.drain()  # all written already: returns at once, no timer needed
                return DONE
            # asyncio.timeout, not wait_for: on 3.11 wait_for(..., 0) times out even when the
            # awaitable would finish at once.
            async with asyncio.timeout(_remaining(action.until)):
                await writer.drain()
        except TimeoutError:
            return TIMED_OUT
        except (ConnectionError, OSError) as exc:
            # Kept open: a reply the server sent before it closed may still be read.
            return Failed(f"send failed: {exc}")
        return DONE

    async def _receive(self, reader: asyncio.StreamReader, action: Receive) -> Event:
        if getattr(reader, "_buffer", None) and reader.exception() is None:
            return Data(await reader.read(CHUNK))  # bytes already here: no timer needed
        wait = _remaining(action.until)
        if wait == 0 and not await _poll(reader):
            return TIMED_OUT
        try:
            if wait == 0:
                return Data(await reader.read(CHUNK))  # something is there: returns at once
            async with asyncio.timeout(wait):
                return Data(await reader.read(CHUNK))
        except TimeoutError:
            return TIMED_OUT
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            # StreamReader raises a reset before it returns the bytes it still holds: a reply
            # sent just before the reset (a 552, then a close) must not be lost behind it.
            if held := _take_held(reader):
                return Data(held)
            return Failed(f"connection lost: {exc}")

    async def _start_tls(self, writer: asyncio.StreamWriter, action: StartTLS) -> Event:
        context = legacy_context() if action.legacy else client_context(action.verify)
        try:
            async with asyncio.timeout(_remaining(action.until)):
                await writer.start_tls(context, server_hostname=action.server_name)
        except TimeoutError:
            return TIMED_OUT
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            return Failed(tls_error(exc))
        tls = writer.get_extra_info("ssl_object")
        if tls is None:
            return TLSUp(None)
        cipher = tls.cipher()
        return TLSUp(tls.version(), cipher[0] if cipher else None, peer_chain(tls))

    async def close(self, abort: bool = False) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is None:
            return
        if abort:
            writer.transport.abort()
            return
        writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError, OSError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), CLOSE_LIMIT)


async def play(session: Session, target_text: str) -> ServerResult:
    connection = AsyncConnection()
    try:
        async with asyncio.timeout(session.options.session_deadline + BACKSTOP):
            action = session.next_action()
            while action is not None:
                session.feed(await connection.perform(action))
                action = session.next_action()
    except TimeoutError:
        session.interrupt(DEADLINE_REACHED)
    except asyncio.CancelledError:
        session.interrupt()
        await connection.close(abort=True)
        raise
    finally:
        await connection.close(abort=True)
    return session.result(target_text)


async def _poll(reader: asyncio.StreamReader) -> bool:
    """A zero-time poll: whether anything (bytes, the end of the stream, an error) has arrived,
    the kernel's socket buffer included, as the blocking driver's poll sees it.

    Bytes the kernel holds reach the reader in the loop iteration after this task yields (the
    loop runs a task that yielded before the reads its select found), so it yields twice; no
    timer is needed (a timer per poll, cancelled, was a tenth of a fleet run's CPU)."""
    for _ in range(2):
        if _arrived(reader):
            return True
        await asyncio.sleep(0)
    return _arrived(reader)


def _arrived(reader: asyncio.StreamReader) -> bool:
    """Bytes, the end of the stream or an error: something a read returns (or raises) at once."""
    if getattr(reader, "_buffer", None):
        return True
    return reader.at_eof() or reader.exception() is not None


def _take_held(reader: asyncio.StreamReader) -> bytes:
    """The bytes a StreamReader received before its connection failed (no public API gives
    them once an exception is set)."""
    buffer = getattr(reader, "_buffer", None)
    if not isinstance(buffer, bytearray) or not buffer:
        return b""
    held = bytes(buffer[:CHUNK])
    del buffer[:CHUNK]
    return held


def _remaining(until: float) -> float:
    return max(0.0, until - time.monotonic())
