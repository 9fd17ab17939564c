"""TLS 1.0 and 1.1 offered (RFC 8996 §4, §5): `legacy_tls: true` on a starttls step (and on connect
with implicit TLS) makes a handshake in which the probe offers only TLS 1.0 and 1.1.

Against aiosmtpd whose context allows TLS 1.0 (with OpenSSL's @SECLEVEL=0, without which Debian's
OpenSSL offers no cipher for them) the handshake completes: a warning. Against aiosmtpd with
Python's default context (TLS 1.2 at least) it fails: a pass. A client whose OpenSSL cannot offer
TLS 1.1 makes the check not applicable, and sends nothing for it.
"""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest
from certs import Authority
from servers import ScriptedServer
from tls_servers import aiosmtpd_tls, server_context, starttls_server

from probe.scenario import bind, load_scenario
from probe.session import legacy_tls
from probe.session.drivers import blocking
from probe.session.machine import RunOptions, Session
from probe.session.timeouts import Timeouts

LEGACY_STEP = "STARTTLS, then a handshake offering only TLS 1.0 and 1.1 (RFC 8996)"
IMPLICIT = """\
name: implicit
tls: implicit
steps:
  - connect: {legacy_tls: true}
  - connect
  - ehlo: probe.test
  - quit
"""


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


def context(authority: Authority, old: bool) -> ssl.SSLContext:
    """The server's context; `old`: TLS 1.0 and 1.1 allowed, with ciphers for them."""
    made = server_context(*authority.issue("mx", "mx.probe.test", ip="127.0.0.1"))
    if old:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            made.minimum_version = ssl.TLSVersion.TLSv1
        made.set_ciphers("DEFAULT:@SECLEVEL=0")
    return made


def needs_legacy() -> None:
    if why := legacy_tls.unavailable():
        pytest.skip(why)


def findings_of(step: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["verdict"], f["source"]) for f in step["findings"] if "8996" in f["source"]]


@pytest.mark.parametrize(("old", "verdict"), [(True, "warn"), (False, "pass")])
def test_starttls_scenario_offers_only_tls_1_0_and_1_1_on_a_new_connection(
    cli, authority: Authority, old: bool, verdict: str
):
    needs_legacy()
    with aiosmtpd_tls(context(authority, old)) as target:
        result = cli("run", "starttls", target, "--var", "domain=probe.test", "--cafile",
                     str(authority.ca_path), "--format", "json")  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr  # a warning is not a failure
    session = result.json()["results"][0]
    step = next(s for s in session["steps"] if s["name"] == LEGACY_STEP)
    assert step["verdict"] == verdict, step
    assert findings_of(step) == [(verdict, "RFC 8996 §4, §5")]
    if old:
        assert "completed a TLS handshake" in step["findings"][-1]["message"]
        assert "(TLSv1.1)" in step["findings"][-1]["message"]
        assert "TLS 1.1 MUST NOT be used" in step["findings"][-1]["message"]
    else:
        assert "refused a TLS handshake" in step["findings"][-1]["message"]
    # The report's TLS facts are the main session's, not the check's.
    assert session["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(("old", "verdict"), [(True, "warn"), (False, "pass")])
def test_implicit_tls_connect_with_legacy_tls(
    cli, tmp_path: Path, authority: Authority, old: bool, verdict: str
):
    needs_legacy()
    path = tmp_path / "implicit.yaml"
    path.write_text(IMPLICIT, encoding="utf-8")
    with aiosmtpd_tls(context(authority, old), implicit=True) as target:
        result = cli("run", str(path), target, "--format", "json", "--cafile",
                     str(authority.ca_path))  # fmt: skip
    steps = result.json()["results"][0]["steps"]
    assert steps[0]["name"] == "connect (TLS 1.0 and 1.1 only)"
    assert (steps[0]["verdict"], findings_of(steps[0])) == (verdict, [(verdict, "RFC 8996 §4, §5")])
    assert steps[0]["exchanges"][0]["reply"] is None  # the greeting is not read
    # The next connection is an ordinary one, judged as usual.
    assert [s["verdict"] for s in steps[1:]] == ["pass", "pass", "pass"], steps


def test_legacy_tls_on_connect_without_implicit_tls_is_not_applicable(cli, tmp_path: Path):
    path = tmp_path / "plain.yaml"
    path.write_text("name: plain\nsteps:\n  - connect: {legacy_tls: true}\n", encoding="utf-8")
    with ScriptedServer(starttls_server(ssl.create_default_context())) as server:
        result = cli("run", str(path), server.target, "--format", "json")
    [step] = result.json()["results"][0]["steps"]
    assert step["verdict"] == "skip" and step["reason"].startswith("not applicable:")
    assert "needs implicit TLS" in step["reason"]
    assert server.connections == 0


def test_an_openssl_that_cannot_offer_tls_1_1_makes_it_not_applicable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authority: Authority
):
    """Never a pass: the step is skipped as not applicable, and STARTTLS is not even sent."""
    reason = "this client's OpenSSL cannot offer TLS 1.1 (a test's OpenSSL)"
    monkeypatch.setattr(legacy_tls, "unavailable", lambda: reason)
    path = tmp_path / "legacy.yaml"
    path.write_text(
        "name: legacy\nsteps:\n  - ehlo: probe.test\n  - starttls: {legacy_tls: true}\n",
        encoding="utf-8",
    )
    bound = bind(load_scenario(path), {}, {})
    options = RunOptions(timeouts=Timeouts("short", 5.0), session_deadline=30.0)
    with ScriptedServer(starttls_server(context(authority, False))) as server:
        session = Session(bound, "127.0.0.1", server.port, options)
        result = blocking.play(session, server.target)
    step = result.steps[-1]
    assert (step.verdict, step.reason) == ("skip", f"not applicable: {reason}")
    assert not step.applicable
    assert not [line for line in server.received if line.upper().startswith(b"STARTTLS")]
