"""MX resolution (RFC 5321 §5.1, RFC 7505) against a real DNS server: dnsmasq on loopback.

Every resolver here names its nameserver explicitly (the dnsmasq of tests/dns_server.py, or a
silent loopback port): the machine's own resolver is never asked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import dns_server as z
import pytest
from dns_server import DnsServer, dnsmasq_zone, silent_udp_port

from probe.resolve import (
    Candidate,
    DnsCache,
    DnsClient,
    Failure,
    Lookup,
    MxRecord,
    PlanKind,
    ResolveConfigError,
    ResolverConfig,
    TargetPlan,
    order_mx,
    parse_nameserver,
    parse_override,
    plan_details,
    plan_target,
    plan_targets,
    render_plan,
)
from probe.resolve.lookup import make_resolver
from probe.targets import parse_target


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dnsmasq_zone() as server:
        yield server


def config(server: DnsServer, **options: object) -> ResolverConfig:
    """A resolver config that asks the test server only."""
    options.setdefault("timeout", 3.0)
    return ResolverConfig(nameservers=[(server.address, server.port)], **options)  # type: ignore[arg-type]


def plan(text: str, cfg: ResolverConfig, cache: DnsCache | None = None) -> TargetPlan:
    return asyncio.run(plan_target(parse_target(text), cfg, cache))


def names(p: TargetPlan) -> list[str]:
    return [h.name for h in p.hosts]


def addresses(p: TargetPlan) -> list[str]:
    return [c.address for group in p.candidates() for c in group]


# --- MX order ---


def test_mx_hosts_are_sorted_by_preference(dns):
    p = plan(z.PREF, config(dns))
    assert p.kind is PlanKind.MX and p.domain == z.PREF and p.port == 25
    assert [(h.name, h.preference, h.addresses) for h in p.hosts] == [
        (name, pref, [address]) for name, (address, pref) in z.PREF_MX.items()
    ]
    (group,) = p.candidates()
    assert group == [
        Candidate("mx1.pref.test", 10, "127.0.0.11", 25),
        Candidate("mx2.pref.test", 20, "127.0.0.12", 25),
        Candidate("mx3.pref.test", 30, "127.0.0.13", 25),
    ]
    assert p.notes == [] and p.all_warnings() == []


def test_all_mx_gives_one_group_per_host(dns):
    p = plan(z.PREF, config(dns))
    groups = p.candidates(all_mx=True)
    assert [[c.host for c in g] for g in groups] == [[n] for n in z.PREF_MX]


def test_equal_preferences_are_shuffled_reproducibly_with_a_seed(dns):
    def order(seed: int) -> list[str]:
        return names(plan(z.EQUAL, config(dns, seed=seed)))

    first = order(1)
    assert first == order(1) == order(1)  # same seed, same order
    assert first[0] == z.EQUAL_FIRST[0] and first[-1] == z.EQUAL_LAST[0]
    assert sorted(first[1:-1]) == sorted(z.EQUAL_TIED)  # only the ties move
    orders = {tuple(order(seed)) for seed in range(8)}
    assert len(orders) > 1, "other seeds give other orders"
    assert all(o[0] == z.EQUAL_FIRST[0] and o[-1] == z.EQUAL_LAST[0] for o in orders)


def test_equal_preferences_without_a_seed_still_keep_preference_order(dns):
    p = plan(z.EQUAL, config(dns))
    assert [h.preference for h in p.hosts] == [5, 10, 10, 10, 10, 20]


def test_order_does_not_depend_on_the_order_the_server_sent():
    import random

    records = [MxRecord(10, n) for n in "abcd"] + [MxRecord(5, "first")]
    one = order_mx(records, random.Random(7))
    other = order_mx(list(reversed(records)), random.Random(7))
    assert one == other and one[0] == MxRecord(5, "first")


# --- Implicit MX, null MX ---


def test_no_mx_records_means_the_implicit_mx(dns):
    p = plan(z.IMPLICIT, config(dns))
    assert p.kind is PlanKind.IMPLICIT_MX
    assert [(h.name, h.preference, h.addresses) for h in p.hosts] == [
        (z.IMPLICIT, 0, [z.IMPLICIT_V4, z.IMPLICIT_V6])
    ]
    assert any("implicit MX" in n and "§5.1" in n for n in p.notes)
    assert addresses(p) == [z.IMPLICIT_V4, z.IMPLICIT_V6]


def test_no_mx_and_no_address_is_an_error(dns):
    p = plan(z.NOMAIL, config(dns))
    assert p.kind is PlanKind.ERROR and p.resolution is PlanKind.IMPLICIT_MX
    assert p.code == "no-address"
    assert "no MX records" in p.reason and "no A/AAAA records" in p.reason
    assert p.candidates() == [] and p.candidates(all_mx=True) == []


def test_null_mx_accepts_no_mail_and_nothing_is_probed(dns):
    p = plan(z.NULL_MX, config(dns))
    assert p.kind is PlanKind.NULL_MX and p.code == "null-mx"
    assert not p.accepts_mail
    assert "accepts no mail" in p.reason and "RFC 7505" in p.reason
    assert p.hosts == [] and p.candidates() == [] and p.candidates(all_mx=True) == []
    text = render_plan(p)
    assert "null MX" in text and "nothing would be probed" in text


def test_null_mx_with_other_mx_records_warns_and_uses_the_others(dns):
    p = plan(z.MIXED_NULL, config(dns))
    assert p.kind is PlanKind.MX
    assert names(p) == ["mx1.pref.test"]
    assert any("null MX" in w and "RFC 7505" in w for w in p.warnings)


# --- Unusable MX hosts ---


def test_mx_host_without_address_is_skipped_with_a_note(dns):
    p = plan(z.NOADDR, config(dns))
    assert p.kind is PlanKind.MX
    ghost, txtonly, good = p.hosts
    assert (ghost.name, ghost.usable, ghost.failure) == (z.NOADDR_MISSING, False, "nxdomain")
    assert ghost.notes == [f"skipped: {z.NOADDR_MISSING} does not exist (NXDOMAIN)"]
    assert (txtonly.name, txtonly.usable, txtonly.failure) == (
        z.NOADDR_TXTONLY,
        False,
        "no-address",
    )
    assert txtonly.notes == [f"skipped: {z.NOADDR_TXTONLY} has no A/AAAA records"]
    assert good.addresses == [z.NOADDR_GOOD[1]]
    assert addresses(p) == [z.NOADDR_GOOD[1]]
    assert [[c.host for c in g] for g in p.candidates(all_mx=True)] == [[z.NOADDR_GOOD[0]]]
    assert "(no address: skipped)" in render_plan(p)


def test_mx_records_none_usable_is_an_error(dns):
    p = plan(z.DEADMX, config(dns))
    assert p.kind is PlanKind.ERROR and p.resolution is PlanKind.MX
    assert p.code == "no-usable-mx"
    assert "all 2 MX hosts were skipped" in p.reason
    assert len(p.hosts) == 2 and p.candidates() == []


def test_mx_naming_an_ip_literal_warns_and_is_not_used(dns):
    p = plan(z.IPLIT, config(dns))
    literal, good = p.hosts
    assert literal.name == z.IPLIT_LITERAL and literal.failure == "ip-literal"
    assert not literal.usable and good.usable
    assert any("IP address" in w for w in literal.warnings)
    assert p.all_warnings() == literal.warnings
    assert addresses(p) == [z.IPLIT_GOOD[1]]


def test_mx_naming_a_cname_warns_and_follows_it(dns):
    p = plan(z.CNAME, config(dns))
    (host,) = p.hosts
    assert host.name == z.CNAME_ALIAS and host.addresses == [z.CNAME_REAL[1]]
    (warning,) = host.warnings
    assert "CNAME" in warning and z.CNAME_REAL[0] in warning and "RFC 2181" in warning


# --- DNS errors: one clear message each ---


def test_nxdomain_is_an_error_with_the_dns_reason(dns):
    p = plan(z.NXDOMAIN, config(dns))
    assert p.kind is PlanKind.ERROR and p.code == "nxdomain" and not p.temporary
    assert p.reason == (
        "nx.test: no such domain (NXDOMAIN)"
        "; if nx.test is a host (say, in /etc/hosts), give nx.test:PORT or --no-mx"
    )


def test_servfail_is_a_temporary_error_naming_the_server(dns):
    assert z.rcode_of(dns, z.SERVFAIL, "MX") == "SERVFAIL"  # the zone really does that
    p = plan(z.SERVFAIL, config(dns))
    assert p.kind is PlanKind.ERROR and p.code == "servfail" and p.temporary
    assert p.reason == (
        f"{z.SERVFAIL}: DNS server failure on the MX lookup (SERVFAIL from {dns.nameserver})"
    )


def test_timeout_is_a_temporary_error_within_the_lifetime():
    with silent_udp_port() as port:
        cfg = ResolverConfig(nameservers=[("127.0.0.1", port)], timeout=0.5)
        started = time.monotonic()
        p = plan(z.PREF, cfg)
        elapsed = time.monotonic() - started
    assert p.kind is PlanKind.ERROR and p.code == "timeout" and p.temporary
    assert p.reason == (
        f"{z.PREF}: DNS timeout: no answer to the MX lookup within 0.5 s (asked 127.0.0.1:{port})"
    )
    assert elapsed < 3


def test_failures_of_one_address_family_are_noted_not_fatal():
    class HalfBroken(DnsClient):
        async def lookup(self, name: str, rdtype: str) -> Lookup:
            if rdtype == "MX":
                return Lookup(name, rdtype, mx=(MxRecord(10, "mx.half.test"),))
            if rdtype == "A":
                return Lookup(name, rdtype, addresses=("127.0.0.90",))
            return self._failed(Failure.SERVFAIL, name, rdtype, "DNS server failure (test)")

    cfg = ResolverConfig(nameservers=[("127.0.0.1", 9)])
    p = plan("half.test", cfg, DnsCache(HalfBroken(cfg)))
    (host,) = p.hosts
    assert host.addresses == ["127.0.0.90"]
    assert host.notes == ["AAAA lookup failed: mx.half.test: DNS server failure (test)"]


# --- Targets that skip the MX lookup ---


def test_name_with_a_port_connects_directly_without_mx_lookup(dns):
    mark = dns.log_mark()
    p = plan(f"{z.HOST}:2525", config(dns))
    assert p.kind is PlanKind.DIRECT and p.domain == z.HOST
    assert p.candidates() == [[Candidate(z.HOST, None, z.HOST_V4, 2525)]]
    assert sorted(dns.queries(mark)) == [("A", z.HOST), ("AAAA", z.HOST)]
    # Without the port the same name is a mail domain: its MX is used.
    assert names(plan(z.HOST, config(dns))) == ["mx1.pref.test"]


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [("127.0.0.5", "127.0.0.5", 25), ("127.0.0.5:2525", "127.0.0.5", 2525),
     ("[::1]", "::1", 25), ("[::1]:2526", "::1", 2526), ("::1", "::1", 25)],
)  # fmt: skip
def test_ip_targets_connect_directly_with_no_dns_at_all(text, address, port):
    cfg = ResolverConfig(nameservers=[("127.0.0.1", 9)])  # never asked
    cache = DnsCache.from_config(cfg)
    p = plan(text, cfg, cache)
    assert p.kind is PlanKind.DIRECT and p.domain is None
    assert p.candidates() == [[Candidate(address, None, address, port)]]
    assert len(cache) == 0 and not cache.client.sent
    assert f"1. {p.candidates()[0][0].hostport}" in render_plan(p)


# --- --resolve overrides and address families ---


def test_resolve_override_replaces_an_mx_hosts_addresses(dns):
    mark = dns.log_mark()
    cfg = config(dns, overrides={"MX2.pref.test.": ["127.0.0.99"]})
    p = plan(z.PREF, cfg)
    assert [h.addresses for h in p.hosts] == [["127.0.0.11"], ["127.0.0.99"], ["127.0.0.13"]]
    assert p.hosts[1].notes == ["addresses from --resolve mx2.pref.test"]
    assert ("A", "mx2.pref.test") not in dns.queries(mark)
    assert ("A", "mx1.pref.test") in dns.queries(mark)


def test_resolve_override_of_the_target_connects_directly(dns):
    mark = dns.log_mark()
    cfg = ResolverConfig.from_options([dns.nameserver], [f"{z.PREF}:127.0.0.98,::1"])
    p = plan(z.PREF, cfg)
    assert p.kind is PlanKind.DIRECT and p.domain == z.PREF
    assert addresses(p) == ["127.0.0.98", "::1"]
    assert dns.queries(mark) == []  # no MX lookup, no address lookup


def test_family_filter(dns):
    assert addresses(plan(z.IMPLICIT, config(dns, families={4}))) == [z.IMPLICIT_V4]
    assert addresses(plan(z.IMPLICIT, config(dns, families={6}))) == [z.IMPLICIT_V6]
    assert addresses(plan(z.IMPLICIT, config(dns))) == [z.IMPLICIT_V4, z.IMPLICIT_V6]
    mark = dns.log_mark()
    v4 = plan(z.V6ONLY, config(dns, families={4}))
    assert ("AAAA", z.V6ONLY_HOST) not in dns.queries(mark)  # the excluded family is not asked
    assert v4.kind is PlanKind.ERROR and v4.code == "no-usable-mx"
    assert v4.hosts[0].notes == [
        f"skipped: {z.V6ONLY_HOST} has no A records (only A looked up: -4)"
    ]
    direct = plan("[::1]:2525", config(dns, families={4}))
    assert direct.kind is PlanKind.ERROR and direct.code == "family"
    assert direct.reason == "::1 is an IPv6 address, excluded by -4"


# --- The shared cache ---


def test_the_cache_resolves_each_name_once_for_concurrent_targets(dns):
    sent: Counter[tuple[str, str]] = Counter()

    class Counting(DnsClient):
        async def lookup(self, name: str, rdtype: str) -> Lookup:
            sent[(name, rdtype)] += 1
            await asyncio.sleep(0.05)  # let the other targets ask for the same names meanwhile
            return await super().lookup(name, rdtype)

    cfg = config(dns, seed=3)
    cache = DnsCache(Counting(cfg))
    texts = [z.SHARED_A, z.SHARED_B, z.PREF, z.SHARED_A, z.HOST, z.PREF]
    mark = dns.log_mark()
    plans = asyncio.run(plan_targets([parse_target(t) for t in texts], cfg, cache))
    assert [p.target.text for p in plans] == texts  # the targets' order, whatever finished first
    assert [names(p) for p in plans[:2]] == [[z.SHARED_HOST[0]]] * 2
    assert set(sent.values()) == {1}, sent
    assert sent[(z.SHARED_HOST[0], "A")] == 1 and sent[("mx1.pref.test", "A")] == 1
    # dnsmasq saw each query once, too.
    seen = Counter(dns.queries(mark))
    assert set(seen.values()) == {1}, seen
    assert {(name, rdtype) for rdtype, name in seen} == set(sent)


def test_a_cache_entry_is_shared_by_concurrent_callers():
    calls = 0

    class Slow(DnsClient):
        async def lookup(self, name: str, rdtype: str) -> Lookup:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return Lookup(name, rdtype, addresses=("127.0.0.1",))

    async def main() -> list[Lookup]:
        cache = DnsCache(Slow(ResolverConfig(nameservers=[("127.0.0.1", 9)])))
        return await asyncio.gather(*(cache.lookup("Same.Test.", "a") for _ in range(20)))

    results = asyncio.run(main())
    assert calls == 1 and len({id(r) for r in results}) == 1


# --- Rendering and report details ---


def test_render_plan_shows_hosts_preferences_addresses_and_what_would_be_probed(dns):
    p = plan(z.NOADDR, config(dns))
    text = render_plan(p)
    lines = text.splitlines()
    assert lines[0] == "noaddr.test: mail domain noaddr.test, 3 MX hosts"
    assert "  MX 10  ghost.noaddr.test  (no address: skipped)" in lines
    assert "  MX 20  mail.noaddr.test  127.0.0.41" in lines
    assert "    1. 127.0.0.41:25  mail.noaddr.test (MX 20)" in lines
    assert "does not exist (NXDOMAIN)" in text
    all_mx = render_plan(plan(z.PREF, config(dns)), all_mx=True)
    assert "would probe each MX host on its own (--all-mx):" in all_mx
    assert "    mx2.pref.test (MX 20): 127.0.0.12:25" in all_mx.splitlines()
    implicit = render_plan(plan(z.IMPLICIT, config(dns)))
    assert "2. [::1]:25" in implicit and "implicit MX 0" in implicit
    error = render_plan(plan(z.NXDOMAIN, config(dns)))
    assert error.splitlines() == [
        "nx.test: error: nx.test: no such domain (NXDOMAIN)"
        "; if nx.test is a host (say, in /etc/hosts), give nx.test:PORT or --no-mx",
        "  nothing would be probed",
    ]


def test_plan_details_for_the_report(dns):
    p = plan(z.IPLIT, config(dns))
    (candidate,) = p.candidates()[0]
    details = plan_details(p, candidate)
    assert details == {
        "target": z.IPLIT,
        "domain": z.IPLIT,
        "resolution": "mx",
        "outcome": "mx",
        "mx_host": z.IPLIT_GOOD[0],
        "preference": 20,
        "host": z.IPLIT_GOOD[0],
        "address": z.IPLIT_GOOD[1],
        "port": 25,
        "warnings": p.all_warnings(),
    }
    null = plan_details(plan(z.NULL_MX, config(dns)))
    assert null["outcome"] == "null-mx" and null["address"] is None and null["code"] == "null-mx"
    direct = plan_details(p2 := plan("127.0.0.5:2525", config(dns)), p2.candidates()[0][0])
    assert (
        direct["mx_host"] is None and direct["address"] == "127.0.0.5" and direct["domain"] is None
    )


# --- Configuration ---


def test_nameservers_are_given_with_their_ports():
    resolver = make_resolver(ResolverConfig(nameservers=[("127.0.0.1", 5353), ("::1", 53)]))
    assert [(ns.address, ns.port) for ns in resolver.nameservers] == [  # type: ignore[union-attr]
        ("127.0.0.1", 5353), ("::1", 53)
    ]  # fmt: skip
    assert resolver.lifetime == 5.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
     ("::1", ("::1", 53)), ("[::1]", ("::1", 53)), ("[::1]:5353", ("::1", 5353))],
)  # fmt: skip
def test_parse_nameserver(text, expected):
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["", "host.test", "127.0.0.1:0", "127.0.0.1:x", "[::1", "[::1]x"])
def test_parse_nameserver_rejects(text):
    with pytest.raises(ResolveConfigError):
        parse_nameserver(text)


def test_parse_override():
    assert parse_override("MX.Example.:127.0.0.5") == ("mx.example", ["127.0.0.5"])
    assert parse_override("mx.example:::1") == ("mx.example", ["::1"])
    assert parse_override("mx.example:[::1],127.0.0.6") == ("mx.example", ["::1", "127.0.0.6"])
    for bad in ("mx.example", "mx.example:", ":127.0.0.1", "mx.example:nope"):
        with pytest.raises(ResolveConfigError):
            parse_override(bad)


def test_from_options():
    cfg = ResolverConfig.from_options(
        ["127.0.0.1:5353"], ["a.test:127.0.0.5", "a.test:::1"], ipv6=True, seed=4, timeout=2
    )
    assert cfg.nameservers == [("127.0.0.1", 5353)]
    assert cfg.override_for("A.test.") == ["127.0.0.5", "::1"]
    assert cfg.families == {6} and cfg.family_flag == "-6" and cfg.seed == 4
    assert ResolverConfig.from_options().nameservers is None  # the system's: not used here
    assert ResolverConfig.from_options(ipv4=True, ipv6=True).families == {4, 6}
    with pytest.raises(ResolveConfigError):
        ResolverConfig(families={5})


def test_without_dnsmasq_the_tests_skip_or_fail_when_servers_are_required(monkeypatch):
    monkeypatch.setattr(z, "dnsmasq_binary", lambda: None)
    monkeypatch.delenv(z.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="dnsmasq is not installed"):
        z.require_dnsmasq()
    monkeypatch.setenv(z.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="SMTP_PROBE_REQUIRE_SERVERS=1"):
        z.require_dnsmasq()
