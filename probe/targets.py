"""Target syntax: NAME, NAME:PORT, IP, IP:PORT, [IPv6], [IPv6]:PORT; `smtps://` before any of
them connects with implicit TLS (RFC 8314), on port 465 unless one is given, with no MX lookup."""

from __future__ import annotations

import ipaddress
import re

from probe.record import field, record, replace

DEFAULT_PORT = 25
SMTPS = "smtps://"
SMTPS_PORT = 465  # RFC 8314 §7.3
_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$"
)


class TargetError(ValueError):
    """A target string that cannot be understood; the message says why."""


@record(frozen=True, slots=True)
class Target:
    """Where to connect. `text` is what the user typed; `host` a name or an IP address."""

    text: str
    host: str
    port: int
    is_address: bool  # an IP literal: connect directly, no lookup
    explicit_port: bool
    details: dict[str, object] = field(default_factory=dict, compare=False)
    implicit_tls: bool = False  # smtps://: TLS from the first byte (RFC 8314)

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(text: str, default_port: int = DEFAULT_PORT) -> Target:
    raw = text.strip()
    if raw[: len(SMTPS)].lower() == SMTPS:
        # A host to submit to, not a mail domain: the port is explicit (465 by default).
        inner = parse_target(raw[len(SMTPS) :], SMTPS_PORT)
        return replace(inner, text=text, explicit_port=True, implicit_tls=True)
    if not raw:
        raise TargetError("empty target")
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise TargetError(f"{text!r}: '[' without ']'")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest and not rest.startswith(":"):
            raise TargetError(f"{text!r}: expected ':PORT' after ']'")
        _check_ip(host, text)
        port, explicit = _port(rest[1:], text) if rest else (default_port, False)
        return Target(text, host, port, True, explicit)
    if raw.count(":") > 1:  # a bare IPv6 address
        _check_ip(raw, text)
        return Target(text, raw, default_port, True, False)
    host, _, port_text = raw.partition(":")
    port, explicit = _port(port_text, text) if _ else (default_port, False)
    try:
        ipaddress.IPv4Address(host)
        return Target(text, host, port, True, explicit)
    except ValueError:
        pass
    if not _NAME.match(host) or host.replace(".", "").isdigit():
        raise TargetError(f"{text!r}: not a host name, IP address or [IPv6] literal")
    return Target(text, host.rstrip(".").lower(), port, False, explicit)


def _check_ip(host: str, text: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise TargetError(f"{text!r}: {host!r} is not an IPv6 address") from None


def _port(port_text: str, text: str) -> tuple[int, bool]:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetError(f"{text!r}: port must be a number from 1 to 65535")
    return int(port_text), True
