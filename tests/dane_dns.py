"""DNSSEC for the DANE tests: a zone signed by the test, served by a small authoritative server,
behind the real dnsmasq (tests/dns_server.py) validating it.

    zone = SignedZone("dane.test", "good 300 IN A 127.0.0.1\n_2525._tcp.good 300 IN TLSA 3 1 1 ...")
    with validating_dnsmasq(zone, ["--local=/plain.test/", "--dns-rr=..."]) as dns:
        ...  # dns.nameserver: "127.0.0.1:PORT", for --nameserver

dnsmasq forwards the zone's names to the authoritative server on loopback and validates the
answers from a trust anchor for the zone (the DS of the test's own key), so it sets the AD bit
exactly when validation succeeded, and answers SERVFAIL when it failed ("bogus"): the probe sees
what a validating resolver on the loopback interface gives a sending MTA. Names dnsmasq serves
from its own configuration (--local, --dns-rr) come without the AD bit: the "insecure" case.

Nothing leaves the machine: both servers listen on 127.0.0.1 only, dnsmasq has no other upstream
(it also reads no configuration file, resolv.conf or hosts file).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.RRSIG import RRSIG
from dns_server import ROOT_TRUST_ANCHOR, DnsServer, _start, _stop, require_dnsmasq


def _signer(key: Any, dnskey: Any, origin: dns.name.Name, inception: int, expiration: int) -> Any:
    """An RRset signer for dns.dnssec.sign_zone: ECDSA P-256 with SHA-256 (RFC 6605) made here
    with cryptography (dnspython 2.9 will sign only with cryptography >= 50; the signatures made
    this way validate in dnsmasq all the same)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def sign(txn: Any, rrset: dns.rrset.RRset) -> None:
        rrsig = RRSIG(
            dns.rdataclass.IN,
            dns.rdatatype.RRSIG,
            type_covered=rrset.rdtype,
            algorithm=dns.dnssec.Algorithm.ECDSAP256SHA256,
            labels=len(rrset.name) - 1,
            original_ttl=rrset.ttl,
            expiration=expiration,
            inception=inception,
            key_tag=dns.dnssec.key_id(dnskey),
            signer=origin,
            signature=b"",
        )
        data = dns.dnssec._make_rrsig_signature_data(rrset, rrsig)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        txn.add(rrset.name, rrset.ttl, rrsig.replace(signature=r.to_bytes(32) + s.to_bytes(32)))

    return sign


class SignedZone:
    """A zone signed with one ECDSA P-256 key (flags 257: it signs everything), NSEC for denial."""

    def __init__(self, origin: str, records: str, lifetime: int = 2 * 86400) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.origin = dns.name.from_text(origin)
        head = (
            f"@ 300 IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300\n"
            f"@ 300 IN NS ns.{origin}.\nns 300 IN A 127.0.0.1\n"
        )
        self.zone = dns.zone.from_text(head + records, origin=self.origin, relativize=False)
        key = ec.generate_private_key(ec.SECP256R1())
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        dnskey = DNSKEY(
            dns.rdataclass.IN,
            dns.rdatatype.DNSKEY,
            flags=257,
            protocol=3,
            algorithm=dns.dnssec.Algorithm.ECDSAP256SHA256,
            key=point[1:],  # RFC 6605 §4: x and y, without the 0x04 prefix
        )
        now = int(time.time())
        signer = _signer(key, dnskey, self.origin, now - 3600, now + lifetime)
        with self.zone.writer() as txn:
            dns.dnssec.sign_zone(self.zone, txn=txn, keys=[(key, dnskey)], rrset_signer=signer)
        self.ds = dns.dnssec.make_ds(self.origin, dnskey, "SHA256")

    @property
    def trust_anchor(self) -> str:
        """dnsmasq's --trust-anchor for the zone (its DS)."""
        ds = self.ds
        origin = self.origin.to_text(omit_final_dot=True)
        fields = (origin, ds.key_tag, ds.algorithm, ds.digest_type, ds.digest.hex())
        return "--trust-anchor=" + ",".join(str(f) for f in fields)

    def break_signature(self, name: str, rdtype: str) -> None:
        """Spoil the RRSIG over one RRset: a validator then finds it bogus."""
        owner = dns.name.from_text(name, self.origin)
        covered = dns.rdatatype.from_text(rdtype)
        with self.zone.writer() as txn:
            sigs = txn.get(owner, dns.rdatatype.RRSIG, covered)
            assert sigs, f"no RRSIG over {name} {rdtype}"
            spoilt = [sig.replace(signature=bytes(b ^ 0x55 for b in sig.signature)) for sig in sigs]
            txn.replace(owner, dns.rrset.from_rdata_list(owner, sigs.ttl, spoilt))

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """An authoritative answer, with RRSIGs (and NSEC proofs) when the query has DO."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        dnssec = bool(query.ednsflags & dns.flags.DO)
        if not qname.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response

        def add(section: list[dns.rrset.RRset], owner: dns.name.Name, rdtype: int) -> bool:
            rdataset = self.zone.get_rdataset(owner, rdtype)
            if rdataset is None:
                return False
            section.append(dns.rrset.from_rdata_list(owner, rdataset.ttl, list(rdataset)))
            if dnssec:
                sig = self.zone.get_rdataset(owner, dns.rdatatype.RRSIG, rdtype)
                if sig is not None:
                    section.append(dns.rrset.from_rdata_list(owner, sig.ttl, list(sig)))
            return True

        # A CNAME is followed inside the zone (RFC 1034 §3.6.2): the alias, then the target's
        # records, each with its signature.
        for _ in range(8):
            if qtype == dns.rdatatype.CNAME or not add(response.answer, qname, dns.rdatatype.CNAME):
                break
            target = self.zone.get_rdataset(qname, dns.rdatatype.CNAME)[0].target
            if not target.is_subdomain(self.origin):
                return response
            qname = target
        if add(response.answer, qname, qtype):
            return response
        add(response.authority, self.origin, dns.rdatatype.SOA)
        names = sorted(self.zone.nodes)
        if qname in self.zone.nodes:  # the name exists without that type: its NSEC says so
            if dnssec:
                add(response.authority, qname, dns.rdatatype.NSEC)
            return response
        empty_non_terminal = any(n.is_subdomain(qname) for n in names)
        if not empty_non_terminal:
            response.set_rcode(dns.rcode.NXDOMAIN)
        if dnssec:  # the NSEC covering the name, and the one covering the wildcard
            for wanted in (qname, dns.name.from_text("*", self.origin)):
                before = max((n for n in names if n < wanted), default=names[-1])
                if not any(rrset.name == before for rrset in response.authority):
                    add(response.authority, before, dns.rdatatype.NSEC)
        return response


@contextmanager
def serve(zone: SignedZone) -> Iterator[int]:
    """The zone's authoritative server on a free loopback UDP port; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            try:
                response = zone.answer(dns.message.from_wire(data))
            except Exception:  # a malformed query: no answer, as a careful server does
                continue
            sock.sendto(response.to_wire(max_size=65535), peer)

    thread = threading.Thread(target=loop, name="dane-authority", daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextmanager
def validating_dnsmasq(zone: SignedZone, options: list[str] = ()) -> Iterator[DnsServer]:  # type: ignore[assignment]
    """dnsmasq validating `zone` (forwarded to its authoritative server), with `options` for
    names it serves itself (no AD bit for those)."""
    binary = require_dnsmasq()
    origin = zone.origin.to_text(omit_final_dot=True)
    with serve(zone) as port, tempfile.TemporaryDirectory(prefix="smtp-probe-dane-") as tmp:
        log_path = Path(tmp) / "dnsmasq.log"
        arguments = [
            "--log-queries", "--dnssec", f"--trust-anchor={ROOT_TRUST_ANCHOR}", zone.trust_anchor,
            f"--server=/{origin}/127.0.0.1#{port}", *options,
        ]  # fmt: skip
        server, dns_port = _start(binary, arguments, log_path)
        try:
            yield DnsServer("127.0.0.1", dns_port, log_path)
        finally:
            _stop(server)
