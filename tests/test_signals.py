"""Nothing lost: Ctrl-C and SIGTERM stop a run promptly and still write its report; reports are
written atomically; an unwritable report folder is a one-line error, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BASIC
from servers import Behaviour, ScriptedServer, ehlo

# How long a run may take to stop after the signal (it should take well under a second).
PROMPT = 5.0

# The CLI with the blocking driver's close slowed down, so that a second signal lands while the
# interrupted session is still closing its connection.
SLOW_CLOSE = """
import sys, time
from probe.session.drivers import blocking
_close = blocking.BlockingConnection.close
def slow_close(self):
    if self.sock is not None:
        time.sleep(1.0)
    _close(self)
blocking.BlockingConnection.close = slow_close
from probe.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture
def start(tmp_path: Path):
    """Start `smtp-probe run basic.yaml` against a server, with waits far longer than any test;
    whatever still runs at the end of the test is killed."""
    started: list[subprocess.Popen] = []

    def spawn(server: ScriptedServer, *, code: str | None = None) -> subprocess.Popen:
        proc = _popen(tmp_path, server, code)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _popen(tmp_path: Path, server: ScriptedServer, code: str | None) -> subprocess.Popen:
    entry = ["-c", code] if code else ["-m", "probe"]
    return subprocess.Popen(
        [
            sys.executable,
            *entry,
            "run",
            str(BASIC),
            server.target,
            "--var",
            "domain=example.test",
            "--timeout",
            "60",
            "--deadline",
            "120",
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "timed out waiting for the client"
        time.sleep(0.02)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Wait (bounded) for the CLI to exit; no traceback allowed."""
    try:
        out, err = proc.communicate(timeout=PROMPT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the run did not stop within {PROMPT} s of the signal") from None
    assert "Traceback" not in out + err, out + err
    return proc.returncode, out, err


def the_report(tmp_path: Path) -> dict[str, Any]:
    """The one report written: complete JSON, and no temporary file left beside it."""
    names = os.listdir(tmp_path / "reports")
    assert len(names) == 1 and names[0].startswith("smtp-probe-"), names
    return json.loads((tmp_path / "reports" / names[0]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_and_the_report_is_still_written(start, tmp_path: Path, sig):
    with ScriptedServer(Behaviour(greeting=None)) as server:
        proc = start(server)
        assert server.connected.wait(15)
        time.sleep(1.0)  # the client is now waiting for the greeting (60 s timeout)
        proc.send_signal(sig)
        code, out, _err = finish(proc)
        assert server.disconnected.wait(5), "the connection was not closed"
    assert code == 3
    assert "(interrupted)" in out
    report = the_report(tmp_path)
    assert report["interrupted"] is True
    assert report["exit_code"] == 3
    session = report["results"][0]
    assert session["verdict"] == "error"
    connect, *rest = session["steps"]
    assert (connect["kind"], connect["verdict"], connect["reason"]) == (
        "connect",
        "error",
        "interrupted",
    )
    assert len(rest) == 10
    assert all(s["verdict"] == "skip" and s["reason"] == "interrupted" for s in rest)


def test_an_interrupted_run_keeps_what_was_judged_and_exits_1_after_a_failure(
    start, tmp_path: Path
):
    # MAIL gets a reply with mixed codes (fail), RCPT no reply at all.
    behaviour = Behaviour(replies={"MAIL": b"250-sender\r\n251 ok\r\n", "RCPT": None})
    with ScriptedServer(behaviour) as server:
        proc = start(server)
        wait_until(lambda: any(line.startswith(b"RCPT") for line in server.received))
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code, _out, _err = finish(proc)
    assert code == 1
    report = the_report(tmp_path)
    assert report["interrupted"] is True and report["exit_code"] == 1
    steps = report["results"][0]["steps"]
    assert [s["verdict"] for s in steps[:4]] == ["pass", "pass", "fail", "error"]
    assert steps[2]["reply"]["code"] == 251  # what was judged is kept, reply and all
    assert steps[3]["kind"] == "rcpt" and steps[3]["reason"] == "interrupted"
    assert all(s["verdict"] == "skip" and s["reason"] == "interrupted" for s in steps[4:])


def test_a_second_signal_during_the_cleanup_does_not_lose_the_report(start, tmp_path: Path):
    # A second Ctrl-C may cut the polite close short, but the run must still end normally:
    # exit 3, the report complete, no CancelledError or KeyboardInterrupt traceback.
    with ScriptedServer(Behaviour(greeting=None)) as server:
        proc = start(server, code=SLOW_CLOSE)
        assert server.connected.wait(15)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the session is closing its connection (1 s, see SLOW_CLOSE)
        proc.send_signal(signal.SIGINT)
        code, _out, _err = finish(proc)
    assert code == 3
    report = the_report(tmp_path)
    assert report["interrupted"] is True
    assert [s["reason"] for s in report["results"][0]["steps"]] == ["interrupted"] * 11


# ---- reports written atomically; unwritable report folders -------------------------------------


def test_a_run_leaves_its_report_and_no_temporary_file(cli, tmp_path: Path):
    with ScriptedServer(Behaviour(replies={"EHLO": ehlo("PIPELINING")})) as server:
        result = cli(
            "run", str(BASIC), server.target, "--var", "domain=example.test",
            "--report-dir", "reports", timeout=30,
        )  # fmt: skip
    assert result.code in (0, 1), result.stdout + result.stderr
    report = the_report(tmp_path)  # exactly one file in reports/: no .tmp-* beside it
    assert report["exit_code"] == result.code


def _under_a_file(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("not a folder\n")
    return str(tmp_path / "a-file" / "reports")


def _a_file(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("not a folder\n")
    return str(tmp_path / "a-file")


@pytest.mark.parametrize(
    "report_dir",
    [
        pytest.param(_under_a_file, id="under-a-regular-file"),
        pytest.param(_a_file, id="a-regular-file"),
        pytest.param(lambda _: "/proc/smtp-probe-reports", id="in-proc"),
    ],
)
def test_an_unwritable_report_dir_is_a_one_line_error(cli, tmp_path: Path, report_dir):
    # chmod would not stop root: these paths cannot hold a report whoever runs the tests.
    where = report_dir(tmp_path)
    with ScriptedServer(Behaviour(replies={"EHLO": ehlo("PIPELINING")})) as server:
        result = cli(
            "run",
            str(BASIC),
            server.target,
            "--var",
            "domain=example.test",
            "--report-dir",
            where,
            timeout=30,
        )
    assert result.code in (2, 4), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smtp-probe: "), result.stderr
    assert where in lines[0]
    assert not (tmp_path / "reports").exists()
