"""Golden verdicts: every bundled scenario against aiosmtpd, Postfix and Exim judges as it did.

Each scenario in scenarios/*.yaml is run the way a user runs it (`python -m probe run SCENARIO
HOST:PORT --format json --no-report`) against a real server on loopback; the report is
normalised (tests/golden_support.py says what is dropped and rewritten, and why) and compared
with tests/golden/SCENARIO-SERVER.json. A difference fails with a unified diff.

After an intended change, rewrite the files and review them with git diff:

    SMTP_PROBE_UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py

Postfix and Exim: skipped where they cannot run, failed instead when
SMTP_PROBE_REQUIRE_SERVERS=1 (as in tests/test_postfix.py and tests/test_exim.py). Each runs once
for this module (one private instance, started on first use).

Exim's replies carry more that changes from run to run than the other two servers' do, and it is
rewritten here, on top of what golden_support rewrites for every server:
- its greeting, "220 mx.example.test ESMTP Exim 4.96 Thu, 03 Dec 2026 10:25:13 +0000": the date
  is golden_support's <DATE>, and the version becomes "Exim <VERSION>" (an alias, as aiosmtpd's
  version is), so that the files do not depend on the Exim that scripts/install-servers unpacked;
- its message ids, "250 OK id=1xZ401-0004j7-1q" (4.96; 4.97 and later write longer ones,
  "id=1rFzFe-00000000Ahy-3Yl4"): "id=<MESSAGE-ID>".
Nothing else differed between runs (compared over repeated runs of every scenario).
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from exim_server import DOMAIN as EXIM_DOMAIN
from exim_server import exim_version
from golden_support import compare, dump, normalise_result
from postfix_server import DOMAIN
from tls_servers import PASSWORD as AUTH_PASSWORD
from tls_servers import USER as AUTH_USER

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
SERVERS = ("aiosmtpd", "postfix", "exim")
FIXTURES = {"aiosmtpd": "aiosmtpd_server", "postfix": "postfix_target", "exim": "exim_target"}
# AUTH against a real MTA: the private Exim with its own authenticators (PLAIN, LOGIN, CRAM-MD5,
# inside TLS; tests/exim_server.py), as an MX offering AUTH for auth.yaml and as a submission
# server (MAIL refused before AUTH) for submission.yaml. The credentials below are its user's.
AUTH_RUNS = {
    ("auth", "exim-auth"): "exim_auth_target",
    ("submission", "exim-submission"): "exim_submission_target",
}
# Variables given to the scenarios that declare them (the domain Postfix and Exim receive mail
# for, as in tests/test_postfix.py and tests/test_exim.py; aiosmtpd's Sink takes anything).
VARS = {"domain": DOMAIN}
assert EXIM_DOMAIN == DOMAIN, "one domain variable serves both Postfix and Exim"
# The AUTH scenarios' credentials (auth, submission): a user name, the password from the
# environment. These three servers offer no AUTH, so the steps with credentials are skipped (the
# exchange rules go out with dummy ones); the Exim of AUTH_RUNS holds this user.
VARS["username"] = AUTH_USER
ENVIRON = {"SMTP_PROBE_PASSWORD": AUTH_PASSWORD}
# Exim's message ids: 6-6-2 base-62 characters up to 4.96, 6-11-4 from 4.97.
_EXIM_MESSAGE_ID = re.compile(r"\b(id=)[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\b")
UPDATE = os.environ.get("SMTP_PROBE_UPDATE_GOLDEN") == "1"
CLI_TIMEOUT = 120  # seconds for one run; a session takes about a second (the 0.1 s settle)


def golden_path(scenario: Path, server: str) -> Path:
    return GOLDEN / f"{scenario.stem}-{server}.json"


def _aliases(server: str) -> dict[str, str]:
    """Strings that depend on the machine rather than on the run: see golden_support."""
    if server.startswith("exim"):
        # The greeting names the version ("ESMTP Exim 4.96 <DATE>"); the host name is the
        # private instance's primary_hostname, fixed by its configuration.
        return {f"Exim {exim_version()}": "Exim <VERSION>"}
    if server != "aiosmtpd":
        return {}  # the private Postfix's names are fixed by its main.cf
    from aiosmtpd.smtp import __ident__  # "Python SMTP 1.4.6"

    # aiosmtpd greets and answers EHLO with socket.getfqdn(), and puts its version in the greeting.
    return {socket.getfqdn(): "<HOSTNAME>", __ident__: "Python SMTP <VERSION>"}


def _without_message_ids(value: Any) -> Any:
    """`value` (a JSON report, or any part of one) with Exim's message ids rewritten."""
    if isinstance(value, str):
        return _EXIM_MESSAGE_ID.sub(r"\1<MESSAGE-ID>", value)
    if isinstance(value, list):
        return [_without_message_ids(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_message_ids(v) for k, v in value.items()}
    return value


def _var_args(scenario: Path) -> list[str]:
    declared = (yaml.safe_load(scenario.read_text(encoding="utf-8")) or {}).get("vars") or {}
    args: list[str] = []
    for name, value in VARS.items():
        if name in declared:  # the CLI refuses a --var the scenario does not declare
            args += ["--var", f"{name}={value}"]
    return args


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_verdicts_match_golden(scenario: Path, server: str, cli, request: pytest.FixtureRequest):
    check_golden(scenario, server, request.getfixturevalue(FIXTURES[server]), cli)


@pytest.mark.parametrize(("name", "server"), tuple(AUTH_RUNS), ids="-".join)
def test_auth_verdicts_against_exim_with_authenticators_match_golden(
    name: str, server: str, cli, request: pytest.FixtureRequest
):
    target = request.getfixturevalue(AUTH_RUNS[name, server])
    check_golden(ROOT / "scenarios" / f"{name}.yaml", server, target, cli)


def check_golden(scenario: Path, server: str, target: str, cli: Any) -> None:
    args = ["run", str(scenario), target, *_var_args(scenario), "--format", "json", "--no-report"]
    run = cli(*args, timeout=CLI_TIMEOUT, env=ENVIRON)
    context = f"smtp-probe {' '.join(args)}\nexit code {run.code}\n--- stderr ---\n{run.stderr}"
    # A judged run (0 passed, 1 something failed): not a usage error, unreachable server or crash.
    assert run.code in (0, 1), f"{context}\n--- stdout ---\n{run.stdout}"
    assert "Traceback" not in run.stderr, context
    report = run.json()
    assert report["exit_code"] == run.code, context

    if server.startswith("exim"):
        report = _without_message_ids(report)
    actual = dump(normalise_result(report, target, _aliases(server)))
    path = golden_path(scenario, server)
    if UPDATE:
        changed = not path.is_file() or path.read_text(encoding="utf-8") != actual
        if changed:
            path.parent.mkdir(exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        pytest.skip(f"SMTP_PROBE_UPDATE_GOLDEN=1: {'rewrote' if changed else 'unchanged'} {path}")
    problem = compare(actual, path)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def test_no_stray_golden_files():
    """Every golden file belongs to a bundled scenario x server (a removed scenario's goes too)."""
    expected = {golden_path(s, server).name for s in SCENARIOS for server in SERVERS}
    expected |= {f"{name}-{server}.json" for name, server in AUTH_RUNS}
    present = {p.name for p in GOLDEN.glob("*.json")}
    assert not present - expected, f"golden files with no scenario: {sorted(present - expected)}"


@pytest.mark.parametrize("server", SERVERS)
def test_the_whole_library_runs_as_one_folder_with_no_error(
    request: pytest.FixtureRequest, cli, server: str
):
    """`smtp-probe run scenarios/ TARGET --var domain=...`: every bundled scenario in one run, no
    error verdict, no traceback, and each scenario's verdict the one its golden file holds."""
    target = request.getfixturevalue(FIXTURES[server])
    args = [a for name, value in VARS.items() for a in ("--var", f"{name}={value}")]
    run = cli("run", str(ROOT / "scenarios"), target, *args, "--format", "json", "--no-report",
              env=ENVIRON, timeout=CLI_TIMEOUT * 3)  # fmt: skip
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(run.stdout)["results"]
    assert sorted(r["scenario"] for r in results) == sorted(p.stem for p in SCENARIOS)
    for result in results:
        assert result["verdict"] not in ("error", "no-service"), (
            result["scenario"],
            result["reason"],
        )
        golden = json.loads(golden_path(ROOT / f"{result['scenario']}.yaml", server).read_text())
        assert result["verdict"] == golden["verdict"], result["scenario"]
