"""DANE for SMTP (RFC 7672) with --dane.

First the matching itself (probe.dane, pure): usages DANE-EE(3) and DANE-TA(2), selectors 0 and
1, matching types 0, 1 and 2 against chains from a test authority; unusable records.

Then end to end through the CLI: TLSA records in a zone the test signs, validated by the real
dnsmasq (tests/dane_dns.py), for servers on loopback whose certificates the test makes:
- DNSSEC-validated records that match (DANE-EE, DANE-TA, through an MX host): pass;
- validated records that do not match, or a DANE-TA chain that does not name the host: fail;
- validated records and no STARTTLS: fail (RFC 7672 §2.2);
- records dnsmasq serves from its own configuration (no AD bit): information, never a fail,
  whether or not they match; a bogus signature (SERVFAIL): a warning; no records: information.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certs import Authority
from servers import Behaviour, ScriptedServer
from tls_servers import aiosmtpd_tls, server_context

from probe import dane
from probe.dane import DaneLookup, TlsaRecord

NOW = datetime.datetime.now(datetime.UTC)
pytest_plugins = ["pytester"]


def der_chain(path: Path) -> tuple[bytes, ...]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = x509.load_pem_x509_certificates(path.read_bytes())
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)


def spki(der: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def chain(authority: Authority) -> tuple[bytes, ...]:
    return der_chain(authority.issue("mx", "mx.example.test")[0])


def lookup(*records: TlsaRecord, **facts: Any) -> DaneLookup:
    settings: dict[str, Any] = {"tlsa_secure": True, "address_secure": True, **facts}
    return DaneLookup("mx.example.test", 25, "127.0.0.1:53", "example.test", records, **settings)


# ---- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
@pytest.mark.parametrize("usage", [2, 3])
def test_every_usage_selector_and_matching_type(chain, usage: int, selector: int, mtype: int):
    index = 0 if usage == 3 else 1  # DANE-EE: the server's own; DANE-TA: the CA above it
    data = chain[index] if selector == 0 else spki(chain[index])
    data = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}[mtype]
    info = dane.evaluate(lookup(TlsaRecord(usage, selector, mtype, data)), chain, NOW)
    assert (info.match, info.matched_certificate, info.status) == ("match", index, "secure")
    assert info.binding
    [finding] = dane.findings(info)
    assert finding.verdict == "pass" and "matches certificate" in finding.message
    # One byte off: no match, and the report says which record the server would match.
    wrong = TlsaRecord(usage, selector, mtype, bytes([data[0] ^ 1]) + data[1:])
    info = dane.evaluate(lookup(wrong), chain, NOW)
    assert info.match == "mismatch"
    assert info.leaf_record == f"3 1 1 {hashlib.sha256(spki(chain[0])).hexdigest()}"
    [finding] = dane.findings(info)
    assert finding.verdict == "fail" and finding.source == "RFC 7672 §2.2, §3"
    assert "MUST NOT deliver" in finding.message


def test_one_matching_record_among_others_is_enough(chain):
    good = TlsaRecord(3, 1, 1, hashlib.sha256(spki(chain[0])).digest())
    records = (TlsaRecord(3, 1, 1, b"\0" * 32), TlsaRecord(0, 0, 1, b"\0" * 32), good)
    info = dane.evaluate(lookup(*records), chain, NOW)
    assert info.match == "match" and info.matched == good


def test_dane_ta_does_not_cover_the_servers_own_certificate(chain):
    record = TlsaRecord(2, 1, 1, hashlib.sha256(spki(chain[0])).digest())
    info = dane.evaluate(lookup(record), chain, NOW)
    assert info.match == "mismatch" and "DANE-EE(3) is the usage for that" in info.reason


def test_dane_ta_checks_the_name_and_the_dates(authority: Authority):
    ca = TlsaRecord(2, 0, 1, hashlib.sha256(der_chain(authority.ca_path)[0]).digest())
    other = der_chain(authority.issue("other", "other.example.test")[0])
    info = dane.evaluate(lookup(ca), other, NOW)
    assert info.match == "mismatch"
    assert "does not name mx.example.test or example.test" in info.reason
    # The mail domain is a reference identifier too (RFC 7672 §3.2.2).
    domain = der_chain(authority.issue("domain", "example.test")[0])
    assert dane.evaluate(lookup(ca), domain, NOW).match == "match"
    expired = der_chain(authority.issue("old", "mx.example.test", days_before=90, days_after=-1)[0])
    info = dane.evaluate(lookup(ca), expired, NOW)
    assert info.match == "mismatch" and "certificate 0 expired" in info.reason
    # DANE-EE ignores names and dates (RFC 7672 §3.1.1).
    ee = TlsaRecord(3, 1, 1, hashlib.sha256(spki(expired[0])).digest())
    assert dane.evaluate(lookup(ee), expired, NOW).match == "match"


def test_dane_ta_needs_the_chain_to_verify(authority: Authority, tmp_path: Path):
    # A CA certificate the server sends, but which did not sign its certificate.
    stranger = Authority(tmp_path, "another CA")
    leaf = der_chain(authority.issue("leaf", "mx.example.test")[0])[0]
    chain = (leaf, der_chain(stranger.ca_path)[0])
    record = TlsaRecord(2, 0, 1, hashlib.sha256(chain[1]).digest())
    info = dane.evaluate(lookup(record), chain, NOW)
    assert info.match == "mismatch"
    assert "certificate 0 is not signed by certificate 1" in info.reason


def test_dane_ta_anchor_not_presented_is_checked_against_a_key_given_in_full(
    authority: Authority, tmp_path: Path
):
    """RFC 7672 §3.1.2: the server MUST send its trust anchor. When it does not, a record holding
    the anchor in full (Cert(0) or SPKI(1) with Full(0)) still lets the chain be checked: a match,
    with a warning; a digest cannot be checked: unverifiable, a failure."""
    leaf_only = der_chain(authority.issue("alone", "mx.example.test")[0])[:1]
    ca = der_chain(authority.ca_path)[0]
    for record in (TlsaRecord(2, 1, 0, spki(ca)), TlsaRecord(2, 0, 0, ca)):
        info = dane.evaluate(lookup(record), leaf_only, NOW)
        assert (info.match, info.matched_certificate) == ("match", None), info.reason
        assert "holds the trust anchor in full" in info.reason
        passed, warned = dane.findings(info)
        assert passed.verdict == "pass"
        assert (warned.verdict, warned.source) == ("warn", "RFC 7672 §3.1.2")
        assert "MUST include the TA certificate" in warned.message
    # Only a digest: nothing to check the chain against.
    digest = TlsaRecord(2, 1, 1, hashlib.sha256(spki(ca)).digest())
    info = dane.evaluate(lookup(digest), leaf_only, NOW)
    assert info.match == "mismatch" and "unverifiable: the trust anchor is not among" in info.reason
    [failed] = dane.findings(info)
    assert failed.verdict == "fail"
    # A key that signed nothing the server sent; a chain up to the key, for another host.
    stranger = der_chain(Authority(tmp_path, "another CA").ca_path)[0]
    info = dane.evaluate(lookup(TlsaRecord(2, 1, 0, spki(stranger))), leaf_only, NOW)
    assert info.match == "mismatch" and "no certificate the server sent is signed by" in info.reason
    other = der_chain(authority.issue("elsewhere", "other.example.test")[0])[:1]
    info = dane.evaluate(lookup(TlsaRecord(2, 1, 0, spki(ca))), other, NOW)
    assert info.match == "mismatch" and "does not name mx.example.test" in info.reason


def test_a_cname_expanded_base_domain_keeps_the_mx_name_as_a_reference_identifier(
    authority: Authority,
):
    """RFC 7672 §2.2.2, §3.2.2: records found at the CNAME expansion; a DANE-TA chain may name
    the expanded name, the MX host name or the mail domain."""
    ca = TlsaRecord(2, 0, 1, hashlib.sha256(der_chain(authority.ca_path)[0]).digest())
    settings: dict[str, Any] = {"tlsa_secure": True, "address_secure": True}
    expanded = DaneLookup("real.example.net", 25, "127.0.0.1:53", "example.test", (ca,),
                          original="mx.example.test", **settings)  # fmt: skip
    assert expanded.references == ["real.example.net", "mx.example.test", "example.test"]
    for name in ("real.example.net", "mx.example.test"):
        chain = der_chain(authority.issue(name, name)[0])
        info = dane.evaluate(expanded, chain, NOW)
        assert info.match == "match", info.reason
        assert "CNAME expansion of mx.example.test" in info.reason
    chain = der_chain(authority.issue("nowhere", "nowhere.example.net")[0])
    assert dane.evaluate(expanded, chain, NOW).match == "mismatch"


def test_only_unusable_records_still_require_tls():
    info = dane.evaluate(lookup(TlsaRecord(1, 1, 1, b"\0" * 32)), None, NOW)
    assert not info.binding and info.match == "no-usable-records"
    missing = dane.starttls_missing(info)
    assert missing.verdict == "fail" and "none of them usable, which still requires TLS" in (
        missing.message
    )


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (TlsaRecord(0, 0, 1, b"\0" * 32), "PKIX-TA(0) is unusable for SMTP"),
        (TlsaRecord(1, 1, 1, b"\0" * 32), "PKIX-EE(1) is unusable for SMTP"),
        (TlsaRecord(4, 1, 1, b"\0" * 32), "unknown usage 4"),
        (TlsaRecord(3, 2, 1, b"\0" * 32), "unknown selector 2"),
        (TlsaRecord(3, 1, 3, b"\0" * 32), "unknown matching type 3"),
        (TlsaRecord(3, 1, 1, b"\0" * 20), "a 20-byte digest where matching type 1 has 32"),
        (TlsaRecord(3, 1, 2, b"\0" * 32), "a 32-byte digest where matching type 2 has 64"),
    ],
)
def test_unusable_records_are_information(chain, record: TlsaRecord, why: str):
    info = dane.evaluate(lookup(record), chain, NOW)
    assert info.match == "no-usable-records" and why in info.reason
    assert not info.binding
    [finding] = dane.findings(info)
    assert finding.verdict == "info" and finding.source == "RFC 7672 §2.2, §3.1.3"
    assert "MUST be made via TLS, but authentication is not required" in finding.message


@pytest.mark.parametrize(
    "facts",
    [{"tlsa_secure": False}, {"address_secure": False}, {"mx_secure": False}],
    ids=["tlsa", "address", "mx"],
)
def test_records_without_the_ad_bit_are_information_even_when_they_do_not_match(chain, facts):
    info = dane.evaluate(lookup(TlsaRecord(3, 1, 1, b"\0" * 32), **facts), chain, NOW)
    assert info.status == "insecure" and info.match == "mismatch" and not info.binding
    [finding] = dane.findings(info)
    assert finding.verdict == "info" and "would not match" in finding.message
    assert "not DNSSEC-validated" in finding.message


def test_no_records_a_failed_lookup_and_an_address(chain):
    [none] = dane.findings(dane.evaluate(lookup(), chain, NOW))
    assert none.verdict == "info" and "no TLSA records at _25._tcp.mx.example.test" in none.message
    failed = DaneLookup("mx.example.test", 25, "127.0.0.1:53", failure="TLSA query: SERVFAIL")
    [error] = dane.findings(dane.evaluate(failed, chain, NOW))
    # Not "no records": the host is unreachable for a DANE sender, and nothing passes.
    assert error.verdict == "error" and error.source == "RFC 7672 §2.1.1, §2.2"
    assert 'not "no TLSA records"' in error.message and "unreachable" in error.message
    address = DaneLookup("192.0.2.1", 25, "", not_applicable="192.0.2.1 is an address")
    [info] = dane.findings(dane.evaluate(address, chain, NOW))
    assert info.verdict == "info" and "not checked" in info.message


# ---- end to end: signed zone, validating dnsmasq, TLS servers on loopback ------------------------

SCENARIO = """\
name: dane
steps:
  - ehlo: probe.test
  - starttls: {requires: STARTTLS}
  - ehlo: probe.test
  - quit
"""
ZONE = "dane.test"


def tlsa(usage: int, selector: int, mtype: int, der: bytes) -> str:
    data = der if selector == 0 else spki(der)
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    return f"{usage} {selector} {mtype} {data.hex()}"


@pytest.fixture(scope="module")
def world(authority: Authority) -> Iterator[dict[str, Any]]:
    """The servers, the signed zone naming them, and dnsmasq validating it."""
    from dane_dns import SignedZone, validating_dnsmasq

    good_cert = authority.issue("good", f"good.{ZONE}")
    ta_cert = authority.issue("ta", f"ta.{ZONE}")
    good_der, ta_der = der_chain(good_cert[0]), der_chain(ta_cert[0])
    # A server that sends its own certificate alone, without the CA (its DANE-TA anchor).
    alone_chain, alone_key = authority.issue("alone", f"alone.{ZONE}")
    alone_leaf = alone_chain.with_name("alone-leaf.pem")
    pem = alone_chain.read_text()
    alone_leaf.write_text(pem[: pem.index("-----END CERTIFICATE-----") + 26])
    with (
        aiosmtpd_tls(server_context(*good_cert)) as good,  # STARTTLS on every connection
        aiosmtpd_tls(server_context(*ta_cert)) as ta,
        aiosmtpd_tls(server_context(alone_leaf, alone_key)) as alone,
        ScriptedServer(Behaviour()) as plain,  # no STARTTLS
    ):
        g, t, p = int(good.rpartition(":")[2]), int(ta.rpartition(":")[2]), plain.port
        a = int(alone.rpartition(":")[2])
        ee = tlsa(3, 1, 1, good_der[0])
        records = f"""
good 300 IN A 127.0.0.1
_{g}._tcp.good 300 IN TLSA {ee}
ta 300 IN A 127.0.0.1
_{t}._tcp.ta 300 IN TLSA {tlsa(2, 0, 1, ta_der[1])}
taname 300 IN A 127.0.0.1
_{g}._tcp.taname 300 IN TLSA {tlsa(2, 0, 1, good_der[1])}
bad 300 IN A 127.0.0.1
_{g}._tcp.bad 300 IN TLSA 3 1 1 {"00" * 32}
pkix 300 IN A 127.0.0.1
_{g}._tcp.pkix 300 IN TLSA {tlsa(1, 1, 1, good_der[0])}
none 300 IN A 127.0.0.1
bogus 300 IN A 127.0.0.1
_{g}._tcp.bogus 300 IN TLSA {ee}
nostarttls 300 IN A 127.0.0.1
_{p}._tcp.nostarttls 300 IN TLSA {ee}
mail 300 IN MX 10 good.{ZONE}.
alias 300 IN CNAME good
alias2 300 IN CNAME none
_{g}._tcp.alias2 300 IN TLSA {ee}
pkixplain 300 IN A 127.0.0.1
_{p}._tcp.pkixplain 300 IN TLSA {tlsa(1, 1, 1, good_der[0])}
alone 300 IN A 127.0.0.1
_{a}._tcp.alone 300 IN TLSA 2 1 0 {spki(ta_der[1]).hex()}
"""
        zone = SignedZone(ZONE, records)
        zone.break_signature(f"_{g}._tcp.bogus", "TLSA")
        # Names dnsmasq serves itself: no AD bit, whatever the records say.
        insecure = ["--local=/plain.test/", "--host-record=good.plain.test,127.0.0.1",
                    "--host-record=bad.plain.test,127.0.0.1",
                    f"--dns-rr=_{g}._tcp.good.plain.test,52,{_rdata(ee)}",
                    f"--dns-rr=_{g}._tcp.bad.plain.test,52,030101{'00' * 32}"]  # fmt: skip
        with validating_dnsmasq(zone, insecure) as dns:
            yield {"dns": dns, "good": g, "ta": t, "plain": p, "alone": a, "good_der": good_der}


def _rdata(record: str) -> str:
    """dnsmasq's --dns-rr takes the record's wire form in hex: usage, selector, type, data."""
    usage, selector, mtype, data = record.split()
    return f"{int(usage):02x}{int(selector):02x}{int(mtype):02x}{data}"


def probe(cli, tmp_path: Path, world: dict[str, Any], target: str, *options: str) -> Any:
    path = tmp_path / "dane.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    args = ["run", str(path), target, "--dane", "--nameserver", world["dns"].nameserver]
    result = cli(*args, "--timeout", "5", "--format", "json", *options)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def dane_findings(session: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (f["verdict"], f["message"], f["source"])
        for step in session["steps"]
        for f in step["findings"]
        if "DANE" in f["message"] or "RFC 7672" in f["source"]
    ]


def test_validated_records_that_match_pass(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"good.{ZONE}:{world['good']}")
    assert result.code == 0, result.stdout
    session = result.json()["results"][0]
    info = session["dane"]
    assert info["name"] == f"_{world['good']}._tcp.good.{ZONE}"
    assert info["status"] == "secure" and info["binding"] is True
    assert info["dnssec"] == {"tlsa": True, "address": True, "mx": None}
    assert info["resolver"] == world["dns"].nameserver
    assert info["match"] == "match" and info["matched_certificate"] == 0
    assert info["matched"] == tlsa(3, 1, 1, world["good_der"][0])
    [(verdict, message, _)] = dane_findings(session)
    assert verdict == "pass" and "DNSSEC-validated by" in message


def test_dane_ta_matches_the_ca_the_server_sends(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"ta.{ZONE}:{world['ta']}")
    assert result.code == 0, result.stdout
    info = result.json()["results"][0]["dane"]
    assert (info["match"], info["matched_certificate"]) == ("match", 1)


def test_through_the_mx_records_the_mx_answer_is_validated_too(
    cli, tmp_path: Path, world: dict[str, Any]
):
    result = probe(cli, tmp_path, world, f"mail.{ZONE}", "--port", str(world["good"]))
    assert result.code == 0, result.stdout
    info = result.json()["results"][0]["dane"]
    assert info["dnssec"] == {"tlsa": True, "address": True, "mx": True}
    assert info["match"] == "match"


@pytest.mark.parametrize(
    ("host", "wanted"),
    [
        ("bad", "does not match the server's certificate"),
        ("taname", f"does not name taname.{ZONE}"),
    ],
)
def test_validated_records_that_do_not_match_fail(
    cli, tmp_path: Path, world: dict[str, Any], host: str, wanted: str
):
    result = probe(cli, tmp_path, world, f"{host}.{ZONE}:{world['good']}")
    assert result.code == 1, result.stdout
    session = result.json()["results"][0]
    assert session["verdict"] == "fail"
    assert session["dane"]["match"] == "mismatch" and wanted in session["dane"]["reason"]
    [(verdict, message, source)] = dane_findings(session)
    assert verdict == "fail" and source == "RFC 7672 §2.2, §3", message
    assert f"would match {tlsa(3, 1, 1, world['good_der'][0])}" in message


def test_validated_records_and_no_starttls_fail(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"nostarttls.{ZONE}:{world['plain']}")
    assert result.code == 1, result.stdout
    session = result.json()["results"][0]
    ehlo = session["steps"][1]
    assert ehlo["kind"] == "ehlo" and ehlo["verdict"] == "fail"
    assert any(
        f["source"] == "RFC 7672 §2.2" and "does not offer STARTTLS" in f["message"]
        for f in ehlo["findings"]
    ), ehlo
    assert session["dane"]["match"] == "not-checked"


@pytest.mark.parametrize("host", ["good", "bad"])
def test_records_without_dnssec_are_information_only(
    cli, tmp_path: Path, world: dict[str, Any], host: str
):
    result = probe(cli, tmp_path, world, f"{host}.plain.test:{world['good']}")
    assert result.code == 0, result.stdout  # a mismatch too: DANE does not apply
    session = result.json()["results"][0]
    info = session["dane"]
    assert info["status"] == "insecure" and info["dnssec"]["tlsa"] is False
    assert info["match"] == ("match" if host == "good" else "mismatch")
    [(verdict, message, _)] = dane_findings(session)
    assert verdict == "info" and "not DNSSEC-validated" in message


def test_a_bogus_signature_is_an_error_not_no_records(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"bogus.{ZONE}:{world['good']}")
    session = result.json()["results"][0]
    assert session["dane"]["status"] == "failed" and "SERVFAIL" in session["dane"]["reason"]
    [(verdict, message, source)] = dane_findings(session)
    assert (verdict, source) == ("error", "RFC 7672 §2.1.1, §2.2")
    assert "unreachable" in message
    assert session["verdict"] != "pass" and result.code != 0


@pytest.mark.parametrize(
    ("host", "found_at"), [("alias", "good"), ("alias2", "alias2")], ids=["expanded", "original"]
)
def test_a_cname_mx_host_looks_up_tlsa_at_the_expanded_name_first(
    cli, tmp_path: Path, world: dict[str, Any], host: str, found_at: str
):
    """RFC 7672 §2.2.2: alias -> good, whose TLSA records are used; alias2 -> none, which has
    none, so the records at alias2 itself are."""
    result = probe(cli, tmp_path, world, f"{host}.{ZONE}:{world['good']}")
    assert result.code == 0, result.stdout
    info = result.json()["results"][0]["dane"]
    assert info["name"] == f"_{world['good']}._tcp.{found_at}.{ZONE}"
    assert (info["status"], info["match"]) == ("secure", "match"), info
    if found_at != host:
        assert f"the CNAME expansion of {host}.{ZONE}" in info["reason"]


def test_only_pkix_records_and_no_starttls_fail(cli, tmp_path: Path, world: dict[str, Any]):
    """Validated records that are all unusable still require TLS (RFC 7672 §2.2)."""
    result = probe(cli, tmp_path, world, f"pkixplain.{ZONE}:{world['plain']}")
    assert result.code == 1, result.stdout
    session = result.json()["results"][0]
    ehlo = session["steps"][1]
    assert any(
        f["verdict"] == "fail" and "none of them usable, which still requires TLS" in f["message"]
        for f in ehlo["findings"]
    ), ehlo


def test_dane_ta_anchor_not_sent_but_given_in_full(cli, tmp_path: Path, world: dict[str, Any]):
    """The server sends its certificate alone; the record holds the CA's key in full (2 1 0):
    the chain is checked against it (a match), and the missing anchor is a warning."""
    result = probe(cli, tmp_path, world, f"alone.{ZONE}:{world['alone']}")
    assert result.code == 0, result.stdout
    session = result.json()["results"][0]
    assert (session["dane"]["match"], session["dane"]["matched_certificate"]) == ("match", None)
    found = sorted((v, s) for v, _, s in dane_findings(session))
    assert found == [("pass", "RFC 7672 §3"), ("warn", "RFC 7672 §3.1.2")], found


@pytest.mark.parametrize(
    ("host", "status", "match"),
    [("none", "none", "not-checked"), ("pkix", "secure", "no-usable-records")],
)
def test_no_records_or_no_usable_ones_are_information(
    cli, tmp_path: Path, world: dict[str, Any], host: str, status: str, match: str
):
    result = probe(cli, tmp_path, world, f"{host}.{ZONE}:{world['good']}", "-v")
    assert result.code == 0, result.stdout
    session = result.json()["results"][0]
    assert (session["dane"]["status"], session["dane"]["match"]) == (status, match)
    assert [v for v, _, _ in dane_findings(session)] == ["info"]


def test_an_address_target_has_no_tlsa_records(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"127.0.0.1:{world['good']}")
    info = result.json()["results"][0]["dane"]
    assert info["status"] == "not-applicable" and "127.0.0.1 is an address" in info["reason"]


def test_the_text_report_shows_the_dane_line(cli, tmp_path: Path, world: dict[str, Any]):
    result = probe(cli, tmp_path, world, f"bad.{ZONE}:{world['good']}", "--format", "text")
    assert result.code == 1
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("DANE:"))
    assert f"_{world['good']}._tcp.bad.{ZONE}: 1 TLSA record, DNSSEC-validated" in line
    assert "no match" in line and "would match 3 1 1 " in line
    result = probe(cli, tmp_path, world, f"good.{ZONE}:{world['good']}", "--format", "text", "-v")
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("DANE:"))
    assert "matches certificate 0" in line


def test_without_dane_nothing_is_looked_up(cli, tmp_path: Path, world: dict[str, Any]):
    path = tmp_path / "dane.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    mark = world["dns"].log_mark()
    result = cli("run", str(path), f"bad.{ZONE}:{world['good']}", "--nameserver",
                 world["dns"].nameserver, "--format", "json")  # fmt: skip
    assert result.code == 0 and result.json()["results"][0]["dane"] is None
    assert not [q for q in world["dns"].queries(mark) if q[0] == "TLSA"]


def test_the_pytest_plugin_checks_dane_with_smtp_dane(pytester: pytest.Pytester, world):
    pytester.makefile(".yaml", dane=SCENARIO)
    base = ["-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider"]
    target = f"bad.{ZONE}:{world['good']}"
    args = [*base, "--smtp-target", target, "--smtp-nameserver", world["dns"].nameserver]
    result = pytester.runpytest_subprocess(*args, "--smtp-dane")
    result.assert_outcomes(failed=1, passed=3)  # a test per step: the DANE finding fails one
    result.stdout.fnmatch_lines(["*DANE: no usable TLSA record at *bad.dane.test matches*"])
    result = pytester.runpytest_subprocess(*args)  # without --smtp-dane: not looked up
    result.assert_outcomes(passed=4)
