"""The asyncio driver: many sessions at once on one event loop (fleet runs, domains with several
MX hosts, folders of scenarios).

Every wait is bounded by the action's `until`; the session deadline (plus a small margin) is a
backstop around the whole session. Cancellation (SIGINT/SIGTERM in the orchestrator) marks the
session interrupted and closes its connection.

The connection is an asyncio.Protocol (`_Wire`), not a StreamReader/StreamWriter pair: what the
server sends lands in one buffer the session takes from at its own pace, and an action that can
complete at once (bytes already here, a write the kernel took whole, a zero-time poll with
nothing in the kernel's socket buffer) completes without a suspension. A wait arms no timer of
its own: the connection keeps one timer handle, armed for the earliest `until` still pending
and moved only when a wait needs an earlier one, so a session of waits for replies arms about
one timer in all (a timer per read, armed and cancelled, was a large share of a fleet run's
CPU). What a reader sees is what StreamReader showed: bytes held before a reset come out before
the reset's error, a close arrives as b"", and reading stops while more than 2 x LIMIT bytes are
held (flow control), so a flooding server costs bounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
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
INFINITY = float("inf")
LIMIT = CHUNK * 4  # reading pauses past 2 x LIMIT bytes held, resumes at LIMIT (as StreamReader)


class _Wire(asyncio.Protocol):
    """One connection's received bytes and state, as the transport reports them; `_wake`s the
    session waiting on it (if any) at each change."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False  # the server closed its side (or the connection closed cleanly)
        self.lost = False  # the connection is gone (connection_lost was called)
        self.error: BaseException | None = None  # why it was lost, if by an error
        self.over_ssl = False
        # The socket, for a zero-time poll() of the kernel's buffer (see _kernel_holds): poll,
        # not select, whose cost grows with the descriptor's number (hundreds in a fleet).
        self.poller: select.poll | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None
        # The one timer: due at `timer_at` (a time.monotonic() value), wakes the waiter once
        # `until`, the pending wait's end, has passed.
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.until = 0.0

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(AttributeError, OSError, ValueError):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            self.poller = poller

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.reading_paused and len(self.buffer) > 2 * LIMIT:
            transport = self.transport
            if transport is not None:
                with contextlib.suppress(NotImplementedError):
                    transport.pause_reading()
                    self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        # Plain TCP: keep the transport open for writing, as StreamReaderProtocol does (a reply
        # may still be sent after the server's half-close); over TLS the transport closes.
        return not self.over_ssl

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is None:
            self.eof = True
        else:
            self.error = exc
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- for the driver ------------------------------------------------------------------------

    @property
    def arrived(self) -> bool:
        """Bytes, the end of the stream or an error: something a read returns at once."""
        return bool(self.buffer) or self.eof or self.error is not None

    def take(self) -> Event:
        """What a read returns now (call only when `arrived`): held bytes first (a reply sent
        just before a reset must not be lost behind it), then the error, then the end (b"")."""
        buffer = self.buffer
        if buffer:
            if len(buffer) <= CHUNK:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:CHUNK])
                del buffer[:CHUNK]
            if self.reading_paused and len(buffer) <= LIMIT:
                self.reading_paused = False
                if self.transport is not None:
                    self.transport.resume_reading()
            return Data(data)
        if self.error is not None:
            return Failed(f"connection lost: {self.error}")
        return Data(b"")

    async def wait(self, until: float) -> None:
        """Until something happens on the connection, or `until` (time.monotonic()) passes;
        the caller looks at what it was."""
        waiter = self.loop.create_future()
        self.waiter = waiter
        self.until = until
        if self.timer is None or self.timer_at > until:
            if self.timer is not None:
                self.timer.cancel()
            self._arm(until)
        try:
            await waiter
        finally:
            self.waiter = None

    def _arm(self, at: float) -> None:
        if at == INFINITY:
            return  # a wait bounded by its caller's timeout
        self.timer_at = at
        self.timer = self.loop.call_later(max(0.0, at - time.monotonic()), self._ring)

    def _ring(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # nobody waits: the next wait arms it again
        if time.monotonic() >= self.until:
            waiter.set_result(None)
        else:
            self._arm(self.until)

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def drain(self) -> None:
        """What StreamWriter.drain() does: raise the connection's error, or ConnectionResetError
        once it is lost; wait while the transport's write buffer is over its high-water mark."""
        if self.error is not None:
            raise self.error
        transport = self.transport
        if transport is not None and transport.is_closing():
            await asyncio.sleep(0)  # for connection_lost() to be called
        if self.lost:
            raise ConnectionResetError("Connection lost")
        while self.writing_paused and not self.lost:
            await self.wait(INFINITY)  # bounded by the caller's timeout
        if self.error is not None:
            raise self.error


class AsyncConnection:
    def __init__(self) -> None:
        self.wire: _Wire | None = None
        self._written: Send | None = None

    def now(self, action: Action) -> Event | None:
        """The event of an action that completes at once (bytes already here or nothing in the
        kernel for a zero-time poll, a write the kernel took whole); None when it must wait."""
        wire = self.wire
        if wire is None or wire.transport is None:
            return None
        if isinstance(action, Receive):
            if wire.arrived:
                return wire.take()
            if action.until <= time.monotonic() and not _kernel_holds(wire):
                return TIMED_OUT
            return None
        if isinstance(action, Send):
            transport = wire.transport
            transport.write(action.data)
            if not transport.get_write_buffer_size() and not transport.is_closing():
                return DONE  # all written already
            self._written = action  # `perform` waits for the bytes to go, without a second write
        return None

    async def perform(self, action: Action) -> Event:
        if isinstance(action, Connect):
            return await self._connect(action)
        if isinstance(action, Close):
            await self.close(action.abort)
            return DONE
        wire = self.wire
        if wire is None or wire.transport is None:
            return Failed("connection is closed")
        if isinstance(action, Send):
            if self._written is not action:
                wire.transport.write(action.data)
            self._written = None
            return await self._drain(wire, action)
        if isinstance(action, Receive):
            return await self._receive(wire, action)
        return await self._start_tls(wire, action)

    async def _connect(self, action: Connect) -> Event:
        loop = asyncio.get_running_loop()
        wire = _Wire(loop)
        try:
            async with asyncio.timeout(_remaining(action.until)):
                await loop.create_connection(lambda: wire, action.host, action.port)
        except TimeoutError:
            return TIMED_OUT
        except OSError as exc:
            return Failed(connect_error(exc))
        self.wire = wire
        return Connected(hostport(action.host, action.port))

    async def _drain(self, wire: _Wire, action: Send) -> Event:
        """The rest of a send whose bytes the kernel did not take at once."""
        transport = wire.transport
        assert transport is not None
        try:
            if not transport.get_write_buffer_size() and not transport.is_closing():
                await wire.drain()  # all written already: returns at once, no timer needed
                return DONE
            # asyncio.timeout, not wait_for: on 3.11 wait_for(..., 0) times out even when the
            # awaitable would finish at once.
            async with asyncio.timeout(_remaining(action.until)):
                await wire.drain()
        except TimeoutError:
            return TIMED_OUT
        except (ConnectionError, OSError) as exc:
            # Kept open: a reply the server sent before it closed may still be read.
            return Failed(f"send failed: {exc}")
        return DONE

    async def _receive(self, wire: _Wire, action: Receive) -> Event:
        until = action.until
        if not wire.arrived:
            if until <= time.monotonic():
                if not await _poll(wire):
                    return TIMED_OUT
            else:
                while not wire.arrived:
                    if time.monotonic() >= until:
                        return TIMED_OUT
                    await wire.wait(until)
        return wire.take()

    async def _start_tls(self, wire: _Wire, action: StartTLS) -> Event:
        context = legacy_context() if action.legacy else client_context(action.verify)
        transport = wire.transport
        assert transport is not None
        try:
            async with asyncio.timeout(_remaining(action.until)):
                await wire.drain()
                new = await wire.loop.start_tls(
                    transport, wire, context, server_hostname=action.server_name
                )
        except TimeoutError:
            return TIMED_OUT
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            return Failed(tls_error(exc))
        assert isinstance(new, asyncio.Transport)
        wire.transport, wire.over_ssl, wire.reading_paused = new, True, False
        tls = new.get_extra_info("ssl_object")
        if tls is None:
            return TLSUp(None)
        cipher = tls.cipher()
        return TLSUp(tls.version(), cipher[0] if cipher else None, peer_chain(tls))

    async def close(self, abort: bool = False) -> None:
        wire, self.wire = self.wire, None
        if wire is None or wire.transport is None:
            return
        if abort:
            wire.stop_timer()
            wire.transport.abort()
            return
        wire.transport.close()
        until = time.monotonic() + CLOSE_LIMIT
        try:
            while not wire.lost and time.monotonic() < until:
                await wire.wait(until)
        finally:
            wire.stop_timer()


async def play(session: Session, target_text: str) -> ServerResult:
    connection = AsyncConnection()
    try:
        async with asyncio.timeout(session.options.session_deadline + BACKSTOP):
            action = session.next_action()
            while action is not None:
                event = connection.now(action)
                if event is None:
                    event = await connection.perform(action)
                session.feed(event)
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


def _kernel_holds(wire: _Wire) -> bool:
    """Whether the kernel holds something for this connection that the loop has not read yet
    (bytes, the end of the stream, an error): a zero-time poll(), no timer. Asked only while
    nothing has `arrived`: the socket is then still open (asyncio closes it after it reports the
    connection lost), so its descriptor is still this connection's."""
    if wire.poller is None:
        return True  # cannot tell: let the loop look
    try:
        return bool(wire.poller.poll(0))  # POLLIN, or the end or an error (POLLHUP, POLLERR)
    except (OSError, ValueError, RuntimeError):
        return True


async def _poll(wire: _Wire) -> bool:
    """A zero-time poll: whether anything (bytes, the end of the stream, an error) has arrived,
    the kernel's socket buffer included, as the blocking driver's poll sees it.

    Nothing in the kernel: no. Otherwise the bytes reach the protocol in the loop iteration after
    this task yields (the loop runs a task that yielded before the reads its select found), so it
    yields twice; no timer is needed. (Over TLS, bytes in the kernel may be no application data
    yet: then nothing has arrived.)"""
    if wire.arrived:
        return True
    if not _kernel_holds(wire):
        return False
    for _ in range(2):
        await asyncio.sleep(0)
        if wire.arrived:
            return True
    return wire.arrived


def _remaining(until: float) -> float:
    return max(0.0, until - time.monotonic())
