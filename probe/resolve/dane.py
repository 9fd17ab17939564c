"""The DNS side of DANE (RFC 7672, with --dane): a host's TLSA records at `_PORT._tcp.HOST`, and
whether the resolver vouched for them, its address records and the domain's MX records with the
AD bit (probe.dane says why each counts, and what the AD bit is worth).

Every query asks with the AD and DO bits set (RFC 6840 §5.7, §5.8: a validating resolver then
says whether it validated the answer). Nothing here validates DNSSEC itself.
"""

from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rdatatype
import dns.resolver

from probe.dane import DaneLookup, TlsaRecord
from probe.resolve.config import ResolverConfig, normalize_name
from probe.resolve.lookup import DnsClient, make_resolver

MAX_ERROR = 200  # characters of a DNS library's message kept


class _Failed(Exception):
    """A lookup that failed (not NXDOMAIN or NODATA): the message says why."""


def dnssec_resolver(config: ResolverConfig) -> dns.asyncresolver.Resolver:
    """The run's resolver, asking for the AD bit (and DNSSEC records, DO)."""
    resolver = make_resolver(config)
    resolver.flags = dns.flags.RD | dns.flags.AD
    resolver.use_edns(0, dns.flags.DO, 1232)
    return resolver


async def lookup_dane(
    host: str,
    port: int,
    config: ResolverConfig,
    domain: str | None = None,
    family: int = 4,
    resolver: dns.asyncresolver.Resolver | None = None,
) -> DaneLookup:
    """The TLSA records of `host` for `port`, with the AD bit of the TLSA answer, of the host's
    address records (A for `family` 4, AAAA for 6) and, when `domain` is given (the host was
    reached through its MX records), of the domain's MX answer."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return DaneLookup(
            host, port, "", not_applicable=f"{host} is an address: TLSA records need a host name"
        )
    try:
        resolver = resolver or dnssec_resolver(config)
    except dns.resolver.NoResolverConfiguration as exc:
        why = f"no DNS resolver configured ({exc})"
        return DaneLookup(host, port, "no nameserver", failure=why)
    who = DnsClient(config, resolver).servers_text
    host = normalize_name(host)
    rdtype = "AAAA" if family == 6 else "A"
    # RFC 7672 §2.2.2: when the host's address records come through a secure CNAME chain, the
    # TLSA records are looked up at the expanded name first, then at the host name itself.
    expanded, address_secure = await _expanded(resolver, host, rdtype)
    bases = [expanded, host] if expanded is not None else [host]
    tlsa_secure = False
    records: tuple[TlsaRecord, ...] = ()
    for base in bases:
        original = host if base != host else None
        try:
            answer, tlsa_secure = await _ask(resolver, f"_{port}._tcp.{base}", "TLSA")
        except _Failed as exc:
            return DaneLookup(base, port, who, domain, failure=str(exc), original=original)
        records = tuple(
            TlsaRecord(r.usage, r.selector, r.mtype, bytes(r.cert)) for r in (answer or ())
        )
        if records:
            break
    if not records:
        return DaneLookup(host, port, who, domain, tlsa_secure=tlsa_secure)
    mx_secure = await _secure(resolver, domain, "MX") if domain else None
    return DaneLookup(
        base,
        port,
        who,
        domain,
        records,
        tlsa_secure=tlsa_secure,
        address_secure=address_secure,
        mx_secure=mx_secure,
        original=original,
    )


async def _expanded(
    resolver: dns.asyncresolver.Resolver, host: str, rdtype: str
) -> tuple[str | None, bool]:
    """The host's CNAME-expanded name when its address answer is a secure CNAME chain (else
    None), and whether that answer came with the AD bit."""
    try:
        answer, secure = await _ask(resolver, host, rdtype)
    except _Failed:
        return None, False
    if answer is None:
        return None, secure
    canonical = normalize_name(answer.canonical_name.to_text())
    return (canonical if secure and canonical != host else None), secure


async def _secure(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> bool:
    """Whether the answer came with the AD bit (a failed lookup vouches for nothing)."""
    try:
        return (await _ask(resolver, name, rdtype))[1]
    except _Failed:
        return False


async def _ask(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: str
) -> tuple[dns.resolver.Answer | None, bool]:
    """The answer (None: no such name) and whether it carried the AD bit; _Failed otherwise."""
    qname = dns.name.from_text(name)
    try:
        answer = await resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        responses = list(exc.responses().values())
        secure = bool(responses) and all(r.flags & dns.flags.AD for r in responses)
        return None, secure
    except dns.resolver.NoNameservers as exc:
        raise _Failed(_no_nameservers(exc, rdtype)) from None
    except dns.exception.Timeout:
        raise _Failed(f"no answer to the {rdtype} query for {name} in time") from None
    except dns.exception.DNSException as exc:
        raise _Failed(_cut(f"DNS error on the {rdtype} query for {name}: {exc}")) from None
    return answer, bool(answer.response.flags & dns.flags.AD)


def _no_nameservers(exc: dns.resolver.NoNameservers, rdtype: str) -> str:
    """'SERVFAIL from 127.0.0.1:53' for each server that answered so, or why none could."""
    found = []
    for error in exc.kwargs.get("errors") or []:
        server, port, problem = error[0], error[2], error[3]
        where = str(server).removeprefix("Do53:").partition("@")[0] + f":{port}"
        if isinstance(problem, str):  # an rcode
            found.append(f"{problem} from {where}")
        elif isinstance(problem, OSError):
            found.append(f"{where}: {problem.strerror or problem}")
        else:
            found.append(f"{where}: {problem}")
    detail = "; ".join(dict.fromkeys(found)) or "no server answered"
    return _cut(f"{rdtype} query: {detail}")


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


__all__ = ["dnssec_resolver", "lookup_dane"]
