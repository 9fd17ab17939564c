"""The README's exit-code table, per format: text, json, markdown and tap (with the files beside
them) keep the usual codes, 0 all passed, 1 some check failed, 2 bad invocation, 3 not probed;
nagios has its own (tests/test_monitoring.py), and so do --baseline and diff
(tests/test_baseline.py)."""

from __future__ import annotations

import pytest
from servers import Behaviour, ScriptedServer, ehlo

from probe.demo import free_port

STEPS = "name: ci\nsteps:\n  - connect\n  - ehlo: probe.test\n  - quit\n"
CLEAN = Behaviour(replies={"EHLO": ehlo("PIPELINING")})
BROKEN = Behaviour(replies={"EHLO": b"250-broken.test\r\n251 PIPELINING\r\n"})


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "tap"])
def test_the_usual_exit_codes_hold_for_every_report_format(cli, tmp_path, fmt):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    files = ("--junit", "j.xml", "--html", "r.html", "--summary", "s.md", "--no-report")
    with ScriptedServer(CLEAN) as clean, ScriptedServer(BROKEN) as broken:
        passed = cli("run", "ci.yaml", clean.target, "--format", fmt, *files)
        failed = cli("run", "ci.yaml", clean.target, broken.target, "--format", fmt, *files)
    unreachable = cli("run", "ci.yaml", f"127.0.0.1:{free_port()}", "--format", fmt, *files)
    usage = cli("run", "ci.yaml", "127.0.0.1:25", "--format", fmt, "--crit-ms", "x")
    assert [passed.code, failed.code, unreachable.code, usage.code] == [0, 1, 3, 2]
    assert all((tmp_path / name).stat().st_size for name in ("j.xml", "r.html", "s.md"))
