"""The blocking driver: one session over a plain socket, each wait bounded by the action's
`until`. No asyncio: a single probe pays for no event loop.

Signals: SIGINT raises KeyboardInterrupt out of any wait (and the caller turns SIGTERM into an
exception too); the session is then marked interrupted and the socket closed.
"""

from __future__ import annotations

import contextlib
import select
import socket
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

SPIN_LIMIT = 0.001  # seconds: waits up to this long poll in a loop instead of sleeping


def _open(host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket. An IP address is connected to directly: socket.create_connection
    would pass it through getaddrinfo, whose IDNA codec costs a cold run about 3 ms to import."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, port), timeout=timeout)


class BlockingConnection:
    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.tls = False  # the socket is an ssl.SSLSocket (ssl is imported only then)

    def perform(self, action: Action) -> Event:
        if isinstance(action, Connect):
            return self._connect(action)
        if isinstance(action, Close):
            self.close()
            return DONE
        if self.sock is None:
            return Failed("connection is closed")
        if isinstance(action, Send):
            return self._send(self.sock, action)
        if isinstance(action, Receive):
            return self._receive(self.sock, action)
        return self._start_tls(self.sock, action)

    def _connect(self, action: Connect) -> Event:
        wait = _remaining(action.until)
        if wait <= 0:
            return TIMED_OUT
        try:
            self.sock = _open(action.host, action.port, wait)
            self.tls = False
        except TimeoutError:
            return TIMED_OUT
        except OSError as exc:
            return Failed(connect_error(exc))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Connected(hostport(action.host, action.port))

    def _send(self, sock: socket.socket, action: Send) -> Event:
        wait = _remaining(action.until)
        if wait <= 0:
            return TIMED_OUT
        try:
            sock.settimeout(wait)
            sock.sendall(action.data)
        except TimeoutError:
            return TIMED_OUT
        except OSError as exc:
            # The socket stays open: a reply the server sent before it closed may still be read.
            return Failed(f"send failed: {exc}")
        return DONE

    def _receive(self, sock: socket.socket, action: Receive) -> Event:
        # A wait of 0 is a poll: take only what has arrived already. Not a socket timeout: that
        # rounds up to whole milliseconds, and a quiet window on loopback lasts a fraction of one.
        wait = max(0.0, _remaining(action.until))
        if self.tls:
            return _receive_tls(sock, action, wait)
        try:
            if not _readable(sock, action.until, wait):
                return TIMED_OUT
            sock.settimeout(0.0)
            return Data(sock.recv(CHUNK))
        except (TimeoutError, BlockingIOError):
            return TIMED_OUT
        except OSError as exc:
            return Failed(f"connection lost: {exc}")

    def _start_tls(self, sock: socket.socket, action: StartTLS) -> Event:
        wait = _remaining(action.until)
        if wait <= 0:
            return TIMED_OUT
        import ssl

        context = legacy_context() if action.legacy else client_context(action.verify)
        try:
            tls = context.wrap_socket(
                sock, server_hostname=action.server_name, do_handshake_on_connect=False
            )
            self.sock, self.tls = tls, True
            tls.settimeout(wait)
            tls.do_handshake()
        except TimeoutError:
            return TIMED_OUT
        except (ssl.SSLError, OSError) as exc:
            return Failed(tls_error(exc))
        cipher = tls.cipher()
        return TLSUp(tls.version(), cipher[0] if cipher else None, peer_chain(tls))

    def close(self) -> None:
        sock, self.sock, self.tls = self.sock, None, False
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _receive_tls(sock: socket.socket, action: Receive, wait: float) -> Event:
    """_receive on a TLS socket: what the TLS layer holds already counts as arrived."""
    import ssl

    assert isinstance(sock, ssl.SSLSocket)
    try:
        if not sock.pending() and not _readable(sock, action.until, wait):
            return TIMED_OUT
        # Readable now; a TLS socket may still lack a whole record, so keep a bound.
        sock.settimeout(max(wait, 0.001))
        return Data(sock.recv(CHUNK))
    except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
        return TIMED_OUT
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        return Data(b"")  # the server closed its side of the TLS session
    except OSError as exc:
        return Failed(f"connection lost: {exc}")


def play(session: Session, target_text: str) -> ServerResult:
    """Play the whole session; on an exception (a signal), keep what was judged and re-raise."""
    connection = BlockingConnection()
    try:
        action = session.next_action()
        while action is not None:
            session.feed(connection.perform(action))
            action = session.next_action()
    except BaseException:
        session.interrupt()
        raise
    finally:
        connection.close()
    return session.result(target_text)


def _readable(sock: socket.socket, until: float, wait: float) -> bool:
    """Whether `sock` has data by `until`. A short wait is spun out with zero-time polls: a
    sleeping select() wakes up 50-100 µs late (timer slack), more than a sub-millisecond quiet
    window on loopback is worth."""
    if wait > SPIN_LIMIT:
        return bool(select.select([sock], [], [], wait)[0])
    while True:
        if select.select([sock], [], [], 0)[0]:
            return True
        if time.monotonic() >= until:
            return False


def _remaining(until: float) -> float:
    return until - time.monotonic()
