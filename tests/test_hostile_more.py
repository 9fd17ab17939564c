"""More hostile servers: one that echoes credentials, one that injects plaintext after its 220 to
STARTTLS (then really does TLS, with a generated certificate), one that leaves half a reply
pending between commands."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path

import pytest
from certs import write_tls_pair
from servers import Behaviour, ScriptedServer, ehlo, sequence

SECRET = "correct-horse-battery"
AUTH_SCENARIO = """\
name: auth-echo
steps:
  - connect
  - ehlo: probe.test
  - auth: {mechanism: PLAIN, username: alice, password: "${env:PROBE_PASS}"}
  - quit
"""


def _tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a freshly generated self-signed certificate for localhost."""
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_tls_pair(cert_path, key_path, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def _report(tmp_path: Path) -> dict:
    return json.loads(next((tmp_path / "reports").glob("*.json")).read_text(encoding="utf-8"))


def test_a_server_echoing_the_credentials_never_gets_them_printed(cli, tmp_path: Path):
    blob = base64.b64encode(b"\0alice\0" + SECRET.encode())
    echo = b"535 5.7.8 rejected " + blob + b" and " + SECRET.encode() + b"\r\n"
    behaviour = Behaviour(replies={"EHLO": ehlo("AUTH PLAIN", "ENHANCEDSTATUSCODES"), "AUTH": echo})
    scenario = tmp_path / "auth.yaml"
    scenario.write_text(AUTH_SCENARIO)
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run",
            str(scenario),
            server.target,
            "-v",
            "--report-dir",
            "reports",
            env={"PROBE_PASS": SECRET},
        )
    report = json.dumps(_report(tmp_path))
    # Not the secret, not its base64, not the PLAIN blob, and not a cut-off piece of either.
    for text in (result.stdout, result.stderr, report):
        for form in (SECRET, blob.decode(), base64.b64encode(SECRET.encode()).decode()):
            assert form[:16] not in text
    assert "****" in result.stdout
    auth = next(s for s in _report(tmp_path)["results"][0]["steps"] if s["kind"] == "auth")
    assert auth["reply"]["code"] == 535


def reply_220(size: int) -> bytes:
    """A multi-line 220 of exactly `size` bytes (4096 ends it at a driver's read boundary)."""
    last = b"220 2.0.0 go ahead\r\n"
    body = b"220-" + b"x" * 70 + b"\r\n"
    count, rest = divmod(size - len(last), len(body))
    pad = b"220-" + b"y" * (rest - 6) + b"\r\n" if rest else b""
    return body * count + pad + last


@pytest.mark.parametrize(
    "size",
    [pytest.param(20, id="short-220"), pytest.param(4096, id="220-ending-at-a-read-boundary")],
)
def test_plaintext_injected_after_the_starttls_220_is_a_failure(cli, tmp_path: Path, size: int):
    # Bytes sent in the same write as the 220: whether or not the driver has read them yet
    # (a 4096-byte 220 fills one read), they are found and dropped before the handshake.
    context = _tls_context(tmp_path)

    async def upgrade(writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(context)

    greeting = reply_220(size) if size > 20 else b"220 2.0.0 go ahead\r\n"
    assert size == 20 or len(greeting) == size
    behaviour = Behaviour(
        replies={
            "EHLO": ehlo("STARTTLS"),
            "STARTTLS": sequence(greeting + b"250 2.0.0 INJECTED\r\n", upgrade),
        }
    )
    scenario = tmp_path / "tls.yaml"
    scenario.write_text(
        "name: tls\nsteps:\n  - connect\n  - ehlo: probe.test\n  - starttls\n"
        "  - ehlo: probe.test\n  - quit\n"
    )
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run", str(scenario), server.target, "--timeout", "5", "--report-dir", "reports"
        )
    assert result.code == 1, result.stdout + result.stderr
    steps = _report(tmp_path)["results"][0]["steps"]
    starttls = next(s for s in steps if s["kind"] == "starttls")
    assert starttls["verdict"] == "fail"
    messages = [f["message"] for f in starttls["findings"]]
    assert any("after its 220 to STARTTLS" in m for m in messages), messages
    assert any(m.startswith("TLS established") for m in messages), messages
    # The injected line was not taken for the reply to the EHLO sent over TLS.
    second_ehlo = [s for s in steps if s["kind"] == "ehlo"][1]
    assert second_ehlo["reply"]["lines"][0].startswith("250-broken.test")


def test_half_a_reply_left_pending_ends_the_session_as_out_of_sync(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"NOOP": b"250 2.0.0 OK\r\n250 2.0.0 LATE-par"})
    scenario = tmp_path / "late.yaml"
    scenario.write_text(
        "name: late\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - rset\n  - quit\n"
    )
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run", str(scenario), server.target, "--timeout", "2", "--report-dir", "reports"
        )
    assert result.code == 1, result.stdout + result.stderr
    steps = _report(tmp_path)["results"][0]["steps"]
    # The half reply came after NOOP's reply: NOOP fails for it, and nothing more is sent (RSET
    # would be credited with the rest of that fragment).
    noop = next(s for s in steps if s["kind"] == "noop")
    assert noop["verdict"] == "fail"
    assert any(
        "after the reply to NOOP" in f["message"] and "incomplete reply" in f["message"]
        for f in noop["findings"]
    )
    for kind in ("rset", "quit"):
        skipped = next(s for s in steps if s["kind"] == kind)
        assert skipped["verdict"] == "skip" and "out of sync" in skipped["reason"]
        assert skipped["reply"] is None
