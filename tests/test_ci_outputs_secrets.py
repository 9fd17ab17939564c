"""Secrets never reach the CI outputs: an AUTH password, its base64 form and the AUTH PLAIN blob
are masked in JUnit, Markdown (stdout and --summary), TAP, nagios, HTML and the baseline
comparison, as in the text and JSON reports, even when the server echoes them."""

from __future__ import annotations

import base64

from servers import Behaviour, ScriptedServer, ehlo

SECRET = "s3cr3t-Passw0rd"
PLAIN = base64.b64encode(b"\0alice\0" + SECRET.encode()).decode()
FORMS = (SECRET, PLAIN, base64.b64encode(SECRET.encode()).decode())

STEPS = (
    "name: auth\nsteps:\n  - connect\n  - ehlo: probe.test\n"
    "  - auth: {mechanism: PLAIN, username: alice, password: '${env:PROBE_PASS}'}\n"
    "  - quit\n"
)
# The server echoes the blob back in a reply that fails the grammar: it lands in every transcript.
ECHO = Behaviour(
    replies={
        "EHLO": ehlo("AUTH PLAIN LOGIN"),
        "AUTH": f"235 2.7.0 welcome {PLAIN} {SECRET}\x01\r\n".encode(),
    }
)


def test_no_output_shows_a_secret(cli, tmp_path):
    (tmp_path / "auth.yaml").write_text(STEPS, encoding="utf-8")
    env = {"PROBE_PASS": SECRET}
    outputs = []
    with ScriptedServer(ECHO) as server:
        first = cli("run", "auth.yaml", server.target, "--report-dir", "reports", "--junit",
                    "j.xml", "--html", "r.html", "--summary", "s.md", env=env)  # fmt: skip
        assert first.code == 1, first.stdout + first.stderr  # the echoed reply fails
        outputs += [first.stdout, first.stderr]
        (report,) = (tmp_path / "reports").glob("*.json")
        for fmt in ("markdown", "tap", "nagios"):
            result = cli("run", "auth.yaml", server.target, "--format", fmt, "--no-report",
                         "--baseline", str(report), env=env)  # fmt: skip
            outputs += [result.stdout, result.stderr]
        assert b"AUTH PLAIN" in b"".join(server.received)  # it really was sent
    files = [tmp_path / name for name in ("j.xml", "r.html", "s.md")]
    outputs += [path.read_text(encoding="utf-8") for path in (*files, report)]
    assert all(outputs[:2]) and all(text for text in outputs[-4:])
    for text in outputs:
        for form in FORMS:
            assert form not in text
    assert "****" in (tmp_path / "j.xml").read_text(encoding="utf-8")
    assert "****" in (tmp_path / "r.html").read_text(encoding="utf-8")
