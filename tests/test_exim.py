"""End to end against a real Exim: the CLI, run as a user runs it, judges a real server.

A private Exim (tests/exim_server.py: Debian's package unpacked beside Postfix by
scripts/install-servers) runs for the test. Skipped when Exim cannot run here, failed instead
when SMTP_PROBE_REQUIRE_SERVERS=1 (CI).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from exim_server import EximError, EximServer, exim_server, require_exim

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"
JUDGED = ("pass", "warn", "fail")  # "error" (not judged) and "skip" must not happen here
# What the instance's configuration makes EHLO advertise.
ADVERTISED = {"SIZE", "8BITMIME", "PIPELINING", "CHUNKING", "STARTTLS"}


def _keywords(ehlo_step: dict[str, Any]) -> set[str]:
    """The EHLO keywords of a step's reply ("250-STARTTLS" -> "STARTTLS"), greeting line dropped."""
    return {line[4:].split(" ")[0].upper() for line in ehlo_step["reply"]["lines"][1:]}


def _wait_for_log(server: EximServer, needle: str, timeout: float = 10.0) -> str:
    """Exim delivers (here: discards) just after the session; wait (bounded) for its log line."""
    deadline = time.monotonic() + timeout
    while needle not in server.mainlog() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.mainlog()


def test_basic_scenario_against_exim(cli, tmp_path: Path):
    require_exim()
    try:
        with exim_server() as server:
            args = ["run", str(BASIC), server.target, "--var", "domain=example.test", "--no-report"]
            run = cli(*args, "--format", "json")
            text = cli(*args, "-v")  # every step, with its transcript
            log = _wait_for_log(server, "=> :blackhole: <postmaster@example.test>")
    except EximError as exc:
        pytest.fail(str(exc), pytrace=False)
    # What a failing assertion shows: the readable report, both stderrs, and Exim's side.
    context = (
        f"exit code {run.code} (text run: {text.code})\n--- text report ---\n{text.stdout}"
        f"--- stderr ---\n{run.stderr}{text.stderr}\n--- exim log ---\n{log}"
    )
    print(text.stdout)  # shown with `pytest -rP`
    # Stopped: nothing of the instance is left running (it never ran as root either).
    assert server.leftover_pids() == [], context

    # An honest verdict: the run judged the server (0 all passed, 1 something failed), rather
    # than a bad invocation (2), an unreachable target (3) or a crash (4).
    assert run.code in (0, 1), context
    assert text.code == run.code, context
    assert "Traceback" not in run.stderr + text.stderr, context
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"--format json printed no JSON ({exc})\n{run.stdout}\n{context}")
    assert report["exit_code"] == run.code, context
    assert len(report["results"]) == 1, context
    result = report["results"][0]
    assert result["target"] == server.target, context
    steps = {step["kind"]: step for step in result["steps"]}
    for step in result["steps"]:
        assert step["verdict"] in JUDGED, f"step {step['name']!r} not judged\n{context}"

    assert steps["connect"]["reply"]["code"] == 220, context
    assert "Exim" in steps["connect"]["reply"]["lines"][0], context
    assert steps["ehlo"]["reply"]["code"] == 250, context
    missing = ADVERTISED - _keywords(steps["ehlo"])
    assert not missing, f"EHLO does not advertise {sorted(missing)}\n{context}"
    assert steps["rcpt"]["reply"]["code"] == 250, context
    # The data step: DATA got 354, and the end of the message (the step's reply) 250.
    data = steps["data"]
    assert data["exchanges"][0]["reply"]["code"] == 354, context
    assert data["reply"]["code"] == 250, context
    # Exim's side: the message to postmaster was received, then discarded by the router.
    assert "for postmaster@example.test" in log, context
    assert "=> :blackhole: <postmaster@example.test> R=known_users" in log, context
