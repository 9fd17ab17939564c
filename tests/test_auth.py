"""AUTH per RFC 4954 through the CLI, against aiosmtpd over STARTTLS on loopback: every mechanism
the probe speaks (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, SCRAM-SHA-256), a wrong password, and no
secret (the password, its base64, the PLAIN blob, the CRAM response, the XOAUTH2 token blob, the
SCRAM proof) in any output: text, JSON on stdout, the JSON report file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from certs import Authority
from tls_servers import PASSWORD, USER, AuthHandler, aiosmtpd_tls, server_context

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256")


def scenario(mechanism: str) -> str:
    return (
        "name: auth\nsteps:\n  - ehlo: probe.test\n  - starttls\n  - ehlo: probe.test\n"
        f"  - auth: {{mechanism: {mechanism}, username: {USER}, password: '${{secret:PW}}'}}\n"
        "  - quit\n"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    authority = Authority(tmp_path_factory.mktemp("ca"))
    handler = AuthHandler()
    context = server_context(*authority.issue("mx", "mx.probe.test"))
    with aiosmtpd_tls(context, handler=handler) as target:
        yield target, handler


def forms(secret: bytes) -> list[bytes]:
    return [secret, base64.b64encode(secret)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_mechanism_authenticates_and_no_secret_is_shown(
    cli, tmp_path: Path, server, mechanism: str
):
    target, handler = server
    path = tmp_path / "auth.yaml"
    path.write_text(scenario(mechanism), encoding="utf-8")
    env = {"PW": PASSWORD}
    before = len(handler.responses)
    text = cli("run", str(path), target, "-v", "--report-dir", "reports", env=env)
    as_json = cli("run", str(path), target, "--format", "json", "--no-report", env=env)
    assert text.code == 0, text.stdout
    session = as_json.json()["results"][0]
    auth = next(s for s in session["steps"] if s["kind"] == "auth")
    assert auth["verdict"] == "pass" and auth["reply"]["code"] == 235, json.dumps(auth, indent=1)
    secrets = forms(PASSWORD.encode()) + forms(f"\0{USER}\0{PASSWORD}".encode())
    for response in handler.responses[before:]:
        secrets += forms(response)
    if mechanism in ("CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2"):
        assert len(handler.responses) > before  # the server saw the derived secrets
    report = next((tmp_path / "reports").glob("*.json")).read_bytes()
    for output in (text.stdout.encode(), text.stderr.encode(), as_json.stdout.encode(), report):
        for secret in secrets:
            assert secret not in output, (mechanism, secret)
    assert b"****" in as_json.stdout.encode()


@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5"])
def test_a_wrong_password_gets_535(cli, tmp_path: Path, server, mechanism: str):
    target, _ = server
    path = tmp_path / "auth.yaml"
    path.write_text(scenario(mechanism), encoding="utf-8")
    result = cli(
        "run", str(path), target, "--format", "json", "--timeout", "5", env={"PW": "wrong"}
    )
    auth = next(s for s in result.json()["results"][0]["steps"] if s["kind"] == "auth")
    assert auth["reply"] is not None, json.dumps(auth, indent=1)
    assert auth["reply"]["code"] == 535
    assert auth["verdict"] == "pass"  # 535 is a listed reply; the scenario expected nothing
