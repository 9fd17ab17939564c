"""`run --junit FILE`, read as CI systems read it: validated against a JUnit XML Schema (the
shape of Jenkins' junit-10.xsd, tests/data/junit.xsd) with xmlschema, and parsed with junitparser,
the library GitLab-style tooling uses, for the names, outcomes and texts a CI page shows."""

from __future__ import annotations

from pathlib import Path

import junitparser
import xmlschema
from servers import Behaviour, ScriptedServer, ehlo

from probe.demo import free_port

XSD = Path(__file__).parent / "data" / "junit.xsd"

STEPS = """name: ci
steps:
  - connect
  - ehlo: probe.test
  - noop
  - help
  - mail: probe@probe.test
  - rcpt: {to: postmaster@example.test, expect: 250, why: "RFC 5321 §4.5.1", stop_on_fail: true}
  - quit
"""

# NOOP answered 252 is a warning (§4.1.1.9 has no MUST); a HELP reply holding a control
# character is a fail (and is escaped in reports, never a broken XML file); RCPT to postmaster
# refused is a fail that stops the scenario.
BROKEN = Behaviour(
    replies={
        "EHLO": ehlo("PIPELINING", "8BITMIME"),
        "NOOP": b"252 2.0.0 fine\r\n",
        "HELP": b"214 see\x01manual\r\n",
        "RCPT": b"550 5.1.1 no such user\r\n",
    }
)


def test_junit_needs_its_folder_before_anything_is_sent(cli):
    with ScriptedServer(BROKEN) as server:
        result = cli("run", "basic", server.target, "--junit", "no/such/junit.xml", "--no-report")
        assert server.connections == 0
    assert result.code == 2
    assert "--junit no/such/junit.xml: no such folder no/such" in result.stderr


def test_junit_file_is_valid_against_the_schema(tmp_path: Path, cli):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    refused = f"127.0.0.1:{free_port()}"
    with ScriptedServer(BROKEN) as server:
        result = cli("run", "ci.yaml", server.target, refused, "--junit", "junit.xml",
                     "--no-report")  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr  # the exit code is the usual one
    path = tmp_path / "junit.xml"
    schema = xmlschema.XMLSchema(XSD)
    schema.validate(path)  # raises with the place of the first mistake
    # The schema is not a rubber stamp: a testcase without its name is refused.
    broken = path.read_text(encoding="utf-8").replace('<testcase name="ci › quit"', "<testcase", 1)
    assert not schema.is_valid(broken)

    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == [f"ci -> {server.target}", f"ci -> {refused}"]

    served = suites[f"ci -> {server.target}"]
    cases = {case.name: case for case in served}
    assert list(cases) == [
        "ci › connect",
        "ci › ehlo probe.test",
        "ci › noop",
        "ci › help",
        "ci › mail <probe@probe.test>",
        "ci › rcpt <postmaster@example.test>",
        "ci › quit",
    ]
    assert (served.tests, served.failures, served.errors, served.skipped) == (7, 2, 0, 1)
    assert all(case.classname == f"ci -> {server.target}" for case in served)
    assert cases["ci › connect"].is_passed

    # The failure: the headline as its message; the exchange, what was expected and the source.
    (failure,) = cases["ci › rcpt <postmaster@example.test>"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "expected 250 (must): got 550"
    text = failure.text
    assert "C: RCPT TO:<postmaster@example.test>" in text
    assert "S: 550 5.1.1 no such user" in text
    assert "fail: expected 250 (must): got 550" in text
    assert "source: RFC 5321 §4.5.1" in text  # the scenario's why
    (bad_text,) = cases["ci › help"].result
    assert "S: 214 see\\x01manual" in bad_text.text  # the control character, escaped
    assert "source: RFC 5321 §4.2 (textstring)" in bad_text.text

    # The warning is visible on a passing case; the skipped step says why.
    noop = cases["ci › noop"]
    assert noop.is_passed
    assert "warn: NOOP" in noop.system_out and "S: 252 2.0.0 fine" in noop.system_out
    (skipped,) = cases["ci › quit"].result
    assert isinstance(skipped, junitparser.Skipped)
    assert "stopped after" in skipped.message

    # The server that refused the connection: an error on its first step, the rest skipped.
    down = suites[f"ci -> {refused}"]
    first = next(iter(down))
    (error,) = first.result
    assert isinstance(error, junitparser.Error)
    assert "refused" in error.message
    assert (down.errors, down.skipped) == (1, 6)
