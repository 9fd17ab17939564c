"""MX resolution end to end through the CLI: a real DNS server (dnsmasq) and real SMTP servers
(aiosmtpd) listening on several 127.0.0.x addresses, all on loopback.

Every run names its nameserver (--nameserver): the machine's resolver is never asked.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dns_server as z
import pytest
from conftest import BASIC
from dns_server import DnsServer, dnsmasq_zone


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dnsmasq_zone() as server:
        yield server


def _common_port(addresses: list[str]) -> int:
    """A TCP port free on every one of these loopback addresses."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        free = True
        for address in addresses:
            with socket.socket() as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    free = False
                    break
        if free:
            return port
    raise RuntimeError("no common free port")


@pytest.fixture
def smtp_on():
    """Start aiosmtpd on each given address, all on one port; yields the port."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    stack = ExitStack()

    def start(addresses: list[str]) -> int:
        port = _common_port(addresses)
        for address in addresses:
            controller = Controller(Sink(), hostname=address, port=port)
            controller.start()
            stack.callback(controller.stop)
        return port

    with stack:
        yield start


def _run(cli, dns: DnsServer, *args: str, timeout: float = 60):
    return cli(*args, "--nameserver", dns.nameserver, timeout=timeout)


def test_resolve_prints_mx_hosts_in_preference_order(cli, dns):
    result = _run(cli, dns, "resolve", z.PREF)
    assert result.code == 0, result.stderr
    out = result.stdout
    positions = [out.index(name) for name in z.PREF_MX]
    assert positions == sorted(positions)
    for address, _pref in z.PREF_MX.values():
        assert address in out


def test_run_probes_the_most_preferred_mx_and_defaults_domain(cli, dns, smtp_on):
    port = smtp_on([a for a, _ in z.PREF_MX.values()])
    result = _run(
        cli, dns, "run", str(BASIC), z.PREF, "--port", str(port), "--format", "json", "--no-report"
    )
    assert result.code == 0, result.stdout + result.stderr
    first = result.json()["results"][0]
    assert first["verdict"] == "pass"
    assert first["address"] == f"127.0.0.11:{port}"
    details = first["details"]
    assert (details["domain"], details["mx_host"], details["preference"]) == (
        z.PREF,
        "mx1.pref.test",
        10,
    )
    rcpt = next(s for s in first["steps"] if s["kind"] == "rcpt")
    assert rcpt["command"] == f"RCPT TO:<postmaster@{z.PREF}>"


def test_run_falls_back_to_the_next_mx_when_a_connection_is_refused(cli, dns, smtp_on):
    # Nothing listens on mx1 (127.0.0.11): its connection is refused, mx2 is probed.
    port = smtp_on(["127.0.0.12", "127.0.0.13"])
    result = _run(
        cli, dns, "run", str(BASIC), z.PREF, "--port", str(port), "--format", "json", "--no-report"
    )
    assert result.code == 0, result.stdout + result.stderr
    first = result.json()["results"][0]
    assert first["address"] == f"127.0.0.12:{port}"
    assert first["details"]["mx_host"] == "mx2.pref.test"
    assert any("127.0.0.11" in attempt for attempt in first["details"]["fallback"])


def test_all_mx_probes_every_host_each_its_own_result(cli, dns, smtp_on):
    port = smtp_on([a for a, _ in z.PREF_MX.values()])
    result = _run(
        cli,
        dns,
        "run",
        str(BASIC),
        z.PREF,
        "--port",
        str(port),
        "--all-mx",
        "--format",
        "json",
        "--no-report",
    )
    assert result.code == 0, result.stdout + result.stderr
    results = result.json()["results"]
    assert [r["details"]["mx_host"] for r in results] == list(z.PREF_MX)
    assert all(r["verdict"] == "pass" for r in results)


def test_null_mx_gives_its_own_verdict_and_no_connection(cli, dns):
    result = _run(cli, dns, "run", str(BASIC), z.NULL_MX, "--format", "json", "--no-report")
    assert result.code == 3, result.stdout + result.stderr
    first = result.json()["results"][0]
    assert first["verdict"] == "no-mail"
    assert first["address"] is None
    assert "7505" in first["reason"] or "accepts no mail" in first["reason"]
    assert all(s["verdict"] == "skip" for s in first["steps"])


def test_nxdomain_is_an_error_with_the_dns_reason(cli, dns):
    result = _run(cli, dns, "run", str(BASIC), z.NXDOMAIN, "--no-report")
    assert result.code == 3
    assert "ERROR" in result.stdout
    assert "NXDOMAIN" in result.stdout or "does not exist" in result.stdout
    assert "Traceback" not in result.stderr
    # A name DNS does not know may be a host the machine knows (/etc/hosts): say how to ask so.
    assert (
        f"if {z.NXDOMAIN} is a host (say, in /etc/hosts), give {z.NXDOMAIN}:PORT or --no-mx"
        in result.stdout
    )


def test_dry_run_prints_the_plan_and_sends_nothing(cli, dns, smtp_on):
    port = smtp_on(["127.0.0.11"])
    result = _run(cli, dns, "run", str(BASIC), z.PREF, "--port", str(port), "--dry-run")
    assert result.code == 0, result.stderr
    assert "mx1.pref.test" in result.stdout and "nothing was sent" in result.stdout
    assert "PASS" not in result.stdout


def test_targets_file_with_comments_runs_each_target(cli, dns, smtp_on, tmp_path: Path):
    port = smtp_on(["127.0.0.11", z.IMPLICIT_V4])
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# mail domains\n{z.PREF}\n\n{z.IMPLICIT}  # no MX: implicit\n")
    result = _run(
        cli,
        dns,
        "run",
        str(BASIC),
        "--targets",
        str(targets),
        "--port",
        str(port),
        "-4",
        "--format",
        "json",
        "--no-report",
    )
    assert result.code == 0, result.stdout + result.stderr
    results = result.json()["results"]
    assert [r["target"] for r in results] == [z.PREF, z.IMPLICIT]
    assert results[1]["address"] == f"{z.IMPLICIT_V4}:{port}"


def test_a_bad_line_in_the_targets_file_names_file_and_line(cli, tmp_path: Path):
    targets = tmp_path / "targets.txt"
    targets.write_text("127.0.0.1\nnot a target!\n")
    result = cli("run", str(BASIC), "--targets", str(targets))
    assert result.code == 2
    assert f"{targets}:2:" in result.stderr


def test_resolve_shuffles_equal_preferences_reproducibly_with_seed(cli, dns):
    def order(seed: str) -> list[str]:
        out = _run(cli, dns, "resolve", z.EQUAL, "--seed", seed).stdout
        tied = [
            line.split()[-1] for line in out.splitlines() if "MX 10" in line and "(" not in line
        ]
        return [t for t in tied if t.startswith("127.")]

    first = order("1")
    assert sorted(first) == sorted(z.EQUAL_TIED.values())
    assert order("1") == first
    assert any(order(str(seed)) != first for seed in range(2, 12))


@pytest.mark.parametrize(
    ("domain", "says"),
    [
        (z.IPLIT, "names an IP address"),
        (z.CNAME, "alias (CNAME)"),
        (z.NOADDR, "no address: skipped"),
    ],
)
def test_resolve_warns_or_notes_unusual_mx_records(cli, dns, domain, says):
    result = _run(cli, dns, "resolve", domain)
    assert result.code == 0, result.stderr
    assert says in result.stdout


def test_servfail_is_an_error_with_the_dns_reason(cli, dns):
    result = _run(cli, dns, "run", str(BASIC), z.SERVFAIL, "--var", "domain=x.test", "--no-report")
    assert result.code == 3
    assert "SERVFAIL" in result.stdout or "server failure" in result.stdout.lower()


def test_dns_timeout_is_an_error_within_the_dns_timeout(cli):
    from dns_server import silent_udp_port

    with silent_udp_port() as port:
        result = cli(
            "run", str(BASIC), "silent.test", "--nameserver", f"127.0.0.1:{port}",
            "--dns-timeout", "1", "--no-report", timeout=20,
        )  # fmt: skip
    assert result.code == 3
    assert "timeout" in result.stdout.lower()


def test_resolve_override_pins_a_name_without_asking_dns(cli, smtp_on):
    # --resolve, as in curl: the name is not looked up at all. The only nameserver given is a
    # silent loopback port, so a lookup would time out (and never leave the machine).
    from dns_server import silent_udp_port

    port = smtp_on(["127.0.0.9"])
    name = "pinned.smtp-probe.test"
    with silent_udp_port() as dns_port:
        result = cli("run", str(BASIC), f"{name}:{port}", "--resolve", f"{name}:127.0.0.9",
                     "--nameserver", f"127.0.0.1:{dns_port}", "--dns-timeout", "1",
                     "--var", "domain=example.test", "--format", "json", "--no-report")  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert result.json()["results"][0]["address"] == f"127.0.0.9:{port}"


def test_an_ipv6_literal_target_connects_directly(cli):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Sink(), hostname="::1", port=port)
    controller.start()
    try:
        result = cli("run", str(BASIC), f"[::1]:{port}", "--var", "domain=example.test",
                     "--format", "json", "--no-report")  # fmt: skip
    finally:
        controller.stop()
    assert result.code == 0, result.stdout + result.stderr
    assert result.json()["results"][0]["address"] == f"[::1]:{port}"


def test_all_addresses_probes_every_address_of_an_mx_each_its_own_result(cli, dns, smtp_on):
    host, addresses = z.MULTI_HOST
    port = smtp_on(list(addresses))
    args = ("run", str(BASIC), z.MULTI, "--port", str(port), "--format", "json", "--no-report")
    result = _run(cli, dns, *args, "--all-addresses")
    assert result.code == 0, result.stdout + result.stderr
    results = result.json()["results"]
    assert sorted(r["address"] for r in results) == [f"{a}:{port}" for a in addresses]
    for r in results:
        assert r["details"]["mx_host"] == host and r["verdict"] == "pass"
        assert r["steps"][0]["reply"]["code"] == 220


def test_all_addresses_shows_the_address_that_does_not_answer(cli, dns, smtp_on):
    # Only the first address listens: a sending MTA falls back from the second and never says,
    # the default run passes on the first; --all-addresses probes the second on its own.
    _host, (first, second) = z.MULTI_HOST
    port = smtp_on([first])
    args = ("run", str(BASIC), z.MULTI, "--port", str(port), "--format", "json", "--no-report")
    default = _run(cli, dns, *args)
    assert default.code == 0 and len(default.json()["results"]) == 1
    result = _run(cli, dns, *args, "--all-addresses")
    assert result.code == 3, result.stdout + result.stderr  # one address was not probed
    by_address = {r["address"]: r for r in result.json()["results"]}
    assert by_address[f"{first}:{port}"]["verdict"] == "pass"
    dead = next(r for r in result.json()["results"] if r["address"] != f"{first}:{port}")
    assert dead["verdict"] != "pass" and second in json.dumps(dead)


def test_resolve_all_addresses_lists_each_address_on_its_own(cli, dns):
    result = _run(cli, dns, "resolve", z.MULTI, "--port", "2525", "--all-addresses")
    assert result.code == 0, result.stderr
    assert "would probe each address on its own (--all-addresses):" in result.stdout
    for address in z.MULTI_HOST[1]:
        assert f"mx.multi.test (MX 10): {address}:2525" in result.stdout
