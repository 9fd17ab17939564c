"""A host's addresses from the system resolver (getaddrinfo: /etc/hosts, nsswitch, then DNS).

Host targets (`NAME:PORT`, `--no-mx`) are looked up the way every other program on the machine
looks a host up, so a name in /etc/hosts works; mail domains keep RFC 5321 §5.1's DNS order.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from probe.resolve.config import ResolverConfig

_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
# getaddrinfo errors that mean "no such host", as against "could not ask".
_ABSENT = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


async def system_addresses(name: str, config: ResolverConfig) -> tuple[list[str], str | None, str]:
    """(addresses in the resolver's order, the failure code or None, a reason for messages)."""
    family = _FAMILIES[next(iter(config.families))] if len(config.families) == 1 else 0
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM), config.timeout
        )
    except TimeoutError:
        return (
            [],
            "timeout",
            f"the system resolver gave no answer for {name} in {config.timeout:g} s",
        )
    except socket.gaierror as exc:
        code = "nxdomain" if exc.errno in _ABSENT else "servfail"
        return [], code, f"the system resolver does not know {name} ({exc.strerror})"
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # An IPv6 scope (fe80::1%eth0) is not part of the address.
        address = str(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in addresses and config.allows(address):
            addresses.append(address)
    if not addresses:
        return (
            [],
            "family",
            f"the system resolver gives {name} no address {config.family_flag} allows",
        )
    return addresses, None, ""
