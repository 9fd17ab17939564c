"""STARTTLS per RFC 3207 through the CLI, against real TLS on loopback: the handshake after a 220,
the EHLO inside TLS, the plaintext-injection test (CVE-2011-0411), and a STARTTLS that was not
advertised. Certificates come from a test authority (tests/certs.py)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from certs import Authority
from servers import ScriptedServer, ehlo
from tls_servers import aiosmtpd_tls, server_context, starttls_server

STARTTLS = """\
name: tls
steps:
  - ehlo: probe.test
  - starttls
  - ehlo: probe.test
  - quit
"""

INJECT = """\
name: inject
steps:
  - ehlo: probe.test
  - starttls: {inject: NOOP}
  - ehlo: probe.test
  - quit
"""


CAFILE: list[str] = []  # the test authority's certificate, given to every run as --cafile


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    authority = Authority(tmp_path_factory.mktemp("ca"))
    CAFILE[:] = [str(authority.ca_path)]
    return authority


@pytest.fixture(scope="module")
def context(authority: Authority):
    # Names the address probed, and verifies with --cafile: no certificate warnings here.
    return server_context(*authority.issue("mx", "mx.probe.test", ip="127.0.0.1"))


def run(cli, tmp_path: Path, text: str, target: str, *options: str) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli(
        "run", str(path), target, "--format", "json", "--timeout", "5",
        "--cafile", *CAFILE, *options,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result, result.json()["results"][0]


def step(session: dict[str, Any], label: str) -> dict[str, Any]:
    return next(s for s in session["steps"] if s["name"] == label)


def findings(step_: dict[str, Any], verdict: str) -> list[str]:
    return [f["message"] for f in step_["findings"] if f["verdict"] == verdict]


def test_ehlo_inside_tls_that_still_offers_starttls_fails(cli, tmp_path: Path, context):
    behaviour = starttls_server(context, ehlo_after=ehlo("PIPELINING", "STARTTLS"))
    with ScriptedServer(behaviour) as server:
        result, session = run(cli, tmp_path, STARTTLS, server.target)
    assert result.code == 1
    second = [s for s in session["steps"] if s["kind"] == "ehlo"][1]
    assert second["verdict"] == "fail"
    assert "advertises STARTTLS inside the TLS session" in second["reason"]
    assert any(f["source"] == "RFC 3207 §4.2" for f in second["findings"])
    assert step(session, "starttls")["verdict"] == "pass"


def test_a_server_that_answers_the_injected_command_inside_tls_fails(cli, tmp_path: Path, context):
    with ScriptedServer(starttls_server(context, discard=False)) as server:
        result, session = run(cli, tmp_path, INJECT, server.target)
        received = list(server.received)
    assert received[:2] == [b"EHLO probe.test\r\n", b"STARTTLS\r\n"], received
    assert result.code == 1, json.dumps(session, indent=1)
    starttls = step(session, "starttls (inject NOOP)")
    assert starttls["verdict"] == "fail"
    assert "STARTTLS command injection" in starttls["reason"]
    assert "CVE-2011-0411" in starttls["findings"][-1]["source"] or any(
        "CVE-2011-0411" in f["source"] for f in starttls["findings"]
    )
    # The probe's own breach is said, as information.
    assert any("in the same write as STARTTLS" in m for m in findings(starttls, "info"))
    # The injected NOOP's answer was taken out, and not credited to the EHLO inside TLS.
    second = [s for s in session["steps"] if s["kind"] == "ehlo"][1]
    assert second["verdict"] == "pass"
    assert second["reply"]["lines"][0].startswith("250-broken.test")


def test_a_server_that_discards_the_injected_command_passes(cli, tmp_path: Path, context):
    with ScriptedServer(starttls_server(context, discard=True)) as server:
        result, session = run(cli, tmp_path, INJECT, server.target)
    assert result.code == 0, json.dumps(session, indent=1)
    starttls = step(session, "starttls (inject NOOP)")
    assert starttls["verdict"] == "pass"
    passed = findings(starttls, "pass")
    assert any("did not answer 'NOOP' inside the TLS session" in m for m in passed)
    assert starttls["exchanges"][0]["sent"] == "STARTTLS\r\nNOOP\r\n"


def test_aiosmtpd_with_starttls_passes_the_injection_test(cli, tmp_path: Path, context):
    with aiosmtpd_tls(context) as target:
        result, session = run(cli, tmp_path, INJECT, target)
    assert result.code == 0, json.dumps(session, indent=1)
    assert session["tls"]["version"] == "TLSv1.3"


def test_starttls_not_advertised_is_the_probes_breach(cli, tmp_path: Path, context):
    with ScriptedServer(starttls_server(context)) as server:
        _, session = run(
            cli,
            tmp_path,
            "name: t\nsteps:\n  - helo: probe.test\n  - starttls\n  - quit\n",
            server.target,
        )
    starttls = step(session, "starttls")
    assert any("did not offer STARTTLS" in m for m in findings(starttls, "info"))
    assert starttls["verdict"] == "pass"


@pytest.mark.parametrize(("required", "verdict"), [(True, "fail"), (False, "info")])
def test_mail_accepted_before_starttls(cli, tmp_path: Path, context, required: bool, verdict: str):
    top = "tls: required\n" if required else ""
    text = f"name: t\n{top}steps:\n  - ehlo: probe.test\n  - mail: a@probe.test\n  - quit\n"
    with aiosmtpd_tls(context) as target:
        result, session = run(cli, tmp_path, text, target)
    mail = step(session, "mail <a@probe.test>")
    assert any("MAIL accepted before STARTTLS" in m or "before STARTTLS" in m
               for m in findings(mail, verdict)), mail["findings"]  # fmt: skip
    assert result.code == (1 if required else 0)


def test_a_handshake_that_fails_on_its_merits_is_a_warning(cli, tmp_path: Path, context):
    # Real TLS, but the server demands a client certificate the probe does not have: the
    # handshake fails with an alert. No MUST covers that (RFC 5321 §4.2.4's is about 502/500),
    # so it is a warning naming the reason, not a fail.
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_default_certs()
    # TLS 1.2, where the certificate request is part of the handshake (TLS 1.3 checks it after
    # the client's side is done, which the client sees as a close, not a failed handshake).
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with ScriptedServer(starttls_server(context)) as server:
        _result, session = run(cli, tmp_path, STARTTLS, server.target)
    starttls = step(session, "starttls")
    assert starttls["verdict"] == "warn", starttls
    assert starttls["reason"].startswith("TLS handshake failed: ")
    assert "senders cannot use the TLS it offers" in starttls["reason"]
    assert not findings(starttls, "fail")
