"""Baselines: `run --baseline FILE` fails only on steps whose verdict got worse than in a stored
JSON report, and lists what improved; `smtp-probe diff OLD NEW` prints the same comparison.
Each test makes its baseline with a real run against a loopback server, then changes what that
server says (same address, so results match) or stops it."""

from __future__ import annotations

from servers import Behaviour, ScriptedServer, ehlo

STEPS = "name: ci\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - help\n  - quit\n"
EHLO = ehlo("PIPELINING")
BAD_HELP = b"214 see\x01manual\r\n"  # breaks the reply grammar: a fail
# Not clean yet: the HELP fail is known.
KNOWN_BAD = Behaviour(replies={"EHLO": EHLO, "HELP": BAD_HELP})


def _baseline(cli, tmp_path, server: ScriptedServer) -> str:
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    first = cli("run", "ci.yaml", server.target, "--report-dir", "reports")
    assert first.code == 1
    (report,) = (tmp_path / "reports").glob("*.json")
    report.rename(tmp_path / "baseline.json")
    return "baseline.json"


def test_known_failures_pass_against_the_baseline_and_new_ones_fail(cli, tmp_path):
    with ScriptedServer(KNOWN_BAD) as server:
        baseline = _baseline(cli, tmp_path, server)
        same = cli("run", "ci.yaml", server.target, "--no-report", "--format", "json",
                   "--baseline", baseline)  # fmt: skip
        bad_ehlo = b"250-broken.test\r\n251 PIPELINING\r\n"  # mixed codes: a fail
        server.behaviour = Behaviour(
            replies={"EHLO": bad_ehlo, "HELP": BAD_HELP, "NOOP": b"500 5.5.2 what?\r\n"}
        )
        worse = cli("run", "ci.yaml", server.target, "--no-report", "--baseline", baseline)
    assert same.code == 0, same.stderr  # the fail is known: not a regression
    assert same.json()["results"][0]["verdict"] == "fail"  # the report still says what it is
    assert same.stderr.endswith(
        "  no step changed its verdict\n  no regression; 0 improvement(s)\n"
    )

    assert worse.code == 1
    assert worse.stdout.startswith("FAIL  ci -> ")  # stdout keeps its format
    lines = worse.stderr.splitlines()
    assert lines[0].startswith("compared with baseline.json (")
    assert lines[1] == "  regressed: 1"
    assert lines[2].startswith(f"    ci -> {server.target}: ehlo probe.test: pass -> fail (")
    # NOOP answered 500 is a warning (a SHOULD): listed, not a regression.
    assert lines[3] == "  newly warned (not a regression): 1"
    assert lines[4].startswith(f"    ci -> {server.target}: noop: pass -> warn (")
    assert lines[-1] == "  1 regression(s); 0 improvement(s)"


def test_what_improved_is_listed_and_a_server_gone_down_regresses(cli, tmp_path):
    with ScriptedServer(KNOWN_BAD) as server:
        baseline = _baseline(cli, tmp_path, server)
        server.behaviour = Behaviour(replies={"EHLO": EHLO, "HELP": b"214 2.0.0 manual\r\n"})
        fixed = cli("run", "ci.yaml", server.target, "--no-report", "--baseline", baseline)
    assert fixed.code == 0
    assert f"  improved: 1\n    ci -> {server.target}: help: fail -> pass\n" in fixed.stderr

    # The server is gone: the same target now refuses connections.
    down = cli("run", "ci.yaml", server.target, "--no-report", "--format", "json")
    assert down.code == 3
    (tmp_path / "down.json").write_text(down.stdout, encoding="utf-8")
    diff = cli("diff", baseline, "down.json")
    assert diff.code == 1
    assert f"    ci -> {server.target}: connect: pass -> error (connect to" in diff.stdout
    back = cli("diff", "down.json", baseline)
    assert back.code == 1  # the known HELP fail is new compared with a server that was down
    assert f"ci -> {server.target}: connect: error -> pass" in back.stdout
    assert f"ci -> {server.target}: help: skip -> fail" in back.stdout


def test_a_baseline_that_is_not_a_report_stops_the_run_before_anything_is_sent(cli, tmp_path):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    (tmp_path / "junk.json").write_text('{"results": []}', encoding="utf-8")
    with ScriptedServer(KNOWN_BAD) as server:
        result = cli("run", "ci.yaml", server.target, "--baseline", "junk.json")
        missing = cli("run", "ci.yaml", server.target, "--baseline", "missing.json")
        assert server.connections == 0
    assert result.code == 2
    assert "--baseline: junk.json: not a report of smtp-probe" in result.stderr
    assert missing.code == 2 and "missing.json: cannot read the report" in missing.stderr
    assert cli("diff", "junk.json", "junk.json").code == 2
