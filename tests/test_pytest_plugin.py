"""The pytest plugin: scenario files collected as tests (inner pytest runs, real aiosmtpd)."""

from __future__ import annotations

import shlex
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import dns_server as z
import pytest
import yaml  # noqa: F401
from conftest import BASIC, ROOT

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
    return [line.decode().rstrip("\r\n") for line in server.received if line.startswith(verb)]


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

    async def planned(targets, config, cache=None):  # type: ignore[no-untyped-def]
        seen["resolver"].append(vars(config))
        return await plan_targets(targets, config, cache)

    def made(scenarios, plans, overrides, environ, all_mx=False, target_vars=None):  # type: ignore[no-untyped-def]
        ports = [p.port for p in plans]
        seen["plan"].append((dict(overrides), all_mx, [dict(v) for v in target_vars or []], ports))
        return make_plan(scenarios, plans, overrides, environ, all_mx, target_vars)

    def ran(plan, options, concurrency=8, on_result=None):  # type: ignore[no-untyped-def]
        seen["run"].append((options, concurrency))
        return RunResult([], options.profile, options.strict, "")

    def applied(run, limits):  # type: ignore[no-untyped-def]
        seen["limits"].append((dict(limits.warn), dict(limits.crit)))

    monkeypatch.setattr(probe.resolve, "plan_targets", planned)
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
    assert handed_over == cli
    assert all(len(value) == 1 for value in cli.values()), cli


def test_var_files_and_the_environment_with_the_clis_precedence(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers import Behaviour, ScriptedServer

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
    result.assert_outcomes(passed=1, warnings=2)
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
    from servers import Behaviour, ScriptedServer, slow

    pytester.makefile(".yaml", basic=BASIC.read_text(encoding="utf-8"))
    common = ("--smtp-var", "domain=example.test")
    with ScriptedServer(Behaviour(greeting=slow(b"220 slow.test ESMTP\r\n", 0.3))) as server:
        warned = run(pytester, "--smtp-target", server.target, *common, "--smtp-warn-ms",
                     "greeting=100", "--smtp-crit-ms", "greeting=5000")  # fmt: skip
        failed = run(pytester, "--smtp-target", server.target, *common,
                     "--smtp-crit-ms", "greeting=100")  # fmt: skip
        within = run(pytester, "--smtp-target", server.target, *common,
                     "--smtp-warn-ms", "greeting=5000", "--smtp-warn-ms", "60000")  # fmt: skip
    warned.assert_outcomes(passed=1, warnings=1)
    warned.stdout.fnmatch_lines(
        [
            "*SmtpProbeWarning: basic -> *: connect: the greeting took * ms, over the warning "
            "threshold of 100 ms (expected at most 100 ms) [[]--smtp-warn-ms greeting=100]"
        ]
    )
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        [
            "*fail: the greeting took * ms, over the critical threshold of 100 ms",
            "*source: --smtp-crit-ms greeting=100",
        ]
    )
    within.assert_outcomes(passed=1)


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
        first.assert_outcomes(passed=1)  # the most preferred MX only: mx1 takes postmaster
        assert [len(r.recipients) for r in recorders.values()] == [1, 0, 0]
        every = run(pytester, *args, "--smtp-all-mx")
    assert [len(r.recipients) for r in recorders.values()] == [2, 1, 1]
    every.assert_outcomes(failed=1)
    every.stdout.fnmatch_lines(
        [f"FAIL  basic -> pref.test (127.0.0.12:{port}, MX 20 mx2.pref.test)*", "*S: 550 5.1.1*"]
    )
