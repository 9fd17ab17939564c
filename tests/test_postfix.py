"""End to end against a real Postfix: the CLI, run as a user runs it, judges a real server.

One private Postfix instance (tests/postfix_server.py) serves the whole session. Skipped when
Postfix cannot run here, failed instead when SMTP_PROBE_REQUIRE_SERVERS=1 (CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from postfix_server import PostfixError, PostfixServer, postfix_server, require_postfix

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"
HELO = "probe.smtp-probe.invalid"
CLI_TIMEOUT = 60  # seconds for one CLI run; a Postfix session takes milliseconds
JUDGED = ("pass", "warn", "fail")  # "error" (not judged) and "skip" must not happen here


@pytest.fixture(scope="session")
def postfix() -> Iterator[PostfixServer]:
    require_postfix()
    try:
        with postfix_server() as server:
            yield server
    except PostfixError as exc:
        pytest.fail(str(exc), pytrace=False)


@dataclass
class Run:
    """One scenario run twice, as a user would: `--format json` and the text report."""

    code: int
    report: dict[str, Any]
    text: str
    stderr: str
    maillog: str

    @property
    def result(self) -> dict[str, Any]:
        return self.report["results"][0]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.result["steps"]

    def step(self, kind: str, contains: str = "") -> dict[str, Any]:
        found = [s for s in self.steps if s["kind"] == kind and contains in (s["command"] or "")]
        assert len(found) == 1, f"expected one {kind} step with {contains!r}\n{self}"
        return found[0]

    def __str__(self) -> str:
        # What a failing assertion shows: the readable report, stderr, and Postfix's side.
        return (
            f"exit code {self.code}\n--- text report ---\n{self.text}"
            f"--- stderr ---\n{self.stderr}\n--- maillog (last 30 lines) ---\n{self.maillog}"
        )


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
    )


def run_scenario(server: PostfixServer, scenario: Path, tmp_path: Path, *extra: str) -> Run:
    args = ["run", str(scenario), server.target, *extra, "--no-report"]
    text = _cli([*args, "-v"], tmp_path)  # -v: every step with its transcript
    proc = _cli([*args, "--format", "json"], tmp_path)
    context = (
        f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n"
        f"{proc.stderr}\n--- stderr of the text run ---\n{text.stderr}\n"
        f"--- maillog ---\n{server.maillog(last=30)}"
    )
    # An honest verdict: the run judged the server (0 all passed, 1 something failed), rather
    # than a bad invocation (2), an unreachable target (3) or a crash (4).
    assert proc.returncode in (0, 1), context
    assert text.returncode == proc.returncode, context + "\n--- text ---\n" + text.stdout
    for stderr in (proc.stderr, text.stderr):
        assert "Traceback" not in stderr, context
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"--format json printed no JSON ({exc})\n{context}")
    run = Run(proc.returncode, report, text.stdout, proc.stderr, server.maillog(last=30))
    print(run.text)  # shown with `pytest -rP`, and by pytest when a test fails
    assert report["exit_code"] == proc.returncode, str(run)
    assert len(report["results"]) == 1, str(run)
    assert run.result["verdict"] == ("fail" if proc.returncode == 1 else "pass"), str(run)
    for step in run.steps:
        assert step["verdict"] in JUDGED, f"step {step['name']!r} not judged\n{run}"
        if step["verdict"] in ("warn", "fail"):
            bad = [f for f in step["findings"] if f["verdict"] in ("warn", "fail")]
            assert bad, f"step {step['name']!r} is {step['verdict']} with no finding\n{run}"
            for finding in bad:
                # Every complaint names the document (or the scenario's `why`) behind it.
                assert finding["source"].strip(), f"finding without a source: {finding}\n{run}"
    return run


def wait_for_log(server: PostfixServer, needle: str, timeout: float = 10.0) -> str:
    """Postfix logs through postlogd, a moment after the fact: wait (bounded) for a line."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.maillog()
        lines = [line for line in log.splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            assert lines, f"{needle!r} not in Postfix's log:\n{server.maillog(last=40)}"
            return lines[-1]
        time.sleep(0.1)


def write_scenario(tmp_path: Path, name: str, steps: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nsteps:\n{steps}")
    return path


def test_basic_scenario_against_postfix(postfix: PostfixServer, tmp_path: Path):
    assert BASIC.is_file(), f"{BASIC} is missing"
    run = run_scenario(postfix, BASIC, tmp_path, "--var", "domain=example.test")
    assert run.result["target"] == postfix.target, str(run)
    connect = run.step("connect")
    assert connect["reply"]["code"] == 220, str(run)
    rcpt = run.step("rcpt", "postmaster@example.test")
    assert rcpt["reply"]["code"] == 250, str(run)
    # Postfix's side: the message really went through (queued, then discarded by design).
    wait_for_log(postfix, "to=<postmaster@example.test>, relay=none")


def test_relaying_is_refused(postfix: PostfixServer, tmp_path: Path):
    scenario = write_scenario(
        tmp_path,
        "relay",
        f"""\
  - connect: {{expect: 220}}
  - ehlo: {HELO}
  - mail: probe@{HELO}
  - rcpt: someone@elsewhere.invalid
    expect: 5xx
    why: "an open relay: mail for a domain the server does not serve must be refused"
  - quit
""",
    )
    run = run_scenario(postfix, scenario, tmp_path)
    # The expectation is met, so nothing fails; the tables may still warn about the exact code.
    assert run.code == 0, str(run)
    rcpt = run.step("rcpt", "someone@elsewhere.invalid")
    assert rcpt["reply"]["code"] // 100 == 5, str(run)
    assert rcpt["verdict"] in ("pass", "warn"), str(run)
    assert not [f for f in rcpt["findings"] if f["message"].startswith("expected")], str(run)
    wait_for_log(postfix, "Relay access denied")


def test_expn_answer_is_judged_by_the_code_tables(postfix: PostfixServer, tmp_path: Path):
    # No expectation on EXPN: only the code tables judge Postfix's answer.
    scenario = write_scenario(
        tmp_path,
        "expn",
        f"  - connect\n  - ehlo: {HELO}\n  - expn: postmaster\n  - quit\n",
    )
    run = run_scenario(postfix, scenario, tmp_path)
    expn = run.step("expn")
    # Postfix does not implement EXPN: "500 5.5.2 Error: command not recognized".
    assert expn["reply"]["code"] == 500, str(run)
    assert any("5.5.2" in line for line in expn["reply"]["lines"]), str(run)
    # RFC 5321 §4.3.2 lists 500 for EXPN, so the tables pass it (a clean pass has no findings);
    # whatever they say about it names its source.
    assert expn["verdict"] == "pass", str(run)
    for finding in expn["findings"]:
        assert finding["source"].strip(), f"finding without a source: {finding}\n{run}"
    # The row that passed it, as the tables show it to a user, with its source.
    codes = _cli(["codes", "EXPN"], tmp_path)
    assert codes.returncode == 0, codes.stdout + codes.stderr
    row = _table_row(codes.stdout, 500)
    assert "rfc5321" in row and "RFC 5321 §4.3.2" in row, codes.stdout


def _table_row(table: str, code: int) -> str:
    """The lines of `smtp-probe codes VERB` output for one code (up to the next code)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {code} "))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:5].strip().isdigit()), len(lines)
    )
    return "\n".join(lines[start:end])


def _keywords(ehlo_step: dict[str, Any]) -> list[str]:
    """The EHLO keywords of a step's reply ("250-STARTTLS" -> "STARTTLS"), greeting line dropped."""
    return [line[4:].split(" ")[0].upper() for line in ehlo_step["reply"]["lines"][1:]]


def test_starttls_is_negotiated(postfix: PostfixServer, tmp_path: Path):
    scenario = write_scenario(
        tmp_path,
        "starttls",
        f"  - connect\n  - ehlo: {HELO}\n  - starttls\n  - ehlo: {HELO}\n  - quit\n",
    )
    run = run_scenario(postfix, scenario, tmp_path)
    assert run.code == 0, str(run)
    starttls = run.step("starttls")
    assert all(step["verdict"] == "pass" for step in run.steps if step is not starttls), str(run)
    # The private Postfix has a self-signed certificate for mx.example.test, and was probed by
    # its address: both are said, as warnings (failures with --tls-verify).
    warned = [f["message"] for f in starttls["findings"] if f["verdict"] == "warn"]
    assert any("self-signed certificate" in m for m in warned), str(run)
    assert any("does not name 127.0.0.1" in m for m in warned), str(run)
    assert run.result["tls"]["chain"][0]["subject"] == "CN=mx.example.test", str(run)
    assert starttls["reply"]["code"] == 220, str(run)
    assert any("TLS established" in f["message"] for f in starttls["findings"]), str(run)
    # Inside TLS, Postfix no longer offers STARTTLS (RFC 3207 §4.2): the second EHLO was encrypted.
    first, second = [s for s in run.steps if s["kind"] == "ehlo"]
    assert "STARTTLS" in _keywords(first), str(run)
    assert "STARTTLS" not in _keywords(second), str(run)
    # And Postfix's side saw the handshake.
    wait_for_log(postfix, "TLS connection established from")
