"""What the session machine asks a driver to do (actions), and what the driver reports (events).

The machine never touches a socket or a clock of its own choosing: a driver performs each action
and feeds back exactly one event. Times are `time.monotonic()` values from the machine's clock.
"""

from __future__ import annotations

from probe.record import record

# ---- actions -------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class Connect:
    host: str
    port: int
    until: float  # give up at this time -> Failed


@record(frozen=True, slots=True)
class Send:
    data: bytes
    until: float  # the bytes must be handed to the kernel by then -> Failed(timed_out=True)


@record(frozen=True, slots=True)
class Receive:
    """Wait for bytes until `until`; `until` in the past means: take only what has arrived
    already (a zero-time poll)."""

    until: float


@record(frozen=True, slots=True)
class StartTLS:
    server_name: str  # SNI, and the name a verified certificate must carry
    verify: bool
    until: float
    legacy: bool = False  # offer only TLS 1.0 and 1.1 (the RFC 8996 check)


@record(frozen=True, slots=True)
class Close:
    abort: bool = False  # reset at once (a reply past a cap), instead of closing politely


Action = Connect | Send | Receive | StartTLS | Close


# ---- events --------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class Connected:
    peer: str  # host:port as connected to


@record(frozen=True, slots=True)
class Done:
    """The action completed (Send, Close)."""


@record(frozen=True, slots=True)
class Data:
    data: bytes  # b"": the server closed its side (EOF)


@record(frozen=True, slots=True)
class TimedOut:
    """`until` passed with nothing (more) done."""


@record(frozen=True, slots=True)
class Failed:
    """The action failed: connect refused, send or receive error, TLS handshake failure."""

    reason: str
    closed: bool = True  # the connection is unusable from now on


@record(frozen=True, slots=True)
class TLSUp:
    version: str | None
    cipher: str | None = None
    chain: tuple[bytes, ...] = ()  # the certificates the server sent (DER), its own first


Event = Connected | Done | Data | TimedOut | Failed | TLSUp


def hostport(host: str, port: int) -> str:
    """HOST:PORT as reports show an address: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


DONE = Done()
TIMED_OUT = TimedOut()
