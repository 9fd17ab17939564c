"""A real DNS server for the tests: dnsmasq on a free loopback port, serving the test zone below.

`with dnsmasq_zone() as dns:` starts it (skipping, or failing when SMTP_PROBE_REQUIRE_SERVERS=1,
if dnsmasq is not installed) and yields a `DnsServer` with `.address`, `.port`, `.nameserver`
("127.0.0.1:PORT", for --nameserver) and the queries it logged.

Nothing ever leaves the machine: dnsmasq reads no configuration file, no /etc/resolv.conf and no
/etc/hosts, and its only upstream is a second dnsmasq on loopback that knows nothing. That one
exists to make SERVFAIL: the zone server validates DNSSEC for names outside `.test`, and the
upstream cannot give it the DS records validation needs, so `servfail.example` fails with
SERVFAIL. Names in `.test` are answered from the zone below (`--local=/test/`: never forwarded;
a name not listed is NXDOMAIN).

Every address in the zone is loopback (127.0.0.x or ::1), so SMTP servers can listen on them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

REQUIRE_ENV = "SMTP_PROBE_REQUIRE_SERVERS"

# The root's DNSSEC trust anchor (KSK-2017): only so dnsmasq validates, and fails, outside .test.
ROOT_TRUST_ANCHOR = ".,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

# --- The test zone. Each case is a domain; the comment says what it shows. ---
# Different preferences: tried 10, 20, 30.
PREF = "pref.test"
PREF_MX = {
    "mx1.pref.test": ("127.0.0.11", 10),
    "mx2.pref.test": ("127.0.0.12", 20),
    "mx3.pref.test": ("127.0.0.13", 30),
}
# Equal preferences: 5 first, then the four 10s shuffled, then 20.
EQUAL = "equal.test"
EQUAL_FIRST = ("first.equal.test", "127.0.0.20", 5)
EQUAL_TIED = {
    "a.equal.test": "127.0.0.21",
    "b.equal.test": "127.0.0.22",
    "c.equal.test": "127.0.0.23",
    "d.equal.test": "127.0.0.24",
}
EQUAL_LAST = ("last.equal.test", "127.0.0.25", 20)
# No MX: the implicit MX, with an A and an AAAA record.
IMPLICIT = "implicit.test"
IMPLICIT_V4, IMPLICIT_V6 = "127.0.0.31", "::1"
# No MX and no address (only a TXT record): the implicit MX is unusable.
NOMAIL = "nomail.test"
# Null MX (RFC 7505): MX 0 .
NULL_MX = "nullmx.test"
# A null MX published together with another MX (RFC 7505 forbids it).
MIXED_NULL = "mixednull.test"
# MX hosts without addresses: one does not exist, one exists with no A/AAAA; one works.
NOADDR = "noaddr.test"
NOADDR_MISSING = "ghost.noaddr.test"  # NXDOMAIN, MX 10
NOADDR_TXTONLY = "txtonly.noaddr.test"  # NODATA, MX 15
NOADDR_GOOD = ("mail.noaddr.test", "127.0.0.41")  # MX 20
# Every MX host without an address: MX records present, none usable.
DEADMX = "deadmx.test"
# An MX naming an IP literal, and a good one behind it.
IPLIT = "iplit.test"
IPLIT_LITERAL = "127.0.0.51"  # MX 10
IPLIT_GOOD = ("mail.iplit.test", "127.0.0.52")  # MX 20
# An MX naming an alias (CNAME) of a host with an address.
CNAME = "cname.test"
CNAME_ALIAS = "alias.cname.test"  # MX 10, CNAME -> real.cname.test
CNAME_REAL = ("real.cname.test", "127.0.0.61")
# A host for NAME:PORT: its own A record, and an MX that NAME:PORT must not use.
HOST = "host.test"
HOST_V4 = "127.0.0.71"
# IPv6 only: MX host with an AAAA record only.
V6ONLY = "v6only.test"
V6ONLY_HOST = "mx.v6only.test"
# For the cache test: two domains whose MX records name the same host.
SHARED_A, SHARED_B = "shared-a.test", "shared-b.test"
SHARED_HOST = ("mx.shared.test", "127.0.0.81")
# One MX host with two A records (--all-addresses probes each).
MULTI = "multi.test"
MULTI_HOST = ("mx.multi.test", ("127.0.0.91", "127.0.0.92"))
# Not in the zone: NXDOMAIN. Outside .test and DNSSEC-bogus: SERVFAIL.
NXDOMAIN = "nx.test"
SERVFAIL = "servfail.example"


def zone_options() -> list[str]:
    opts: list[str] = []

    def mx(domain: str, host: str, preference: int) -> None:
        opts.append(f"--mx-host={domain},{host},{preference}")

    def host(name: str, *addresses: str) -> None:
        opts.append(f"--host-record={name},{','.join(addresses)}")

    for name, (address, preference) in PREF_MX.items():
        mx(PREF, name, preference)
        host(name, address)
    mx(EQUAL, EQUAL_FIRST[0], EQUAL_FIRST[2])
    host(EQUAL_FIRST[0], EQUAL_FIRST[1])
    for name, address in EQUAL_TIED.items():
        mx(EQUAL, name, 10)
        host(name, address)
    mx(EQUAL, EQUAL_LAST[0], EQUAL_LAST[2])
    host(EQUAL_LAST[0], EQUAL_LAST[1])
    host(IMPLICIT, IMPLICIT_V4, IMPLICIT_V6)
    opts.append(f"--txt-record={NOMAIL},v=spf1 -all")  # argv: no quotes needed
    mx(NULL_MX, ".", 0)
    mx(MIXED_NULL, ".", 0)
    mx(MIXED_NULL, "mx1.pref.test", 10)
    mx(NOADDR, NOADDR_MISSING, 10)
    mx(NOADDR, NOADDR_TXTONLY, 15)
    opts.append(f"--txt-record={NOADDR_TXTONLY},no address here")
    mx(NOADDR, NOADDR_GOOD[0], 20)
    host(*NOADDR_GOOD)
    mx(DEADMX, "ghost.deadmx.test", 10)
    mx(DEADMX, "ghost2.deadmx.test", 20)
    mx(IPLIT, IPLIT_LITERAL, 10)
    mx(IPLIT, IPLIT_GOOD[0], 20)
    host(*IPLIT_GOOD)
    mx(CNAME, CNAME_ALIAS, 10)
    opts.append(f"--cname={CNAME_ALIAS},{CNAME_REAL[0]}")
    host(*CNAME_REAL)
    host(HOST, HOST_V4)
    mx(HOST, "mx1.pref.test", 10)
    mx(MULTI, MULTI_HOST[0], 10)
    for address in MULTI_HOST[1]:  # one record each: a host-record keeps one IPv4 address
        host(MULTI_HOST[0], address)
    mx(V6ONLY, V6ONLY_HOST, 10)
    host(V6ONLY_HOST, "::1")
    mx(SHARED_A, SHARED_HOST[0], 10)
    mx(SHARED_B, SHARED_HOST[0], 10)
    host(*SHARED_HOST)
    return opts


# --- Running dnsmasq ---


def dnsmasq_binary() -> str | None:
    return shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq") if os.access(p, os.X_OK)),
        None,
    )


def require_dnsmasq() -> str:
    """The dnsmasq binary, or skip the test (fail under SMTP_PROBE_REQUIRE_SERVERS=1)."""
    binary = dnsmasq_binary()
    if binary is None:
        reason = "dnsmasq is not installed (scripts/install-servers installs dnsmasq-base)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    return binary


@dataclass
class DnsServer:
    address: str
    port: int
    log_path: Path

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"

    def log_mark(self) -> int:
        return len(self.log_path.read_bytes())

    def queries(self, since: int = 0) -> list[tuple[str, str]]:
        """(type, name) of each query dnsmasq received (`query[MX] pref.test from ...` lines)."""
        # dnsmasq writes each line as it answers; by the time a client has its answer, it is there.
        text = self.log_path.read_bytes()[since:].decode(errors="replace")
        out = []
        for line in text.splitlines():
            _, sep, rest = line.partition(" query[")
            if sep:
                rdtype, _, tail = rest.partition("] ")
                out.append((rdtype, tail.split(" ", 1)[0]))
        return out


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free loopback port for dnsmasq")


def _start(binary: str, options: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(5):
        port = _free_port()
        command = [
            # --no-daemon: stay in the foreground, write no pid file, keep the user id.
            binary, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={port}",
            "--log-facility=-", *options,
        ]  # fmt: skip
        log = log_path.open("ab")
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if _wait_ready(proc, port):
            return proc, port
        _stop(proc)
        if "Address already in use" not in log_path.read_text(errors="replace"):
            break
    raise RuntimeError(f"dnsmasq did not start: {log_path.read_text(errors='replace')[-2000:]}")


def _wait_ready(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + 10
    query = dns.message.make_query("ready.invalid", "A")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2)
            return True
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def dnsmasq_zone() -> Iterator[DnsServer]:
    """The test zone on 127.0.0.1:FREEPORT, with its loopback upstream (see the module doc)."""
    binary = require_dnsmasq()
    with tempfile.TemporaryDirectory(prefix="smtp-probe-dns-") as tmp:
        upstream, upstream_port = _start(
            binary, [f"--local=/{SERVFAIL}/", f"--host-record={SERVFAIL},127.0.0.99"],
            Path(tmp) / "upstream.log",
        )  # fmt: skip
        try:
            log_path = Path(tmp) / "dnsmasq.log"
            options = [
                "--log-queries", "--local=/test/", f"--server=127.0.0.1#{upstream_port}",
                "--dnssec", f"--trust-anchor={ROOT_TRUST_ANCHOR}", *zone_options(),
            ]  # fmt: skip
            server, port = _start(binary, options, log_path)
            try:
                yield DnsServer("127.0.0.1", port, log_path)
            finally:
                _stop(server)
        finally:
            _stop(upstream)


@contextmanager
def silent_udp_port() -> Iterator[int]:
    """A loopback UDP port that is bound, so no ICMP 'port unreachable', and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def closed_udp_port() -> int:
    """A loopback UDP port with nothing bound: queries get ICMP 'port unreachable'."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rcode_of(server: DnsServer, name: str, rdtype: str) -> str:
    """The raw response code for a query, for checking the zone itself."""
    response = dns.query.udp(dns.message.make_query(name, rdtype), server.address,
                             port=server.port, timeout=3)  # fmt: skip
    return dns.rcode.to_text(response.rcode())
