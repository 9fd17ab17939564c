"""A newcomer's first commands: the Quick start, --dry-run, list, explain (through the CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import ROOT
from servers import Behaviour, ScriptedServer


def _quickstart() -> list[str]:
    out = subprocess.run(
        ["python3", str(ROOT / ".ci" / "quickstart.py"), str(ROOT / "README.md")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.splitlines()


def test_the_quick_start_is_two_commands_and_ci_runs_exactly_that_block():
    assert _quickstart() == ["./dev demo", "./dev test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "block=$(python3 .ci/quickstart.py README.md)" in ci
    assert 'bash -euo pipefail -c "$block"' in ci
    # `./dev test` runs the tests in parallel, as the README says.
    assert '"$venv/bin/python" -m pytest -n auto "$@"' in (ROOT / "dev").read_text()


def test_dev_explains_itself_and_refuses_unknown_commands_in_one_line():
    shown = subprocess.run([str(ROOT / "dev"), "help"], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "./dev demo" in shown.stdout and "./dev test" in shown.stdout
    wrong = subprocess.run([str(ROOT / "dev"), "dmeo"], capture_output=True, text=True)
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [
        "dev: unknown command 'dmeo' (try: ./dev demo, ./dev test, ./dev lint, ./dev servers, "
        "./dev run)"
    ]


def test_dry_run_lists_each_step_with_variables_bound_and_sends_nothing(cli, tmp_path: Path):
    scenario = tmp_path / "auth.yaml"
    scenario.write_text(
        "name: auth\nvars:\n  domain:\n  who: probe@${domain}\nsteps:\n"
        "  - ehlo: client.${domain}\n"
        "  - auth: {mechanism: PLAIN, username: alice, password: '${env:PW}'}\n"
        "  - mail: ${who}\n"
        "  - rcpt: {to: 'postmaster@${domain}', expect: 250, requires: PIPELINING}\n"
        "  - data: hello\n"
        "  - quit\n"
    )
    with ScriptedServer(Behaviour()) as server:
        result = cli(
            "run", str(scenario), server.target, "--var", "domain=example.test", "--dry-run",
            env={"PW": "hunter2"},
        )  # fmt: skip
        assert server.received == []  # not even a connection's worth of bytes
    assert result.code == 0, result.stderr
    out = result.stdout
    assert f"auth -> {server.target}: would connect to {server.target}" in out
    assert "C: EHLO client.example.test" in out
    assert "C: AUTH PLAIN ****" in out
    assert "hunter2" not in out and "aHVudGVyMg" not in out  # nor its base64 form
    assert "C: MAIL FROM:<probe@example.test>" in out
    assert (
        "4. rcpt <postmaster@example.test>   [expect 250 (must); only if EHLO offers "
        "PIPELINING]" in out
    )
    assert "C: <message data, 10 bytes, after a 354>" in out  # "hello" CRLF "." CRLF
    assert out.rstrip().endswith("nothing was sent")


def test_list_says_what_each_bundled_scenario_needs(cli):
    result = cli("list")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    pipelining = lines.index(next(line for line in lines if line.startswith("pipelining ")))
    assert lines[pipelining + 1].strip() == (
        "needs: --var domain=... (a host-name target gives domain)"
    )
    assert lines[pipelining + 2].strip() == "uses: PIPELINING (steps skip where not advertised)"
    syntax = next(i for i, line in enumerate(lines) if line.startswith("syntax "))
    assert not lines[syntax + 1].startswith(" ")  # syntax needs nothing


def test_explain_covers_enhanced_status_codes(cli):
    result = cli("explain", "5.7.1")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "5.7.1  Delivery not authorized, message refused",
        "  class 5: Permanent Failure (RFC 3463 §2)",
        "  subject 7: Security or Policy Status (RFC 3463 §2)",
        "  defined in: RFC 3463 §3.8 (registry: RFC 5248)",
        "  in a reply: only after a 5xx code (RFC 2034 §4; otherwise a fail)",
    ]
    generic = cli("explain", "X.1.10").stdout
    assert generic.startswith("X.1.10  Recipient address has null MX\n")
    assert "RFC 7505" in generic
    unknown = cli("explain", "4.7.999").stdout
    assert "4.7.999  not in the registry" in unknown
    bad = cli("explain", "5.07.1")
    assert (
        bad.code == 0
        and "not a valid enhanced status code: a sub-code has a leading zero" in bad.stdout
    )


def test_explain_refuses_what_is_no_code_in_one_line(cli):
    result = cli("explain", "55")
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        "smtp-probe: explain: '55' is neither a three-digit reply code (550) nor an enhanced "
        "status code (5.7.1)"
    )


def test_sources_are_readable_names_with_a_description(cli):
    result = cli("explain", "550")
    assert result.code == 0, result.stderr
    assert "seed:" not in result.stdout
    assert "RJK reply codes" in result.stdout.split("Pages cited above")[0]
    legend = result.stdout.split("Pages cited above (vendor and reference lists, not standards):")[
        1
    ]
    assert "  RJK reply codes: RJK's 'SMTP reply codes'" in legend
