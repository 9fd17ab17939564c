"""End to end through the CLI, against real servers on loopback: aiosmtpd and our broken one."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import BASIC, ROOT
from servers import Behaviour, ScriptedServer, ehlo

from probe.demo import free_port


def _basic_json(cli, behaviour: Behaviour, *extra: str, timeout: float = 60):
    """Run basic.yaml against a scripted server; JSON on stdout, no report file."""
    with ScriptedServer(behaviour) as server:
        return cli(
            "run", str(BASIC), server.target, "--var", "domain=example.test",
            "--format", "json", "--no-report", *extra, timeout=timeout,
        )  # fmt: skip


def _step(report: dict, label_start: str) -> dict:
    steps = report["results"][0]["steps"]
    return next(s for s in steps if s["name"].startswith(label_start))


def test_basic_scenario_passes_against_aiosmtpd(cli, aiosmtpd_server, tmp_path: Path):
    result = cli(
        "run",
        str(BASIC),
        aiosmtpd_server,
        "--var",
        "domain=example.test",
        "--report-dir",
        "reports",
    )
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS")
    reports = list((tmp_path / "reports").glob("smtp-probe-*.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    first = report["results"][0]
    assert first["verdict"] == "pass"
    assert first["target"] == aiosmtpd_server
    kinds = [s["kind"] for s in first["steps"]]
    assert kinds[:3] == ["connect", "ehlo", "mail"] and kinds[-1] == "quit"
    for step in first["steps"]:
        assert {"command", "verdict", "reply", "reason", "elapsed_ms"} <= step.keys()
        assert step["verdict"] in ("pass", "warn")
    assert _step(report, "rcpt")["reply"]["code"] == 250
    assert _step(report, "quit")["reply"]["code"] == 221


def test_json_format_prints_the_report_on_stdout(cli, aiosmtpd_server):
    result = cli(
        "run",
        str(BASIC),
        aiosmtpd_server,
        "--var",
        "domain=example.test",
        "--format",
        "json",
        "--no-report",
    )
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["exit_code"] == 0
    assert report["results"][0]["verdict"] == "pass"


def test_demo_runs_basic_against_its_own_server_and_passes(cli, tmp_path: Path):
    result = cli("demo", "--no-report")
    assert result.code == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout and "basic" in result.stdout


def test_data_answered_250_fails_naming_the_step(cli):
    behaviour = Behaviour(data_start=b"250 2.0.0 OK whatever\r\n")
    result = _basic_json(cli, behaviour)
    assert result.code == 1, result.stdout + result.stderr
    report = result.json()
    assert report["results"][0]["verdict"] == "fail"
    data = _step(report, "data")
    assert data["verdict"] == "fail"
    assert any("DATA can never answer 2xx" in f["message"] for f in data["findings"])
    assert any(f["source"].startswith("RFC 5321") for f in data["findings"])


def test_mixed_codes_in_a_multiline_reply_fail_the_step(cli):
    behaviour = Behaviour(
        replies={"EHLO": b"250-broken.test\r\n251-PIPELINING\r\n250 SIZE 1000\r\n"}
    )
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run", str(BASIC), server.target, "--var", "domain=example.test", "--no-report"
        )
    assert result.code == 1
    assert "FAIL  ehlo" in result.stdout
    assert "RFC 5321 §4.2.1" in result.stdout


def test_quit_answered_250_breaks_the_rfc_must(cli):
    behaviour = Behaviour(replies={"QUIT": b"250 bye\r\n"})
    result = _basic_json(cli, behaviour)
    assert result.code == 1
    quit_step = _step(result.json(), "quit")
    assert quit_step["verdict"] == "fail"
    assert any("§4.1.1.10" in f["source"] for f in quit_step["findings"])


def test_a_silent_server_gives_error_and_exit_3_within_the_timeout(cli):
    result = _basic_json(cli, Behaviour(greeting=None), "--timeout", "1", timeout=20)
    assert result.code == 3, result.stdout + result.stderr
    report = result.json()["results"][0]
    assert report["verdict"] == "error"
    connect = report["steps"][0]
    assert connect["verdict"] == "error"
    assert "no complete reply within 1 s" in connect["reason"]
    assert all(s["verdict"] == "skip" for s in report["steps"][1:])


def test_connection_refused_is_an_error_with_the_reason(cli):
    port = free_port()
    result = cli(
        "run", str(BASIC), f"127.0.0.1:{port}", "--var", "domain=example.test", "--no-report"
    )
    assert result.code == 3
    assert "ERROR" in result.stdout
    assert "refused" in result.stdout.lower()


def test_a_scenario_typo_gives_file_line_col_and_exit_2(cli, tmp_path: Path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: t\nsteps:\n  - connect\n  - ehlo: {domian: x.test}\n")
    result = cli("run", str(bad), "127.0.0.1:1")
    assert result.code == 2
    assert f"{bad}:4:" in result.stderr or "typo.yaml:4:" in result.stderr
    assert "domain" in result.stderr  # the suggestion
    assert "Traceback" not in result.stderr


def test_strict_turns_a_warning_into_a_failure(cli, aiosmtpd_server, tmp_path: Path):
    # aiosmtpd answers HELP with 250, which no document lists for HELP: a warning.
    scenario = tmp_path / "help.yaml"
    scenario.write_text(
        "name: help\nsteps:\n  - connect\n  - ehlo: probe.test\n  - help\n  - quit\n"
    )
    relaxed = cli("run", str(scenario), aiosmtpd_server, "--no-report")
    assert relaxed.code == 0, relaxed.stdout
    assert "WARN  help" in relaxed.stdout
    strict = cli("run", str(scenario), aiosmtpd_server, "--no-report", "--strict")
    assert strict.code == 1
    assert "FAIL  help" in strict.stdout
    # The promoted warning keeps its text: as the step's reason and as the server's headline.
    report = cli("run", str(scenario), aiosmtpd_server, "--format", "json", "--no-report",
                 "--strict").json()  # fmt: skip
    result = report["results"][0]
    help_step = _step(report, "help")
    assert help_step["verdict"] == "fail"
    assert help_step["reason"].startswith("250 to HELP is listed by no document")
    assert result["reason"] == f"help: {help_step['reason']}"


def test_auth_password_never_reaches_output_or_report(cli, tmp_path: Path):
    secret = "s3cr3t-Passw0rd"
    behaviour = Behaviour(
        replies={
            "EHLO": ehlo("AUTH PLAIN LOGIN"),
            "AUTH": b"235 2.7.0 Authentication successful\r\n",
        }
    )
    scenario = tmp_path / "auth.yaml"
    scenario.write_text(
        "name: auth\nsteps:\n  - connect\n  - ehlo: probe.test\n"
        "  - auth: {mechanism: PLAIN, username: alice, password: '${env:PROBE_PASS}'}\n"
        "  - quit\n"
    )
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run",
            str(scenario),
            server.target,
            "-v",
            "--report-dir",
            "reports",
            env={"PROBE_PASS": secret},
        )
        sent = b"".join(server.received)
    assert result.code == 0, result.stdout + result.stderr
    assert b"AUTH PLAIN" in sent  # it really was sent
    report_text = next((tmp_path / "reports").glob("*.json")).read_text()
    import base64

    plain_blob = base64.b64encode(b"\0alice\0" + secret.encode()).decode()
    for text in (result.stdout, result.stderr, report_text):
        assert secret not in text
        assert plain_blob not in text
        assert base64.b64encode(secret.encode()).decode() not in text
    assert "AUTH PLAIN ****" in result.stdout


def test_an_unsolicited_extra_reply_is_reported_not_misattributed(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"NOOP": b"250 2.0.0 OK\r\n250 2.0.0 surprise\r\n"})
    scenario = tmp_path / "noop.yaml"
    scenario.write_text(
        "name: noop\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - rset\n"
    )
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target, "--format", "json", "--no-report")
    assert result.code == 1
    rset = _step(result.json(), "rset")
    assert any("unsolicited" in f["message"] for f in rset["findings"])
    assert rset["reply"]["lines"] == ["250 2.0.0 OK"]


def test_unwritable_report_dir_is_a_clear_error(cli, tmp_path: Path, aiosmtpd_server):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli(
        "run",
        str(BASIC),
        aiosmtpd_server,
        "--var",
        "domain=example.test",
        "--report-dir",
        str(blocker),
    )
    assert result.code == 2
    assert "not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_help_codes_explain_and_schema_answer(cli):
    assert cli("--version").stdout.startswith("smtp-probe ")
    assert "run" in cli("--help").stdout
    codes = cli("codes", "RCPT")
    assert codes.code == 0 and "RFC 5321" in codes.stdout
    assert cli("codes", "FROBNICATE").code == 2
    explain = cli("explain", "354")
    assert explain.code == 0 and "DATA" in explain.stdout
    schema = json.loads(cli("schema").stdout)
    assert "steps" in json.dumps(schema)


def test_validate_accepts_the_bundled_scenarios(cli):
    result = cli("validate", str(ROOT / "scenarios"))
    assert result.code == 0, result.stderr
    assert "basic.yaml: ok" in result.stdout
