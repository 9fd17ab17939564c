"""`run --format tap`, read by a strict TAP version 14 parser (tests/tap14.py): the plan, test
points numbered in order, a subtest per result, SKIP directives, YAML diagnostic blocks that
parse, and `#` escaped in descriptions."""

from __future__ import annotations

import pytest
from servers import Behaviour, ScriptedServer, ehlo
from tap14 import TapError, parse

from probe.demo import free_port

STEPS = """name: ci
steps:
  - connect
  - ehlo: probe.test
  - noop: {name: 'noop #1 \\ back'}
  - mail: probe@probe.test
  - rcpt: {to: postmaster@example.test, expect: 250, stop_on_fail: true}
  - quit
"""
BROKEN = Behaviour(
    replies={
        "EHLO": ehlo("PIPELINING"),
        "NOOP": b"252 2.0.0 fine # not a directive\r\n",
        "RCPT": b"550 5.1.1 no such user\r\n",
    }
)


def test_tap_is_a_subtest_per_result_and_a_test_point_per_step(cli, tmp_path):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    refused = f"127.0.0.1:{free_port()}"
    with (
        ScriptedServer(BROKEN) as server,
        ScriptedServer(Behaviour(greeting=b"554 5.3.2 no service\r\n")) as closed,
    ):
        result = cli("run", "ci.yaml", server.target, refused, closed.target,
                     "--format", "tap", "--no-report")  # fmt: skip
    assert result.code == 1  # the usual exit code
    doc = parse(result.stdout)
    assert doc.plan == 3
    served, down, refusing = doc.tests

    assert (served.ok, served.description) == (False, f"ci -> {server.target}")
    assert served.diagnostics is not None
    assert served.diagnostics["verdict"] == "fail"
    assert served.diagnostics["message"] == (
        "rcpt <postmaster@example.test>: expected 250 (must): got 550"
    )
    steps = served.subtest
    assert steps is not None and steps.plan == 6
    assert [t.description for t in steps.tests] == [
        "connect",
        "ehlo probe.test",
        "noop #1 \\ back",  # escaped in the output, read back as it was named
        "mail <probe@probe.test>",
        "rcpt <postmaster@example.test>",
        "quit",
    ]
    assert [t.ok for t in steps.tests] == [True, True, True, True, False, True]
    noop, rcpt, quit_ = steps.tests[2], steps.tests[4], steps.tests[5]
    assert noop.diagnostics is not None and noop.diagnostics["severity"] == "warn"
    assert "S: 252 2.0.0 fine # not a directive\n" in noop.diagnostics["transcript"]
    assert noop.directive == ""  # a warning passes, with its diagnostics
    assert rcpt.diagnostics is not None
    assert rcpt.diagnostics["severity"] == "fail"
    assert rcpt.diagnostics["at"] == "ci.yaml:7:5"
    assert (
        "C: RCPT TO:<postmaster@example.test>\nS: 550 5.1.1 no such user\n"
        in (rcpt.diagnostics["transcript"])
    )
    assert (quit_.directive, quit_.reason) == (
        "SKIP",
        "stopped after 'rcpt <postmaster@example.test>' (fail)",
    )

    assert (down.ok, down.description) == (False, f"ci -> {refused}")
    assert down.subtest is not None
    first = down.subtest.tests[0]
    assert not first.ok and first.diagnostics is not None
    assert first.diagnostics["severity"] == "error"
    assert all(t.directive == "SKIP" for t in down.subtest.tests[1:])

    # Refused service (a 554 greeting) is not a failure of the checks: the result is skipped.
    assert (refusing.ok, refusing.directive) == (True, "SKIP")
    assert refusing.reason.startswith("no-service: no service (554): 554 5.3.2 no service")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("TAP version 13\n1..0\n", "expected 'TAP version 14'"),
        ("TAP version 14\n1..2\nok 1 - a\n", "plan 1..2 but 1 test points"),
        ("TAP version 14\n1..2\nok 1 - a\nok 3 - b\n", "test point 3, expected 2"),
        ("TAP version 14\n1..1\nok 1 - a # b\n", "not TAP"),
        ("TAP version 14\n1..1\nok 1 - a\n  ---\n  x: [\n  ...\n", "YAML block"),
        (
            "TAP version 14\n1..1\n# Subtest: a\n    1..1\n    not ok 1 - x\nok 1 - a\n",
            "'ok' closes a subtest that failed",
        ),
        ("TAP version 14\n1..1\n# Subtest: a\n    1..1\n    ok 1 - x\nok 1 - b\n", "closes the"),
        ("TAP version 14\n1..1\nfoo\nok 1 - a\n", "not TAP: 'foo'"),
    ],
)
def test_the_tap_parser_refuses_what_tap_14_does_not_allow(text, why):
    with pytest.raises(TapError, match=why):
        parse(text)
