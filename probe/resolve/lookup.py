"""DNS lookups through dnspython's asyncio resolver, and the per-run cache that makes each once.

Every failure becomes a `DnsError` with a code and one clear message, never an exception that
escapes: NXDOMAIN, no records of the type (NODATA), a server failure (SERVFAIL, REFUSED...),
no server reachable, a timeout.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from probe.resolve.config import ResolverConfig, normalize_name
from probe.resolve.records import DnsError, Failure, Lookup, MxRecord

__all__ = ["DnsCache", "DnsClient", "DnsError", "Failure", "Lookup", "MxRecord", "make_resolver"]

# The most one attempt at one nameserver may take before the resolver tries again.
_PER_TRY_TIMEOUT = 2.0


def make_resolver(config: ResolverConfig) -> dns.asyncresolver.Resolver:
    """dnspython's asyncio resolver: the given nameservers (each with its port) or the system's."""
    if config.nameservers is None:
        resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port) for address, port in config.nameservers
        ]
    resolver.lifetime = config.timeout
    resolver.timeout = min(config.timeout, _PER_TRY_TIMEOUT)
    resolver.cache = None
    return resolver


class DnsClient:
    """Sends lookups; no caching here (see DnsCache)."""

    def __init__(
        self, config: ResolverConfig, resolver: dns.asyncresolver.Resolver | None = None
    ) -> None:
        self.config = config
        self._setup_error: str | None = None
        self._resolver: dns.asyncresolver.Resolver | None = resolver
        if resolver is None:
            try:
                self._resolver = make_resolver(config)
            except dns.resolver.NoResolverConfiguration as exc:
                self._setup_error = f"no DNS resolver configured ({exc}); use --nameserver"
        self.sent: Counter[tuple[str, str]] = Counter()

    @property
    def servers_text(self) -> str:
        if self._resolver is None:
            return "no nameserver"
        servers = [
            _server_text(ns.answer_nameserver(), ns.answer_port())
            for ns in _nameservers(self._resolver)
        ]
        return ", ".join(servers) or "no nameserver"

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        name = normalize_name(name)
        if self._resolver is None:
            message = f"{name}: {self._setup_error}"
            return Lookup(name, rdtype, error=DnsError(Failure.CONFIG, name, rdtype, message))
        self.sent[(name, rdtype)] += 1
        try:
            answer = await self._resolver.resolve(
                dns.name.from_text(name), rdtype, search=False, raise_on_no_answer=True
            )
        except dns.resolver.NXDOMAIN:
            return self._failed(Failure.NXDOMAIN, name, rdtype, "no such domain (NXDOMAIN)")
        except dns.resolver.NoAnswer as exc:
            canonical = _canonical_of(exc, name)
            aliased = f" ({name} is an alias of {canonical})" if canonical else ""
            message = f"no {rdtype} records{aliased}"
            return self._failed(Failure.NODATA, name, rdtype, message, canonical)
        except dns.resolver.NoNameservers as exc:
            return self._no_nameservers(exc, name, rdtype)
        except dns.exception.Timeout:
            message = (
                f"DNS timeout: no answer to the {rdtype} lookup within {self.config.timeout:g} s "
                f"(asked {self.servers_text})"
            )
            return self._failed(Failure.TIMEOUT, name, rdtype, message)
        except dns.exception.DNSException as exc:
            return self._failed(Failure.ERROR, name, rdtype, f"DNS error: {exc}")
        canonical = _name_text(answer.canonical_name)
        rrset = answer.rrset
        assert rrset is not None  # raise_on_no_answer=True
        alias = canonical if canonical != name else None
        if rdtype == "MX":
            records = sorted(
                (MxRecord(r.preference, _name_text(r.exchange)) for r in rrset),
                key=lambda r: (r.preference, r.exchange),
            )
            return Lookup(name, rdtype, mx=tuple(records), canonical=alias)
        return Lookup(name, rdtype, addresses=tuple(r.address for r in rrset), canonical=alias)

    @staticmethod
    def _failed(
        code: Failure, name: str, rdtype: str, why: str, canonical: str | None = None
    ) -> Lookup:
        return Lookup(
            name, rdtype, canonical=canonical, error=DnsError(code, name, rdtype, f"{name}: {why}")
        )

    def _no_nameservers(self, exc: dns.resolver.NoNameservers, name: str, rdtype: str) -> Lookup:
        answered: list[str] = []
        unreachable: list[str] = []
        for error in exc.kwargs.get("errors") or []:
            server, _tcp, port, problem = error[0], error[1], error[2], error[3]
            where = _server_text(server, port)
            if isinstance(problem, str):  # an rcode: SERVFAIL, REFUSED, NOTIMP, ...
                answered.append(f"{problem} from {where}")
            elif isinstance(problem, OSError):
                unreachable.append(f"{where}: {problem.strerror or problem}")
            else:
                answered.append(f"{where}: {problem}")
        if answered:
            detail = "; ".join(dict.fromkeys(answered + unreachable))
            why = f"DNS server failure on the {rdtype} lookup ({detail})"
            return self._failed(Failure.SERVFAIL, name, rdtype, why)
        detail = "; ".join(dict.fromkeys(unreachable)) or self.servers_text
        why = f"no DNS server could be reached for the {rdtype} lookup ({detail})"
        return self._failed(Failure.UNREACHABLE, name, rdtype, why)


class DnsCache:
    """One per run: each (name, type) is looked up once; concurrent callers share the lookup."""

    def __init__(self, client: DnsClient) -> None:
        self.client = client
        self._entries: dict[tuple[str, str], asyncio.Future[Lookup]] = {}

    @classmethod
    def from_config(cls, config: ResolverConfig) -> DnsCache:
        return cls(DnsClient(config))

    @property
    def config(self) -> ResolverConfig:
        return self.client.config

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        key = (normalize_name(name), rdtype.upper())
        entry = self._entries.get(key)
        if entry is None:
            entry = asyncio.ensure_future(self.client.lookup(*key))
            self._entries[key] = entry
        if entry.done():
            return entry.result()
        return await asyncio.shield(entry)

    def __len__(self) -> int:
        return len(self._entries)


def _nameservers(resolver: dns.asyncresolver.Resolver) -> list[dns.nameserver.Nameserver]:
    return [
        ns if isinstance(ns, dns.nameserver.Nameserver) else dns.nameserver.Do53Nameserver(ns)
        for ns in resolver.nameservers
    ]


def _server_text(address: str, port: int) -> str:
    """'Do53:127.0.0.1@5353' (dnspython's name for a server) or '127.0.0.1' -> '127.0.0.1:5353'."""
    address = address.removeprefix("Do53:").partition("@")[0]
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _name_text(name: dns.name.Name) -> str:
    if name == dns.name.root:
        return "."
    return name.to_text(omit_final_dot=True).lower()


def _canonical_of(exc: dns.resolver.NoAnswer, name: str) -> str | None:
    response = exc.kwargs.get("response")
    if not isinstance(response, dns.message.QueryMessage):
        return None
    try:
        canonical = _name_text(response.resolve_chaining().canonical_name)
    except dns.exception.DNSException:
        return None
    return canonical if canonical != name else None
