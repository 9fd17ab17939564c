"""From a target to the addresses to connect to, the way a sending MTA finds them (RFC 5321 §5.1).

NAME: the MX records, most preferred first, equal preferences shuffled; no MX records -> the
name's own A/AAAA records (implicit MX); a null MX ("0 .", RFC 7505) -> the domain accepts no
mail. NAME:PORT and IP literals: direct, no MX lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from probe.record import field, record
from probe.resolve.config import ResolverConfig
from probe.resolve.records import DnsError, Failure, Lookup, MxRecord
from probe.targets import Target

if TYPE_CHECKING:  # dnspython and asyncio are imported only when a name is looked up
    import random

    from probe.resolve.lookup import DnsCache

DEFAULT_CONCURRENCY = 16
_RFC_MX = "RFC 5321 §5.1"


class PlanKind(StrEnum):
    DIRECT = "direct"  # an IP target, NAME:PORT or a --resolve'd name: no MX lookup
    MX = "mx"  # the domain's MX records
    IMPLICIT_MX = "implicit-mx"  # no MX records: the name's own addresses, preference 0
    NULL_MX = "null-mx"  # "MX 0 ." (RFC 7505): the domain accepts no mail
    ERROR = "error"  # nothing to connect to; `reason` says why


@record
class MxHost:
    """One mail exchanger (or the direct host): its addresses in the order they are tried."""

    name: str
    preference: int | None  # None for a direct target
    addresses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Why it has no address, as a code: a Failure value, "no-address", "ip-literal", "family".
    failure: str | None = None

    @property
    def usable(self) -> bool:
        """False: skipped (no address); `notes` say why."""
        return bool(self.addresses)


@record(frozen=True, slots=True)
class Candidate:
    """One address to connect to, and the MX host it belongs to."""

    host: str
    preference: int | None
    address: str
    port: int

    @property
    def hostport(self) -> str:
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else f"{self.address}:{self.port}"
        )


@record
class TargetPlan:
    target: Target
    kind: PlanKind
    domain: str | None  # the mail domain (the name of a NAME target); None for an IP target
    port: int
    hosts: list[MxHost] = field(default_factory=list)  # in the order they are tried
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None  # why nothing is probed (NULL_MX, ERROR)
    code: str | None = None  # machine-readable: "null-mx", a Failure value, "no-usable-mx", ...
    method: PlanKind | None = None  # for an ERROR plan: how the addresses were sought

    @property
    def resolution(self) -> PlanKind:
        """How the addresses were sought (DIRECT, MX, IMPLICIT_MX), or NULL_MX; even for errors."""
        return self.method or self.kind

    @property
    def accepts_mail(self) -> bool:
        return self.kind is not PlanKind.NULL_MX

    @property
    def temporary(self) -> bool:
        """An error that may go away (SERVFAIL, timeout, unreachable): queue and retry (§5.1)."""
        return self.code is not None and self.code in _TEMPORARY

    def candidates(
        self, all_mx: bool = False, all_addresses: bool = False
    ) -> list[list[Candidate]]:
        """Addresses to connect to, in order, in groups.

        Default: one group, every address of every usable host in preference order, to try
        until one accepts a connection (as a sending MTA does). all_mx: one group per MX host,
        each probed on its own. all_addresses: one group per address (every A and AAAA record
        of every usable host), each probed on its own. Null MX and errors: no groups.
        """
        if self.kind in (PlanKind.NULL_MX, PlanKind.ERROR):
            return []
        groups = [
            [Candidate(h.name, h.preference, a, self.port) for a in h.addresses]
            for h in self.hosts
            if h.usable
        ]
        if all_addresses:
            return [[c] for group in groups for c in group]
        if all_mx:
            return groups
        return [[c for group in groups for c in group]] if groups else []

    def all_warnings(self) -> list[str]:
        return [*self.warnings, *(w for h in self.hosts for w in h.warnings)]


_TEMPORARY = {f.value for f in Failure if f.temporary}


async def plan_target(
    target: Target, config: ResolverConfig, cache: DnsCache | None = None
) -> TargetPlan:
    """Resolve one target. Never raises for DNS trouble: that is an ERROR plan with a reason."""
    if target.is_address:
        return _direct_address(target, config)
    cache = cache if cache is not None else _new_cache(config)
    override = config.override_for(target.host)
    if override is not None:
        plan = TargetPlan(target, PlanKind.DIRECT, target.host, target.port)
        plan.notes.append(f"--resolve {target.host}: connecting directly, no MX lookup")
        return _with_direct_host(plan, await _host(target.host, None, config, cache))
    if target.explicit_port or _is_localhost(target.host) or not config.mx:
        plan = TargetPlan(target, PlanKind.DIRECT, target.host, target.port)
        why = (
            "a port was given"
            if target.explicit_port
            else "a localhost name (RFC 6761)"
            if _is_localhost(target.host)
            else "--no-mx"
        )
        plan.notes.append(f"{target.hostport}: {why}, so no MX lookup")
        if config.nameservers is None and not _is_localhost(target.host):
            return _with_direct_host(plan, await _system_host(target.host, config))
        return _with_direct_host(plan, await _host(target.host, None, config, cache))
    return await _plan_mx(target, config, cache)


async def _system_host(name: str, config: ResolverConfig) -> MxHost:
    """A host target's addresses as every other program gets them (/etc/hosts, then DNS)."""
    from probe.resolve.system import system_addresses

    host = MxHost(name, None)
    addresses, failure, reason = await system_addresses(name, config)
    if failure is not None:
        host.notes.append(f"skipped: {reason}")
        host.failure = failure
        return host
    host.addresses = addresses
    host.notes.append("addresses from the system resolver (getaddrinfo: /etc/hosts, then DNS)")
    return host


async def plan_targets(
    targets: Sequence[Target],
    config: ResolverConfig,
    cache: DnsCache | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[TargetPlan]:
    """Resolve many targets concurrently through one shared cache; plans in the targets' order."""
    import asyncio

    cache = cache if cache is not None else _new_cache(config)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(target: Target) -> TargetPlan:
        async with gate:
            return await plan_target(target, config, cache)

    return list(await asyncio.gather(*(one(t) for t in targets)))


def direct_plans(targets: Sequence[Target], config: ResolverConfig) -> list[TargetPlan] | None:
    """The plans of targets that are all IP addresses, without an event loop or a DNS library
    (what a single probe of `IP:PORT` pays for); None when some target needs a lookup."""
    if not all(target.is_address for target in targets):
        return None
    return [_direct_address(target, config) for target in targets]


def _new_cache(config: ResolverConfig) -> DnsCache:
    from probe.resolve.lookup import DnsCache

    return DnsCache.from_config(config)


def _direct_address(target: Target, config: ResolverConfig) -> TargetPlan:
    plan = TargetPlan(target, PlanKind.DIRECT, None, target.port)
    address = str(ipaddress.ip_address(target.host))
    if not config.allows(address):
        version = ipaddress.ip_address(address).version
        return _error(
            plan,
            "family",
            f"{address} is an IPv{version} address, excluded by {config.family_flag}",
        )
    plan.hosts.append(MxHost(address, None, [address]))
    return plan


def _with_direct_host(plan: TargetPlan, host: MxHost) -> TargetPlan:
    plan.hosts.append(host)
    if not host.usable:
        return _error(plan, host.failure or "no-address", _host_reason(host))
    return plan


async def _plan_mx(target: Target, config: ResolverConfig, cache: DnsCache) -> TargetPlan:
    domain = target.host
    plan = TargetPlan(target, PlanKind.MX, domain, target.port)
    found = await cache.lookup(domain, "MX")
    if found.canonical:
        plan.notes.append(
            f"{domain} is an alias (CNAME) of {found.canonical}; "
            f"its MX records are used ({_RFC_MX})"
        )
    if found.error is not None and found.error.code is Failure.NXDOMAIN:
        hint = f"; if {domain} is a host (say, in /etc/hosts), give {domain}:PORT or --no-mx"
        return _error(plan, found.error.code.value, found.error.message + hint)
    if found.error is not None and found.error.code is not Failure.NODATA:
        return _error(plan, found.error.code.value, found.error.message)
    if found.error is not None:  # no MX records: the implicit MX
        plan.kind = PlanKind.IMPLICIT_MX
        plan.notes.append(
            f"no MX records: {domain}'s own address records are used as an implicit MX "
            f"with preference 0 ({_RFC_MX})"
        )
        host = await _host(domain, 0, config, cache)
        plan.hosts.append(host)
        if not host.usable:
            why = f"{domain}: no MX records, and the implicit MX is unusable: {_host_reason(host)}"
            return _error(plan, host.failure or "no-address", f"{why} ({_RFC_MX})")
        return plan
    records = list(found.mx)
    nulls = [r for r in records if r.exchange == "."]
    if nulls and len(records) == 1:
        return _null_mx(plan, nulls[0])
    if nulls:
        plan.warnings.append(
            f"{domain} publishes a null MX (MX {nulls[0].preference} .) together with other "
            "MX records, which RFC 7505 forbids; the null MX is ignored"
        )
        records = [r for r in records if r.exchange != "."]
    import asyncio

    records = _dedupe(records, plan)
    ordered = order_mx(records, _rng(config.seed, domain))
    plan.hosts = list(
        await asyncio.gather(
            *(_host(r.exchange, r.preference, config, cache, mx=True) for r in ordered)
        )
    )
    if not any(h.usable for h in plan.hosts):
        which = (
            "its MX host was" if len(plan.hosts) == 1 else f"all {len(plan.hosts)} MX hosts were"
        )
        why = f"{domain}: MX records found, but {which} skipped: no usable address ({_RFC_MX})"
        return _error(plan, _first_temporary(plan.hosts) or "no-usable-mx", why)
    return plan


def order_mx(records: Sequence[MxRecord], rng: random.Random) -> list[MxRecord]:
    """Most preferred (lowest) first; equal preferences shuffled (§5.1), reproducible with rng.

    Each group is sorted by name before shuffling, so the order depends on the seed only, not
    on the order the server happened to send the records in.
    """
    out: list[MxRecord] = []
    for preference in sorted({r.preference for r in records}):
        group = sorted((r for r in records if r.preference == preference), key=lambda r: r.exchange)
        rng.shuffle(group)
        out.extend(group)
    return out


def _rng(seed: int | None, domain: str) -> random.Random:
    import random

    # Seeded per domain, so a domain's order does not depend on which other targets ran first.
    return random.Random(f"{seed}/{domain}") if seed is not None else random.Random()


def _dedupe(records: list[MxRecord], plan: TargetPlan) -> list[MxRecord]:
    seen: dict[str, MxRecord] = {}
    for mx in sorted(records, key=lambda r: r.preference):
        if mx.exchange in seen:
            plan.notes.append(
                f"MX {mx.preference} {mx.exchange} repeats a host already listed with "
                f"preference {seen[mx.exchange].preference}; it is tried once"
            )
            continue
        seen[mx.exchange] = mx
    return list(seen.values())


def _null_mx(plan: TargetPlan, record: MxRecord) -> TargetPlan:
    plan.kind = PlanKind.NULL_MX
    plan.code = "null-mx"
    plan.reason = (
        f"{plan.domain} accepts no mail: it publishes a null MX "
        f"(MX {record.preference} ., RFC 7505)"
    )
    if record.preference != 0:
        plan.warnings.append(
            f"the null MX has preference {record.preference}; RFC 7505 says it must be 0"
        )
    return plan


def _error(plan: TargetPlan, code: str, reason: str) -> TargetPlan:
    plan.method = plan.kind
    plan.kind = PlanKind.ERROR
    plan.code = code
    plan.reason = reason
    return plan


async def _host(
    name: str, preference: int | None, config: ResolverConfig, cache: DnsCache, mx: bool = False
) -> MxHost:
    """A host and its addresses: A records first, then AAAA, each as the server ordered them."""
    host = MxHost(name, preference)
    label = f"MX {preference} {name}" if mx else name
    if mx and _is_ip_literal(name):
        host.warnings.append(
            f"{label} names an IP address, not a host name; an MX must name a host with "
            f"address records ({_RFC_MX}); senders such as Postfix and Exim ignore it"
        )
        host.notes.append("skipped: an IP literal is not a host name, so it is not looked up")
        host.failure = "ip-literal"
        return host
    override = config.override_for(name)
    if override is None and _is_localhost(name):
        # RFC 6761 §6.3: localhost names are loopback, never asked of DNS (which would answer
        # NXDOMAIN, or worse, an address elsewhere).
        override = ["127.0.0.1", "::1"]
    if override is not None:
        host.addresses = [a for a in override if config.allows(a)]
        source = "--resolve" if config.override_for(name) is not None else "RFC 6761 (loopback)"
        host.notes.append(f"addresses from {source} {name}")
        if not host.addresses:
            host.notes.append(
                f"skipped: no --resolve address of the family {config.family_flag} allows"
            )
            host.failure = "family"
        return host
    import asyncio

    kinds = [t for t, family in (("A", 4), ("AAAA", 6)) if family in config.families]
    lookups: list[Lookup] = list(await asyncio.gather(*(cache.lookup(name, t) for t in kinds)))
    aliases = {lk.canonical for lk in lookups if lk.canonical}
    if mx and aliases:
        host.warnings.append(
            f"{label} is an alias (CNAME) of {', '.join(sorted(aliases))}; an MX must not name "
            f"an alias ({_RFC_MX}, RFC 2181 §10.3); the alias is followed"
        )
    for lookup in lookups:
        host.addresses.extend(lookup.addresses)
    errors = [lk.error for lk in lookups if lk.error is not None]
    if host.addresses:
        for error in errors:
            if error.code is not Failure.NODATA:
                host.notes.append(f"{error.rdtype} lookup failed: {error.message}")
        return host
    host.notes.append(f"skipped: {_no_address_reason(name, errors, config)}")
    host.failure = _failure_code(errors)
    return host


def _no_address_reason(name: str, errors: list[DnsError], config: ResolverConfig) -> str:
    kinds = "/".join(e.rdtype for e in errors)
    only = f" (only {kinds} looked up: {config.family_flag})" if config.family_flag else ""
    if any(e.code is Failure.NXDOMAIN for e in errors):
        return f"{name} does not exist (NXDOMAIN)"
    if all(e.code is Failure.NODATA for e in errors):
        return f"{name} has no {kinds} records{only}"
    return "; ".join(e.message for e in errors if e.code is not Failure.NODATA)


def _failure_code(errors: list[DnsError]) -> str:
    """Why a host has no address, as one code, the most telling failure first."""
    for failure in (Failure.TIMEOUT, Failure.SERVFAIL, Failure.UNREACHABLE, Failure.CONFIG):
        if any(e.code is failure for e in errors):
            return failure.value
    if any(e.code is Failure.NXDOMAIN for e in errors):
        return Failure.NXDOMAIN.value
    return "no-address"


def _first_temporary(hosts: list[MxHost]) -> str | None:
    """When every MX host failed and one failure was temporary, the run is a temporary error."""
    return next((h.failure for h in hosts if h.failure in _TEMPORARY), None)


def _host_reason(host: MxHost) -> str:
    notes = [n.removeprefix("skipped: ") for n in host.notes if n.startswith("skipped: ")]
    return "; ".join(notes) or f"{host.name} has no usable address"


def _is_localhost(name: str) -> bool:
    lowered = name.lower().rstrip(".")
    return lowered == "localhost" or lowered.endswith(".localhost")


def _is_ip_literal(name: str) -> bool:
    text = name.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
