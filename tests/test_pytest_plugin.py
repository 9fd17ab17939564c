"""The pytest plugin: scenario files collected as tests (inner pytest runs, real aiosmtpd)."""

from __future__ import annotations

import pytest
import yaml  # noqa: F401
from conftest import BASIC, ROOT

# The inner runs are in-process, and pytester drops the modules a run imported once it ends: a
# module imported again by the next run would mix two generations of classes (PyYAML's C loader
# keeps the first one's, and then no tag has a constructor). Imported here (yaml too), they stay.
import probe.report.text
import probe.resolve
import probe.scenario
import probe.session.orchestrate  # noqa: F401

pytest_plugins = ["pytester"]

FAILING = """\
name: wrong-expectation
steps:
  - connect
  - ehlo: probe.invalid
  - mail: <probe@probe.invalid>
  - rcpt: <postmaster@example.test>
    name: rcpt must refuse
    expect: 5xx
    why: "this test wants the recipient refused"
  - quit
"""

MALFORMED = """\
name: malformed
steps:
  - connect
  - rcpt:
      to: <postmaster@example.test>
      expect: 250
      colour: blue
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Without hypothesis's plugin: it imports hypothesis afresh in every inner run (1.5 s each).
    return pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:benchmark", *args)


@pytest.fixture(autouse=True)
def _entry_point_active(pytestconfig: pytest.Config) -> None:
    """The inner runs rely on the pytest11 entry point (pip install -e .), as users would."""
    if not pytestconfig.pluginmanager.has_plugin("smtp_probe"):
        pytest.fail("the smtp_probe entry point is not registered: pip install -e '.[test]'")


def test_basic_scenario_passes(pytester: pytest.Pytester, aiosmtpd_server: str) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    result = run(pytester, "--smtp-target", aiosmtpd_server, "--smtp-var", "domain=example.test")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["basic.yaml .*"])


def test_one_item_per_scenario_and_target(pytester: pytest.Pytester, aiosmtpd_server: str) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    pytester.makefile(".yml", notes="jobs:\n  build:\n    steps: [checkout]\n")  # not a scenario
    result = run(
        pytester,
        "--collect-only",
        "-q",
        "--smtp-target",
        aiosmtpd_server,
        "--smtp-target",
        "127.0.0.2:1",
    )
    result.stdout.fnmatch_lines(
        [f"basic.yaml::basic[[]{aiosmtpd_server}[]]", "basic.yaml::basic[[]127.0.0.2:1[]]"]
    )
    result.stdout.no_fnmatch_line("*notes*")
    assert result.ret == pytest.ExitCode.OK


def test_warnings_pass_and_are_reported(pytester: pytest.Pytester, aiosmtpd_server: str) -> None:
    # aiosmtpd accepts `MAIL FROM:<not an address>` and `MAIL FROM:not-an-address` with 250:
    # syntax.yaml's `should` expectations give a warning each.
    pytester.makefile(".yaml", syntax=(ROOT / "scenarios" / "syntax.yaml").read_text("utf-8"))
    result = run(pytester, "--smtp-target", aiosmtpd_server, "-rP")
    result.assert_outcomes(passed=1, warnings=2)
    result.stdout.fnmatch_lines(
        ["*syntax.yaml:*: SmtpProbeWarning: syntax -> *: mail *got 250*", "PASS  syntax -> *"]
    )


def test_failed_expectation_fails_with_the_report(
    pytester: pytest.Pytester, aiosmtpd_server: str
) -> None:
    pytester.makefile(".yaml", wrong=FAILING)
    result = run(pytester, "--smtp-target", aiosmtpd_server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"FAIL  wrong-expectation -> {aiosmtpd_server}  *",
            "  FAIL  rcpt must refuse  (wrong.yaml:6:5)",
            "*S: 250*",
            "*expected 5xx*",
            "*source: this test wants the recipient refused",  # the step's why, once
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


def test_unreachable_target_fails_with_the_reason(pytester: pytest.Pytester) -> None:
    from probe.demo import free_port

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    target = f"127.0.0.1:{free_port()}"
    result = run(pytester, "--smtp-target", target, "--smtp-var", "domain=example.test")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"ERROR  basic -> {target}  *", "*Connection refused*"])


def test_null_mx_domain_is_skipped(pytester: pytest.Pytester) -> None:
    import dns_server as z

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with z.dnsmasq_zone() as dns:  # a real DNS server on loopback, serving "MX 0 ."
        result = run(
            pytester, "--smtp-target", z.NULL_MX, "--smtp-nameserver", dns.nameserver, "-rs"
        )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"SKIPPED *no-mail: {z.NULL_MX} accepts no mail*"])


def test_malformed_scenario_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", broken=MALFORMED)
    result = run(pytester, "--smtp-target", "127.0.0.2:1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR collecting broken.yaml*", "broken.yaml:7:7: unknown key 'colour'*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_without_a_target_yaml_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"), broken=MALFORMED)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_plain.py::test_plain", "1 test collected*"])
    result = run(
        pytester,
    )
    result.assert_outcomes(passed=1)


def test_bad_options_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    result = run(pytester, "--smtp-target", "[::1")
    result.stderr.fnmatch_lines(["ERROR: --smtp-target: bad target*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = run(pytester, "--smtp-target", "127.0.0.2:1 domain")
    result.stderr.fnmatch_lines(["ERROR: --smtp-target: 'domain' is not KEY=VALUE*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makefile(".txt", targets="127.0.0.2:1\n127.0.0.2:2 a=1 a=2\n")
    result = run(pytester, "--smtp-targets", "targets.txt")
    result.stderr.fnmatch_lines(["ERROR: targets.txt:2: variable 'a' is given twice"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makefile(".txt", empty="# nothing yet\n")
    result = run(pytester, "--smtp-targets", "empty.txt")
    result.stderr.fnmatch_lines(["ERROR: --smtp-targets: no targets in empty.txt"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = run(pytester, "--smtp-target", "127.0.0.2:1", "--smtp-resolve", "mx.test")
    result.stderr.fnmatch_lines(["ERROR: --smtp-resolve 'mx.test': expected NAME:IP"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def _sent(server, verb: bytes) -> list[str]:
    # basic's second transaction (MAIL FROM:<>, RCPT TO:<Postmaster>) uses no variable.
    lines = [line.decode().rstrip("\r\n") for line in server.received if line.startswith(verb)]
    return [line for line in lines if line not in ("MAIL FROM:<>", "RCPT TO:<Postmaster>")]


def test_targets_with_variables_of_their_own(pytester: pytest.Pytester) -> None:
    from servers import Behaviour, ScriptedServer

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as a, ScriptedServer(Behaviour()) as b:
        pytester.makefile(
            ".txt", targets=f"{b.target} domain=b.example.test  # sender: --smtp-var\n"
        )
        result = run(
            pytester,
            "-v",
            "--smtp-target",
            f"{a.target} domain=a.example.test sender=ops@a.example.test",
            "--smtp-targets",
            "targets.txt",
            "--smtp-var",
            "sender=ci@global.test",
        )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"basic.yaml::basic[[]{a.target} domain=a.example.test sender=ops@a.example.test[]] "
            "PASSED*",
            f"basic.yaml::basic[[]{b.target} domain=b.example.test[]] PASSED*",
        ]
    )
    assert _sent(a, b"MAIL") == ["MAIL FROM:<ops@a.example.test>"]
    assert _sent(a, b"RCPT") == ["RCPT TO:<postmaster@a.example.test>"]
    assert _sent(b, b"MAIL") == ["MAIL FROM:<ci@global.test>"]
    assert _sent(b, b"RCPT") == ["RCPT TO:<postmaster@b.example.test>"]


def test_smtp_resolve_pins_a_name(pytester: pytest.Pytester) -> None:
    from servers import Behaviour, ScriptedServer

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as server:
        target = f"mail.smtp-probe.invalid:{server.port}"  # .invalid: no resolver knows it
        result = run(
            pytester,
            "--smtp-target",
            f"{target} domain=example.test",
            "--smtp-resolve",
            f"mail.smtp-probe.invalid:{server.host}",
        )
    result.assert_outcomes(passed=1)
    assert server.connections == 1


def test_unused_variables_are_warnings_not_errors(pytester: pytest.Pytester) -> None:
    from servers import Behaviour, ScriptedServer

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as server:
        (pytester.path / "targets.txt").write_text(
            f"# one server\n{server.target} domain=example.test sendr=ops@example.test\n"
        )
        args = ("--smtp-targets", "targets.txt", "--smtp-var", "host=secret-value")
        result = run(pytester, *args, "--junitxml", "junit.xml")
        result.assert_outcomes(passed=1, warnings=2)
        declared = "(basic declares: domain, helo, recipient, sender)"
        result.stdout.fnmatch_lines_random(
            [
                "  --smtp-var:0: SmtpProbeVariableWarning: --smtp-var host=... is declared by no "
                f"collected scenario {declared}",
                "  targets.txt:2: SmtpProbeVariableWarning: targets.txt:2: sendr=... is declared "
                f"by no collected scenario {declared}; did you mean sender?",
            ]
        )
        result.stdout.no_fnmatch_line("*secret-value*")
        assert 'tests="1"' in (pytester.path / "junit.xml").read_text()
        # -W error makes them what a bad option is: a usage error, before anything is sent.
        result = run(pytester, *args, "-W", "error::probe.pytest_plugin.SmtpProbeVariableWarning")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: --smtp-var host=... is declared by no collected*"])
    assert server.connections == 1
