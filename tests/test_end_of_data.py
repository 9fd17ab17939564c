"""End of data is judged, not assumed (RFC 5321 §4.1.1.4): a message holding `<LF>.<LF>` goes out
in two writes, and a server that answers before the real `<CRLF>.<CRLF>` (or answers twice) took
the lookalike for the end of data and read the rest as commands: SMTP smuggling, a fail.

Shown against our own loopback servers (one that ends at `<LF>.<LF>`, one that does not) and
against the real servers of the suite: Debian 12's Postfix 3.7 with its default
`smtpd_forbid_bare_newline = no` ends the data there; aiosmtpd and Exim 4.96 do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from postfix_server import DOMAIN
from servers import Behaviour, ScriptedServer, ehlo

SMUGGLE = """\
name: smuggle
vars:
  domain:
steps:
  - ehlo: probe.test
  - mail: probe@probe.test
  - rcpt: postmaster@${domain}
  - data:
      raw: "Subject: smuggling test\\r\\n\\r\\nhi\\n.\\nNOOP\\r\\n\\r\\n.\\r\\n"
      name: smuggle
  - rset
  - quit
"""
RULE = "RFC 5321 §4.1.1.4"


def run(cli, tmp_path: Path, target: str) -> tuple[Any, dict]:
    path = tmp_path / "smuggle.yaml"
    path.write_text(SMUGGLE, encoding="utf-8")
    result = cli("run", str(path), target, "--var", f"domain={DOMAIN}", "--format", "json",
                 "--no-report", "--timeout", "10", timeout=60)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result, result.json()["results"][0]


def smuggled(session: dict) -> dict:
    """The data step, failed for SMTP smuggling, and the session stopped after it."""
    data = next(s for s in session["steps"] if s["name"] == "smuggle")
    assert data["verdict"] == "fail", data
    fail = next(f for f in data["findings"] if f["source"] == RULE)
    assert "took the <LF>.<LF> at offset 29 of the message for the end of data" in fail["message"]
    assert "SMTP smuggling" in fail["message"]
    assert session["verdict"] == "fail"
    rest = [s for s in session["steps"] if s["kind"] in ("rset", "quit")]
    assert all(s["verdict"] == "skip" and "out of sync" in s["reason"] for s in rest)
    return data


def clean(result: Any, session: dict) -> None:
    assert result.code == 0, session
    data = next(s for s in session["steps"] if s["name"] == "smuggle")
    assert data["verdict"] == "pass" and data["reply"]["code"] == 250


async def _ends_at_lf_dot_lf(reader, writer) -> None:
    data = b""
    while b"\n.\n" not in data and b"\r\n.\r\n" not in data:
        chunk = await reader.read(4096)
        if not chunk:
            return
        data += chunk
    writer.write(b"250 2.0.0 queued\r\n")
    for line in data.split(b"\n.\n", 1)[1].split(b"\r\n"):
        if line:
            writer.write(b"500 5.5.2 unrecognized command\r\n")
    await writer.drain()


def test_a_server_that_ends_the_data_at_lf_dot_lf_fails(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": ehlo("PIPELINING")}, message=_ends_at_lf_dot_lf)
    with ScriptedServer(behaviour) as server:
        result, session = run(cli, tmp_path, server.target)
        sent = list(server.received)
    assert result.code == 1
    data = smuggled(session)
    assert data["reason"].startswith("the server answered before the final <CRLF>.<CRLF> was sent")
    # Nothing was sent after it: the server was reading the message as commands.
    assert sent[-1] == b"DATA\r\n", sent


def test_a_server_that_waits_for_crlf_dot_crlf_passes(cli, tmp_path: Path):
    with ScriptedServer(Behaviour(replies={"EHLO": ehlo("PIPELINING")})) as server:
        clean(*run(cli, tmp_path, server.target))


def test_aiosmtpd_waits_for_the_real_end_of_data(cli, tmp_path: Path, aiosmtpd_server: str):
    clean(*run(cli, tmp_path, aiosmtpd_server))


def test_postfix_3_7_by_default_ends_the_data_at_lf_dot_lf(cli, tmp_path: Path, postfix_target):
    result, session = run(cli, tmp_path, postfix_target)
    assert result.code == 1
    smuggled(session)


def test_exim_waits_for_the_real_end_of_data(cli, tmp_path: Path, exim_target: str):
    clean(*run(cli, tmp_path, exim_target))
