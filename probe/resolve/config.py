"""How names are resolved in a run: nameservers, --resolve overrides, timeout, families, seed."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from probe.record import field, record

DNS_PORT = 53
DEFAULT_TIMEOUT = 5.0
BOTH_FAMILIES: frozenset[int] = frozenset({4, 6})


class ResolveConfigError(ValueError):
    """A resolver option that cannot be understood; the message says why."""


@record
class ResolverConfig:
    """Resolution settings shared by every target of a run.

    nameservers: (address, port) pairs to query instead of the system resolver; None means the
        system configuration (/etc/resolv.conf).
    overrides: NAME -> addresses (from `--resolve NAME:IP`, as in curl). The name's address
        records are taken from here instead of DNS; a target NAME that is overridden is connected
        to directly, with no MX lookup.
    timeout: the whole time allowed for one DNS lookup (dnspython's lifetime), in seconds.
    families: the address families used, {4}, {6} or {4, 6} (`-4` / `-6`).
    seed: makes the shuffling of equal MX preferences reproducible; None shuffles randomly.
    mx: False (`--no-mx`) takes every name target as a host, connected to directly.
    """

    nameservers: list[tuple[str, int]] | None = None
    overrides: dict[str, list[str]] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    families: frozenset[int] = BOTH_FAMILIES
    seed: int | None = None
    mx: bool = True

    def __post_init__(self) -> None:
        self.families = frozenset(self.families)
        if not self.families or not self.families <= BOTH_FAMILIES:
            raise ResolveConfigError(
                f"address families must be 4 and/or 6, not {set(self.families)}"
            )
        if not self.timeout > 0:
            raise ResolveConfigError(f"DNS timeout must be positive, not {self.timeout}")
        if self.nameservers is not None:
            if not self.nameservers:
                raise ResolveConfigError("an empty nameserver list; give None for the system's")
            for address, port in self.nameservers:
                _ip(address, "nameserver")
                if not 0 < port < 65536:
                    raise ResolveConfigError(f"nameserver port must be 1 to 65535, not {port}")
        overrides: dict[str, list[str]] = {}
        for name, addresses in self.overrides.items():
            key = normalize_name(name)
            overrides.setdefault(key, [])
            for address in addresses:
                text = str(_ip(address, f"--resolve {name}"))
                if text not in overrides[key]:
                    overrides[key].append(text)
        self.overrides = overrides

    def override_for(self, name: str) -> list[str] | None:
        """The --resolve addresses of `name`, or None when it is resolved through DNS."""
        return self.overrides.get(normalize_name(name))

    def allows(self, address: str) -> bool:
        return ipaddress.ip_address(address).version in self.families

    @property
    def family_flag(self) -> str | None:
        """'-4' or '-6' when one family is excluded, for messages."""
        if self.families == BOTH_FAMILIES:
            return None
        return "-4" if 4 in self.families else "-6"

    @classmethod
    def from_options(
        cls,
        nameservers: Iterable[str] = (),
        resolves: Iterable[str] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ipv4: bool = False,
        ipv6: bool = False,
        seed: int | None = None,
        mx: bool = True,
    ) -> ResolverConfig:
        """From command-line strings: `--nameserver IP[:PORT]`, `--resolve NAME:IP`, -4, -6."""
        servers = [parse_nameserver(text) for text in nameservers]
        overrides: dict[str, list[str]] = {}
        for text in resolves:
            name, addresses = parse_override(text)
            overrides.setdefault(name, []).extend(addresses)
        return cls(
            nameservers=servers or None,
            overrides=overrides,
            timeout=timeout,
            families=families_from_flags(ipv4, ipv6),
            seed=seed,
            mx=mx,
        )


def normalize_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def families_from_flags(ipv4: bool, ipv6: bool) -> frozenset[int]:
    """-4 alone: {4}; -6 alone: {6}; both or neither: {4, 6}."""
    if ipv4 and not ipv6:
        return frozenset({4})
    if ipv6 and not ipv4:
        return frozenset({6})
    return BOTH_FAMILIES


def parse_nameserver(text: str, default_port: int = DNS_PORT) -> tuple[str, int]:
    """`IP`, `IP:PORT`, `IPv6`, `[IPv6]` or `[IPv6]:PORT` -> (address, port)."""
    raw = text.strip()
    if raw.startswith("["):
        address, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ResolveConfigError(f"nameserver {text!r}: expected [IPv6] or [IPv6]:PORT")
        port_text = rest[1:] if rest else None
    elif raw.count(":") == 1:
        address, _, port_text = raw.partition(":")
    else:  # IPv4 without a port, or a bare IPv6 address
        address, port_text = raw, None
    _ip(address, "nameserver")
    if port_text is None:
        return str(ipaddress.ip_address(address)), default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ResolveConfigError(f"nameserver {text!r}: port must be a number from 1 to 65535")
    return str(ipaddress.ip_address(address)), int(port_text)


def parse_override(text: str) -> tuple[str, list[str]]:
    """`NAME:IP[,IP...]` (an IPv6 address bare or in brackets) -> (name, addresses)."""
    name, sep, rest = text.strip().partition(":")
    if not sep or not name or not rest:
        raise ResolveConfigError(f"--resolve {text!r}: expected NAME:IP")
    addresses = []
    for item in rest.split(","):
        address = item.strip()
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        addresses.append(str(_ip(address, f"--resolve {text!r}")))
    return normalize_name(name), addresses


def _ip(address: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        raise ResolveConfigError(f"{what}: {address!r} is not an IP address") from None
