"""Progress on stderr for runs of several sessions: shown when stderr is a terminal (a pty here,
as a person's terminal), redrawn as each session ends and wiped before the report; nothing when
stderr is a pipe (CI logs), with --quiet, or for one session."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from servers import Behaviour, ScriptedServer, slow

STEPS = "name: ci\nsteps:\n  - connect\n  - noop\n  - quit\n"


def run_on_terminal(args: list[str], cwd) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal and stdout on a pipe: (code, stdout, terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "probe", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(30), stdout, seen.decode("utf-8", "replace")


def test_progress_is_drawn_on_a_terminal_and_wiped(tmp_path):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    quick = Behaviour()
    late = Behaviour(greeting=slow(b"220 late.test\r\n", 0.3))
    with ScriptedServer(quick) as a, ScriptedServer(late) as b:
        code, stdout, terminal = run_on_terminal(
            ["run", "ci.yaml", a.target, b.target, "--no-report"], tmp_path
        )
    assert code == 0, stdout + terminal
    frames = [frame.strip() for frame in terminal.split("\r") if frame.strip()]
    assert re.fullmatch(r"\[0/2\] started  0\.\d s  -/s", frames[0])
    assert re.fullmatch(r"\[1/2\] 1 pass  \d+\.\d s  \d+\.\d/s", frames[1])
    assert re.fullmatch(r"\[2/2\] 2 pass  \d+\.\d s  \d+\.\d/s", frames[2])
    assert terminal.endswith("\r")  # the last thing drawn is the wiped line
    assert "[2/2]" not in stdout and stdout.startswith("PASS  ci -> ")  # the report is clean


def test_no_progress_with_quiet_for_one_session_or_off_a_terminal(tmp_path, cli):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    with ScriptedServer(Behaviour()) as a, ScriptedServer(Behaviour()) as b:
        quiet = run_on_terminal(["run", "ci.yaml", a.target, b.target, "--no-report", "-q"],
                                tmp_path)  # fmt: skip
        single = run_on_terminal(["run", "ci.yaml", a.target, "--no-report"], tmp_path)
        piped = cli("run", "ci.yaml", a.target, b.target, "--no-report")
    assert quiet[0] == 0 and "[" not in quiet[2]
    assert single[0] == 0 and "[" not in single[2]
    assert piped.code == 0 and piped.stderr == ""
