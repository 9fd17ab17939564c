"""The pytest plugin: scenario files collected as tests (inner pytest runs, real aiosmtpd)."""

from __future__ import annotations

import shlex
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import dns_server as z
import junitparser
import pytest
import yaml  # noqa: F401
from conftest import BASIC, ROOT
from servers import Behaviour, ScriptedServer, ehlo

# The inner runs are in-process, and pytester drops the modules a run imported once it ends: a
# module imported again by the next run would mix two generations of classes (PyYAML's C loader
# keeps the first one's, and then no tag has a constructor). Imported here (yaml too), they stay.
import probe.cli
import probe.report.text
import probe.resolve
import probe.scenario
import probe.session.orchestrate
import probe.thresholds
import probe.varfile

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
    result.assert_outcomes(passed=11)  # a test per step
    result.stdout.fnmatch_lines(["basic.yaml .........*"])


def test_one_item_per_step_of_each_scenario_and_target(
    pytester: pytest.Pytester, aiosmtpd_server: str
) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    pytester.makefile(".yml", notes="jobs:\n  build:\n    steps: [checkout]\n")  # not a scenario
    result = run(
        pytester,
        "--collect-only",
        "-q",
        "--smtp-target",
        aiosmtpd_server,
        "--smtp-target",
        "127.0.0.2:1 domain=two.test",
    )
    # Named as the report names the steps: variables bound, as for this target.
    steps = ["connect", "ehlo probe.smtp-probe.invalid", "mail <probe@probe.smtp-probe.invalid>"]
    result.stdout.fnmatch_lines(
        [
            *(f"basic.yaml::basic[[]{aiosmtpd_server}[]]::{step}" for step in steps),
            f"basic.yaml::basic[[]{aiosmtpd_server}[]]::rcpt <postmaster@${{domain}}>",
            "*::quit",
            *(f"basic.yaml::basic[[]127.0.0.2:1 domain=two.test[]]::{step}" for step in steps),
            "basic.yaml::basic[[]127.0.0.2:1 domain=two.test[]]::rcpt <postmaster@two.test>",
            "*::quit",
            "22 tests collected*",
        ]
    )
    result.stdout.no_fnmatch_line("*notes*")
    assert result.ret == pytest.ExitCode.OK


def test_warnings_pass_and_are_reported(pytester: pytest.Pytester, aiosmtpd_server: str) -> None:
    # aiosmtpd accepts `MAIL FROM:<not an address>` and `MAIL FROM:not-an-address` with 250:
    # syntax.yaml's `should` expectations give a warning each.
    pytester.makefile(".yaml", syntax=(ROOT / "scenarios" / "syntax.yaml").read_text("utf-8"))
    result = run(pytester, "--smtp-target", aiosmtpd_server, "-rP")
    result.assert_outcomes(passed=22, warnings=2)  # one test per step of syntax.yaml
    result.stdout.fnmatch_lines(
        ["*syntax.yaml:*: SmtpProbeWarning: syntax -> *: mail *got 250*", "PASS  syntax -> *"]
    )


def test_failed_expectation_fails_with_the_report(
    pytester: pytest.Pytester, aiosmtpd_server: str
) -> None:
    pytester.makefile(".yaml", wrong=FAILING)
    result = run(pytester, "--smtp-target", aiosmtpd_server)
    result.assert_outcomes(failed=1, passed=4)
    result.stdout.fnmatch_lines(
        [
            f"*_ wrong-expectation -> {aiosmtpd_server} › rcpt must refuse _*",
            f"FAIL  wrong-expectation -> {aiosmtpd_server}  [[]4 pass, 1 fail[]]  * ms",
            "      rcpt must refuse: expected 5xx*",
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
    result = run(pytester, "--smtp-target", target, "--smtp-var", "domain=example.test", "-rs")
    result.assert_outcomes(failed=1, skipped=10)  # connect fails; nothing after it could run
    result.stdout.fnmatch_lines(
        [
            f"ERROR  basic -> {target}  *",
            "*Connection refused*",
            "SKIPPED [[]1[]] basic.yaml:22: not connected",  # at the step's line
        ]
    )


def test_null_mx_domain_is_skipped(pytester: pytest.Pytester) -> None:
    import dns_server as z

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with z.dnsmasq_zone() as dns:  # a real DNS server on loopback, serving "MX 0 ."
        result = run(
            pytester, "--smtp-target", z.NULL_MX, "--smtp-nameserver", dns.nameserver, "-rs"
        )
    result.assert_outcomes(skipped=11)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED [[]1[]] basic.yaml:16: basic -> {z.NULL_MX}: no-mail: {z.NULL_MX} accepts "
            "no mail*"
        ]
    )


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
    result.assert_outcomes(passed=22)
    result.stdout.fnmatch_lines(
        [
            f"basic.yaml::basic[[]{a.target} domain=a.example.test sender=ops@a.example.test[]]"
            "::mail <ops@a.example.test> PASSED*",
            f"basic.yaml::basic[[]{b.target} domain=b.example.test[]]::mail <ci@global.test> "
            "PASSED*",
        ]
    )
    assert _sent(a, b"MAIL") == ["MAIL FROM:<ops@a.example.test>"]
    assert _sent(a, b"RCPT") == ["RCPT TO:<postmaster@a.example.test>"]
    assert _sent(b, b"MAIL") == ["MAIL FROM:<ci@global.test>"]
    assert _sent(b, b"RCPT") == ["RCPT TO:<postmaster@b.example.test>"]


def test_smtp_resolve_pins_a_name(pytester: pytest.Pytester) -> None:
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
    result.assert_outcomes(passed=11)
    assert server.connections == 1


def test_unused_variables_are_warnings_not_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as server:
        (pytester.path / "targets.txt").write_text(
            f"# one server\n{server.target} domain=example.test sendr=ops@example.test\n"
        )
        args = ("--smtp-targets", "targets.txt", "--smtp-var", "host=secret-value")
        result = run(pytester, *args, "--junitxml", "junit.xml")
        result.assert_outcomes(passed=11, warnings=2)
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
        assert 'tests="11"' in (pytester.path / "junit.xml").read_text()
        # -W error makes them what a bad option is: a usage error, before anything is sent.
        result = run(pytester, *args, "-W", "error::probe.pytest_plugin.SmtpProbeVariableWarning")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: --smtp-var host=... is declared by no collected*"])
    assert server.connections == 1


# ---- the run options, as `smtp-probe run` has them ------------------------------------------

# `smtp-probe run` options and their values; the plugin's are `--smtp-` and the same name
# (-4 and -6: --smtp-ipv4, --smtp-ipv6).
EVERY_OPTION = shlex.split(
    "--profile standards --strict --timeouts rfc --timeout 7 --connect-timeout 3 --deadline 40 "
    "--max-reply-bytes 1000 --max-reply-lines 20 --settle 0.05 --tls-verify --cafile ca.pem "
    "--cert-days 30 --cert-days-critical 7 --all-mx --no-mx --nameserver 127.0.0.1:5353 "
    "--resolve mx.test:127.0.0.2 --dns-timeout 2 --seed 4 -4 --var-file v.txt --var b=cli-b "
    "--warn-ms greeting=500 --warn-ms 900 --crit-ms 3000 --port 2526"
)


def _plugin_args(cli_args: list[str]) -> list[str]:
    short = {"-4": "--smtp-ipv4", "-6": "--smtp-ipv6"}
    return [short.get(a, "--smtp-" + a[2:] if a.startswith("--") else a) for a in cli_args]


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[object]]:
    """What a run hands the runner: the resolver configuration, the variables and --all-mx
    (make_plan), the run options and concurrency (run_plan), the thresholds. Nothing is sent."""
    from probe.results import RunResult

    seen: dict[str, list[object]] = {"resolver": [], "plan": [], "run": [], "limits": []}
    plan_targets, make_plan = probe.resolve.plan_targets, probe.session.orchestrate.make_plan
    direct_plans = probe.resolve.direct_plans

    async def planned(targets, config, cache=None):  # type: ignore[no-untyped-def]
        seen["resolver"].append(vars(config))
        return await plan_targets(targets, config, cache)

    def direct(targets, config):  # type: ignore[no-untyped-def]
        # Address targets need no lookup: the CLI plans them without plan_targets.
        plans = direct_plans(targets, config)
        if plans is not None:
            seen["resolver"].append(vars(config))
        return plans

    def made(scenarios, plans, overrides, environ, all_mx=False, target_vars=None, **more):  # type: ignore[no-untyped-def]
        ports = [p.port for p in plans]
        seen["plan"].append((dict(overrides), all_mx, [dict(v) for v in target_vars or []], ports))
        return make_plan(scenarios, plans, overrides, environ, all_mx, target_vars, **more)

    def ran(plan, options, concurrency=8, *more, **named):  # type: ignore[no-untyped-def]
        seen["run"].append((options, concurrency))
        return RunResult([], options.profile, options.strict, "")

    def applied(run, limits):  # type: ignore[no-untyped-def]
        seen["limits"].append((dict(limits.warn), dict(limits.crit)))

    monkeypatch.setattr(probe.resolve, "plan_targets", planned)
    monkeypatch.setattr(probe.resolve, "direct_plans", direct)
    monkeypatch.setattr(probe.session.orchestrate, "make_plan", made)
    monkeypatch.setattr(probe.session.orchestrate, "run_plan", ran)
    monkeypatch.setattr(probe.thresholds, "apply", applied)
    return seen


@pytest.mark.parametrize(
    "cli_args",
    [
        [],
        EVERY_OPTION,
        ["--timeouts", "rfc"],  # the deadline follows: 3600 s
        ["--tls", "implicit"],  # the default port follows: 465
        ["-6", "--var", "domain=cli.test"],
    ],
    ids=["defaults", "every-option", "rfc-timeouts", "implicit-tls", "ipv6"],
)
def test_the_runner_gets_what_smtp_probe_run_gives_it(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    handed_over: dict[str, list[object]],
    cli_args: list[str],
) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    pytester.makefile(".txt", v="domain=file.test\nb=file-b\n")
    pytester.makefile(".pem", ca="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.chdir(pytester.path)
    monkeypatch.setenv("SMTP_PROBE_VAR_recipient", "env@example.test")
    pytester.makefile(".txt", t="127.0.0.1 domain=t.test sender=own@example.test")
    probe.cli.main(["run", "basic.yaml", "--targets", "t.txt", "--no-report", *cli_args])
    cli = {key: list(value) for key, value in handed_over.items()}
    for value in handed_over.values():
        value.clear()
    run(pytester, "-p", "no:cacheprovider", "--smtp-targets", "t.txt", *_plugin_args(cli_args))
    # The plugin binds once more while collecting, to name its tests after the steps.
    assert handed_over["plan"][0][1:] == (False, *cli["plan"][0][2:])
    assert {**handed_over, "plan": handed_over["plan"][1:]} == cli
    assert all(len(value) == 1 for value in cli.values()), cli


def test_var_files_and_the_environment_with_the_clis_precedence(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    pytester.makefile(".txt", first="domain=file.test\nsender=first@file.test\nhelo=first.test\n")
    pytester.makefile(".yml", second='sender: second@file.test\nhelo: second.test\nhots: "x"\n')
    monkeypatch.setenv("SMTP_PROBE_VAR_helo", "env.test")
    monkeypatch.setenv("SMTP_PROBE_VAR_recipient", "env@env.test")
    monkeypatch.setenv("SMTP_PROBE_VAR_sendr", "typo-value")
    with ScriptedServer(Behaviour()) as server:
        result = run(
            pytester,
            "--smtp-target",
            server.target,
            "--smtp-var-file",
            "first.txt",
            "--smtp-var-file",
            "second.yml",
            "--smtp-var",
            "recipient=cli@cli.test",
        )
    result.assert_outcomes(passed=11, warnings=2)
    # --smtp-var over the environment over the later file over the earlier one.
    assert _sent(server, b"EHLO") == ["EHLO env.test"]
    assert _sent(server, b"MAIL") == ["MAIL FROM:<second@file.test>"]
    assert _sent(server, b"RCPT") == ["RCPT TO:<cli@cli.test>"]
    result.stdout.fnmatch_lines_random(
        [
            "*SmtpProbeVariableWarning: --smtp-var-file first.txt, second.yml: hots=... is "
            "declared by no collected scenario*",
            "*SmtpProbeVariableWarning: environment: SMTP_PROBE_VAR_sendr=... is declared by no "
            "collected scenario*",
        ]
    )
    result.stdout.no_fnmatch_line("*typo-value*")


def test_a_mistake_in_a_var_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    pytester.makefile(".txt", bad="domain=a.test\nno equals sign\n")
    result = run(pytester, "--smtp-target", "127.0.0.2:1", "--smtp-var-file", "bad.txt")
    result.stderr.fnmatch_lines(["ERROR: bad.txt:2: expected KEY=VALUE, got 'no equals sign'"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_response_time_thresholds_warn_and_fail(pytester: pytest.Pytester) -> None:
    from servers import slow

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    common = ("--smtp-var", "domain=example.test")
    with ScriptedServer(Behaviour(greeting=slow(b"220 slow.test ESMTP\r\n", 0.3))) as server:
        warned = run(pytester, "--smtp-target", server.target, *common, "--smtp-warn-ms",
                     "greeting=100", "--smtp-crit-ms", "greeting=5000")  # fmt: skip
        failed = run(pytester, "--smtp-target", server.target, *common,
                     "--smtp-crit-ms", "greeting=100")  # fmt: skip
        within = run(pytester, "--smtp-target", server.target, *common,
                     "--smtp-warn-ms", "greeting=5000", "--smtp-warn-ms", "60000")  # fmt: skip
    warned.assert_outcomes(passed=11, warnings=1)
    warned.stdout.fnmatch_lines(
        [
            "*SmtpProbeWarning: basic -> *: connect: the greeting took * ms, over the warning "
            "threshold of 100 ms (expected at most 100 ms) [[]--smtp-warn-ms greeting=100]"
        ]
    )
    failed.assert_outcomes(failed=1, passed=10)
    failed.stdout.fnmatch_lines(
        [
            "*fail: the greeting took * ms, over the critical threshold of 100 ms",
            "*source: --smtp-crit-ms greeting=100",
        ]
    )
    within.assert_outcomes(passed=12)  # and the step `session time`


def test_bad_run_options_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    target = ("--smtp-target", "127.0.0.2:1")
    for args, message in [
        (("--smtp-warn-ms", "gretting=5"), "ERROR: --smtp-warn-ms 'gretting=5': unknown phase "
         "'gretting'; did you mean greeting?"),
        (("--smtp-warn-ms", "500", "--smtp-crit-ms", "100"),
         "ERROR: --smtp-warn-ms 500 is above --smtp-crit-ms 100*"),
        (("--smtp-ipv4", "--smtp-ipv6"), "ERROR: --smtp-ipv4 and --smtp-ipv6 exclude each other"),
        (("--smtp-nameserver", "not-an-ip"), "ERROR: --smtp-nameserver: *not-an-ip*"),
        (("--smtp-max-reply-bytes", "0"), "*--smtp-max-reply-bytes: not a positive whole number*"),
        (("--smtp-timeout", "-1"), "*--smtp-timeout: must be between 0 and 86400 seconds*"),
        (("--smtp-tls", "starttls"), "*--smtp-tls: invalid choice: 'starttls'*"),
    ]:  # fmt: skip
        result = run(pytester, *target, *args)
        result.stderr.fnmatch_lines([message])
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args


class _Recorder:
    """An aiosmtpd handler that notes the recipients it was given, and may refuse them."""

    def __init__(self, refuse: bool = False) -> None:
        self.recipients: list[str] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        self.recipients.append(address)
        if self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return "250 2.0.0 queued"


@pytest.fixture
def pref_mx_servers() -> Iterator[tuple[int, dict[str, _Recorder]]]:
    """aiosmtpd on the three MX hosts of pref.test (one port for all); mx2 refuses postmaster."""
    from aiosmtpd.controller import Controller

    addresses = {host: address for host, (address, _) in z.PREF_MX.items()}
    port = _common_port(list(addresses.values()))
    recorders = {host: _Recorder(refuse=host == "mx2.pref.test") for host in addresses}
    with ExitStack() as stack:
        for host, address in addresses.items():
            controller = Controller(recorders[host], hostname=address, port=port)
            controller.start()
            stack.callback(controller.stop)
        yield port, recorders


def _common_port(addresses: list[str]) -> int:
    """A TCP port free on every one of these loopback addresses."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((addresses[0], 0))
            port = first.getsockname()[1]
        try:
            for address in addresses:
                with socket.socket() as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


def test_all_mx_plays_every_mx_host(
    pytester: pytest.Pytester, pref_mx_servers: tuple[int, dict[str, _Recorder]]
) -> None:
    port, recorders = pref_mx_servers
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with z.dnsmasq_zone() as dns:
        args = ("--smtp-target", z.PREF, "--smtp-port", str(port),
                "--smtp-nameserver", dns.nameserver)  # fmt: skip
        first = run(pytester, *args)
        first.assert_outcomes(passed=11)  # the most preferred MX only: mx1 takes postmaster
        assert [len(r.recipients) for r in recorders.values()] == [2, 0, 0]  # two RCPTs
        every = run(pytester, *args, "--smtp-all-mx")
    assert [len(r.recipients) for r in recorders.values()] == [4, 2, 2]
    # A step's test covers every MX host, and fails when the step fails on any of them.
    every.assert_outcomes(passed=9, failed=2)  # on mx2: rcpt <postmaster@...>, <Postmaster>
    every.stdout.fnmatch_lines(
        [
            "*_ basic -> pref.test › rcpt <postmaster@pref.test> _*",
            f"FAIL  basic -> pref.test (127.0.0.12:{port}, MX 20 mx2.pref.test)  [[]*",
            "*S: 550 5.1.1*",
        ]
    )


# ---- pytest's --junitxml, read as CI systems read it ------------------------------------------

CI = """name: ci
steps:
  - connect
  - ehlo: probe.test
  - noop
  - noop
  - rset: {requires: CHUNKING}
  - mail: <probe@[127.0.0.1]>
  - rcpt: {to: postmaster@example.test, expect: 250, why: "RFC 5321 §4.5.1", stop_on_fail: true}
  - quit
"""
# NOOP answered 252 is a warning; CHUNKING is not advertised (the step is not applicable);
# RCPT to postmaster refused is a fail that stops the scenario.
CI_SERVER = Behaviour(
    replies={
        "EHLO": ehlo("PIPELINING", "8BITMIME"),
        "NOOP": b"252 2.0.0 fine\r\n",
        "RCPT": b"550 5.1.1 no such user\r\n",
    }
)


def _cases(path: Path) -> list[tuple[str, str, str, str]]:
    """(classname, name, outcome, message) of every testcase, as junitparser reads them."""
    found = []
    for suite in junitparser.JUnitXml.fromfile(str(path)):
        for case in suite:
            results = list(case.result)
            kinds = {type(r) for r in results}
            outcome = (
                "failed"
                if kinds & {junitparser.Failure, junitparser.Error}
                else "skipped"
                if junitparser.Skipped in kinds
                else "passed"
            )
            message = results[0].message if results else ""
            found.append((case.classname, case.name, outcome, message or ""))
    return found


@pytest.mark.parametrize("xdist", [(), ("-n", "2", "--dist", "loadscope")], ids=["plain", "xdist"])
def test_junitxml_names_steps_as_run_junit_does(
    pytester: pytest.Pytester, cli, xdist: tuple[str, ...]
) -> None:
    from probe.demo import free_port

    scenario = pytester.makefile(".yaml", ci=CI)
    refused = f"127.0.0.1:{free_port()}"
    with ScriptedServer(CI_SERVER) as server:
        by_run = cli("run", str(scenario), server.target, refused, "--no-report",
                     "--junit", str(pytester.path / "run.xml"))  # fmt: skip
        assert by_run.code == 1, by_run.stdout + by_run.stderr
        result = pytester.runpytest_subprocess(
            "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider",
            "--smtp-target", server.target, "--smtp-target", refused,
            "--junitxml", "pytest.xml", *xdist,
        )  # fmt: skip
        assert server.connections == 2  # one session each: every step of pytest's from one
    result.assert_outcomes(passed=5, failed=2, skipped=9)
    xml = pytester.path / "pytest.xml"
    ours, theirs = _cases(xml), _cases(pytester.path / "run.xml")
    assert sorted(ours) == sorted(theirs)
    if not xdist:
        assert ours == theirs  # in the order of the steps, too
    served = [case for case in ours if case[0] == f"ci -> {server.target}"]
    assert [name for _, name, _, _ in served] == [
        "ci › connect",
        "ci › ehlo probe.test",
        "ci › noop",
        "ci › noop",
        "ci › rset",
        "ci › mail <probe@[127.0.0.1]>",
        "ci › rcpt <postmaster@example.test>",
        "ci › quit",
    ]
    assert served[6][2:] == ("failed", "expected 250 (must): got 550")
    assert served[4][2].startswith("skipped") and "not applicable" in served[4][3]

    # A failure's text is the exchange, what was expected and the source, as run --junit has it.
    def failure_text(path: Path) -> str:
        suites = junitparser.JUnitXml.fromfile(str(path))
        rcpt = ("ci › rcpt <postmaster@example.test>", f"ci -> {server.target}")
        case = next(c for s in suites for c in s if (c.name, c.classname) == rcpt)
        return case.result[0].text or ""

    theirs_text = failure_text(pytester.path / "run.xml")
    ours_text = failure_text(xml)
    for line in theirs_text.splitlines()[1:]:  # after "at ci.yaml:9:5"
        assert line.strip() in ours_text
    assert "C: RCPT TO:<postmaster@example.test>" in ours_text


# ---- a test per step: selection, sessions cut short, no service, names -------------------------


def test_k_selects_steps_and_the_session_is_played_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as server:
        args = ("--smtp-target", server.target, "--smtp-var", "domain=example.test", "-v")
        result = run(pytester, *args, "-k", "rcpt or quit")
        result.assert_outcomes(passed=3, deselected=8)
        result.stdout.fnmatch_lines(
            ["*::rcpt <postmaster@example.test> PASSED*", "*::quit PASSED*"]
        )
        assert server.connections == 1
        assert [line.split(b" ")[0].rstrip(b"\r\n") for line in server.received] == [
            b"EHLO",
            b"MAIL",
            b"RCPT",
            b"DATA",
            b"MAIL",  # MAIL FROM:<>, then RCPT TO:<Postmaster>
            b"RCPT",
            b"RSET",
            b"NOOP",
            b"VRFY",
            b"QUIT",
        ]  # fmt: skip  (the whole scenario, for the two steps asked for)
        every = run(pytester, *args, "-k", "basic")
        every.assert_outcomes(passed=11)
        assert server.connections == 2


def test_a_session_cut_short_fails_at_the_first_step_not_played(pytester: pytest.Pytester) -> None:
    from servers import close

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    behaviour = Behaviour(replies={"MAIL": close(b"421 4.3.2 going down\r\n")})
    with ScriptedServer(behaviour) as server:
        result = run(pytester, "--smtp-target", server.target, "--smtp-var", "domain=x.test")
    # The server's verdict is error (the CLI's exit code 3): connect, ehlo and mail passed, the
    # first step it kept from running fails, the others are skipped with the reason.
    result.assert_outcomes(passed=3, failed=1, skipped=7)
    result.stdout.fnmatch_lines(
        [
            f"*_ basic -> {server.target} › rcpt <postmaster@x.test> _*",
            f"ERROR  basic -> {server.target}  [[]3 pass, 8 skip[]]  * ms",
            "      8 step(s) not run: the server shut down the session: 421 4.3.2 going down",
            "  SKIP  rcpt <postmaster@x.test>  (basic.yaml:33:5)",
        ]
    )


def test_no_service_skips_every_step(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    no = b"503 5.5.1 no\r\n"
    refusing = Behaviour(greeting=b"554 5.7.1 no service here\r\n", default=no, data_start=no)
    with ScriptedServer(refusing) as server:
        result = run(pytester, "--smtp-target", server.target, "--smtp-var", "domain=x.test", "-rs")
    result.assert_outcomes(skipped=11)
    result.stdout.fnmatch_lines(
        [f"SKIPPED [[]1[]] basic.yaml:16: basic -> {server.target}: no-service: no service (554)*"]
    )


def test_a_variable_with_no_value_fails_the_first_step_only(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    with ScriptedServer(Behaviour()) as server:
        result = run(pytester, "--smtp-target", server.target, "-rs")
        assert server.connections == 0  # nothing is sent
    result.assert_outcomes(failed=1, skipped=10)
    result.stdout.fnmatch_lines(
        [
            f"*_ basic -> {server.target} › connect _*",
            "basic.yaml:11:3: variable 'domain' has no value; give --smtp-var domain=VALUE",
            "SKIPPED [[]1[]] basic.yaml:22: not run: the scenario could not be bound (see "
            f"basic.yaml::basic[[]{server.target}[]]::connect)",
        ]
    )


def test_a_warning_made_an_error_fails_its_step(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", ci=CI.replace("expect: 250", "expect: 5xx"))
    with ScriptedServer(CI_SERVER) as server:
        result = run(pytester, "--smtp-target", server.target,
                     "-W", "error::probe.pytest_plugin.SmtpProbeWarning")  # fmt: skip
    result.assert_outcomes(passed=5, failed=2, skipped=1)  # the two NOOPs answered 252 fail
    result.stdout.fnmatch_lines(["FAILED ci.yaml::ci[[]*[]]::noop - SmtpProbeWarning: ci -> *"])


SECRET = """name: secret
steps:
  - connect
  - ehlo: probe.test
  - send: "NOOP ${secret:PROBE_TOKEN}"
  - noop: {name: "two\\tparts"}
  - quit
"""


def test_step_names_mask_secrets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBE_TOKEN", "hunter2-token")
    pytester.makefile(".yaml", secret=SECRET)
    with ScriptedServer(Behaviour()) as server:
        listed = run(pytester, "--smtp-target", server.target, "--collect-only", "-q")
        played = run(pytester, "--smtp-target", server.target, "-v", "--junitxml", "j.xml")
        assert b"NOOP hunter2-token\r\n" in server.received  # it was sent
    listed.stdout.fnmatch_lines(
        [f"secret.yaml::secret[[]{server.target}[]]::send NOOP [*][*][*][*]"]
    )
    listed.stdout.fnmatch_lines(["*::two\\x09parts"])  # one line, whatever a name holds
    played.assert_outcomes(passed=5)
    assert "hunter2" not in listed.stdout.str() + played.stdout.str()
    assert "hunter2" not in (pytester.path / "j.xml").read_text()
    assert 'name="secret › send NOOP ****"' in (pytester.path / "j.xml").read_text()
