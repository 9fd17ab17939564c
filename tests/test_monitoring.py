"""`run --format nagios` read as Nagios, Icinga and Checkmk read a plugin: the exit code is the
state, the first line `SMTP-PROBE STATE - text | perfdata` is parsed by the plugin guidelines'
grammar (label=value[UOM];[warn];[crit];[min];[max]), and response-time thresholds
(`--warn-ms`, `--crit-ms`) move the state and the perfdata's warn and crit fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BASIC
from servers import Behaviour, ScriptedServer, ehlo, slow

from probe.demo import free_port

STATES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
STATUS = re.compile(r"^SMTP-PROBE (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+?)(?: \| (.*))?$")
# One perfdata item (Nagios plugin development guidelines, "Performance data").
PERF = re.compile(
    r"(?P<label>'[^'=]+'|[^ '=]+)="
    r"(?P<value>-?\d+(?:\.\d+)?)(?P<uom>s|ms|us|%|B|KB|MB|TB|c)?"
    r";(?P<warn>[\d.]*);(?P<crit>[\d.]*);(?P<min>[\d.]*)(?:;(?P<max>[\d.]*))?"
)


@dataclass
class Perf:
    value: float
    uom: str
    warn: str
    crit: str
    minimum: str


@dataclass
class Plugin:
    code: int
    state: str
    text: str
    perf: dict[str, Perf]
    long: list[str]


def plugin(result) -> Plugin:
    """The output as a monitoring system reads it; any line that breaks the grammar fails."""
    first, *long = result.stdout.splitlines()
    match = STATUS.match(first)
    assert match, f"not a plugin status line: {first!r}"
    state, text, perfdata = match.groups()
    perf: dict[str, Perf] = {}
    rest = perfdata or ""
    while rest:
        item = PERF.match(rest)
        assert item, f"bad perfdata at {rest!r}"
        label = item["label"].strip("'")
        assert label not in perf, f"perfdata label {label!r} twice"
        perf[label] = Perf(float(item["value"]), item["uom"] or "", item["warn"], item["crit"],
                           item["min"])  # fmt: skip
        rest = rest[item.end() :]
        assert rest == "" or rest.startswith(" "), f"perfdata items run together: {rest!r}"
        rest = rest.lstrip(" ")
    assert STATES[state] == result.code, f"state {state} but exit code {result.code}"
    assert all("|" not in line for line in long)
    return Plugin(result.code, state, text, perf, long)


STEPS = "name: ci\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - quit\n"


def scenario(tmp_path: Path) -> str:
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    return "ci.yaml"


def test_a_clean_server_is_ok_with_perfdata_per_phase(cli, aiosmtpd_server):
    out = plugin(cli("run", str(BASIC), aiosmtpd_server, "--var", "domain=example.test",
                     "--format", "nagios", "--no-report"))  # fmt: skip
    assert out.state == "OK" and out.code == 0
    assert re.fullmatch(r"basic: 11 pass, \d+ ms", out.text)
    assert list(out.perf) == ["time", "greeting", "ehlo", "mail", "rcpt", "data", "data-end",
                              "rset", "vrfy", "noop", "quit"]  # fmt: skip
    assert all(p.uom == "s" and p.minimum == "0" and not p.warn for p in out.perf.values())
    assert 0 < out.perf["greeting"].value < out.perf["time"].value < 10
    assert out.long[0].startswith(f"PASS basic -> {aiosmtpd_server}: 11 pass")


def test_warnings_fails_and_unreachable_servers_set_the_state(cli, tmp_path):
    name = scenario(tmp_path)
    warned = Behaviour(replies={"EHLO": ehlo("PIPELINING"), "NOOP": b"252 2.0.0 fine\r\n"})
    failed = Behaviour(replies={"EHLO": b"250-a.test\r\n251 PIPELINING\r\n"})
    with ScriptedServer(warned) as warn, ScriptedServer(failed) as fail:
        out = plugin(cli("run", name, warn.target, "--format", "nagios", "--no-report"))
        assert out.state == "WARNING"
        assert out.text.startswith("ci: 3 pass, 1 warn, ")
        assert "(noop: NOOP is to be answered 250, got 252" in out.text

        out = plugin(cli("run", name, fail.target, "--format", "nagios", "--no-report"))
        assert out.state == "CRITICAL"
        assert "ehlo probe.test: line 2 has code 251" in out.text

        with ScriptedServer(Behaviour(greeting=b"554 no|service here\r\n")) as refusing:
            out = plugin(cli("run", name, refusing.target, "--format", "nagios", "--no-report"))
        assert out.state == "CRITICAL"  # a server refusing service does not do its job
        assert "no service (554): 554 no/service here" in out.text  # a | would start perfdata

        refused = f"127.0.0.1:{free_port()}"
        both = cli("run", name, warn.target, refused, "--format", "nagios", "--no-report")
    out = plugin(both)
    assert out.state == "CRITICAL"  # a server that cannot be reached is down
    assert out.text.startswith(f"2 results: 1 pass, 1 error; ci -> {refused}: ")
    assert f"ci@{warn.target} greeting" in out.perf  # each result's labels name it
    assert not [label for label in out.perf if refused in label]  # nothing was timed there
    assert [line.split(" ")[0] for line in out.long] == ["PASS", "ERROR"]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--bogus",), "smtp-probe run: unrecognized arguments: --bogus"),
        (("--warn-ms", "greting=5"), "--warn-ms 'greting=5': unknown phase 'greting'; did you"),
        (("--warn-ms", "500", "--crit-ms", "100"), "--warn-ms 500 is above --crit-ms 100"),
        (("--var", "x"), "--var 'x': expected KEY=VALUE"),
    ],
)
def test_anything_that_stops_the_run_is_unknown_not_critical(cli, tmp_path, args, why):
    out = plugin(cli("run", scenario(tmp_path), "127.0.0.1:1", "--format", "nagios", *args))
    assert (out.state, out.code) == ("UNKNOWN", 3)
    assert out.text.startswith(why)


def test_a_scenario_missing_a_variable_is_unknown(cli):
    out = plugin(cli("run", str(BASIC), "127.0.0.1:1", "--format=nagios"))
    assert out.state == "UNKNOWN"
    assert "variable 'domain' has no value" in out.text


SLOW = Behaviour(greeting=slow(b"220 slow.test ESMTP\r\n", 0.3))


def test_a_slow_greeting_over_the_warning_threshold_is_a_warning(cli, tmp_path):
    name = scenario(tmp_path)
    with ScriptedServer(SLOW) as server:
        out = plugin(cli("run", name, server.target, "--format", "nagios", "--no-report",
                         "--warn-ms", "greeting=100", "--crit-ms", "greeting=5000"))  # fmt: skip
        text = cli("run", name, server.target, "--no-report", "--warn-ms", "greeting=100")
    assert out.state == "WARNING"
    assert re.search(r"connect: the greeting took 3\d\d ms, over the warning threshold of 100 ms",
                     out.text)  # fmt: skip
    greeting = out.perf["greeting"]
    assert (greeting.warn, greeting.crit) == ("0.1", "5")
    assert 0.3 <= greeting.value < 5
    # In the text report: a warn finding naming the figure, the threshold and the option.
    assert text.code == 0
    shown = (
        r"warn: the greeting took 3\d\d ms, over the warning threshold of 100 ms\n"
        r"\s+expected: at most 100 ms\n\s+source: --warn-ms greeting=100"
    )
    assert re.search(shown, text.stdout), text.stdout


def test_over_the_critical_threshold_is_a_fail_and_critical(cli, tmp_path):
    name = scenario(tmp_path)
    with ScriptedServer(SLOW) as server:
        out = plugin(cli("run", name, server.target, "--format", "nagios", "--no-report",
                         "--crit-ms", "200"))  # fmt: skip
        text = cli("run", name, server.target, "--no-report", "--crit-ms", "200",
                   "--format", "json")  # fmt: skip
        fast = plugin(cli("run", name, server.target, "--format", "nagios", "--no-report",
                          "--crit-ms", "5000", "--warn-ms", "greeting=2000"))  # fmt: skip
    assert out.state == "CRITICAL"
    assert "session time: the session took" in out.text
    assert out.perf["time"].crit == "0.2"
    assert text.code == 1  # the usual exit code of a fail
    result = text.json()["results"][0]
    assert result["verdict"] == "fail"
    session = result["steps"][-1]
    assert session["name"] == "session time" and session["verdict"] == "fail"
    assert session["findings"][-1]["source"] == "--crit-ms 200"
    # Within the thresholds: OK, and the session step says so.
    assert fast.state == "OK", fast.text
