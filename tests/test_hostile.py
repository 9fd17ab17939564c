"""Hostile servers, through the CLI as a user runs it: never hang, never crash, never leak.

One behaviour of our scripted server (tests/servers.py) per test. Each run gets short timeouts,
and the subprocess time limit (`timeout=` of the `cli` fixture) is the bound the run must finish
within: the option that should stop it, plus a small margin for starting Python. Every test
checks the verdict, the step it names, the exit code, and that no traceback shows anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from servers import (
    Behaviour,
    ScriptedServer,
    close,
    drip,
    ehlo,
    endless,
    pause,
    reset,
    sequence,
    slow,
)

# Room for starting Python and importing smtp-probe, on top of the timeout that bounds a run.
MARGIN = 5.0

SHORT = """\
name: short
steps:
  - connect
  - ehlo: probe.test
  - mail: a@probe.test
  - rcpt: b@probe.test
  - noop
  - quit
"""

TLS = """\
name: tls
steps:
  - connect
  - ehlo: probe.test
  - starttls
  - ehlo: probe.test
  - quit
"""

# Distinct replies, so a test can tell which command each reply was credited to.
MAIL_OK = b"250 2.1.0 sender ok\r\n"
RCPT_OK = b"250 2.1.5 recipient ok\r\n"
EXTRA = b"250 2.0.0 extra\r\n"


def run(
    cli,
    tmp_path: Path,
    behaviour: Behaviour,
    *options: str,
    limit: float,
    scenario: str = SHORT,
) -> tuple[Any, dict[str, Any]]:
    """Run `scenario` against a scripted server; return the CLI result and the JSON result of
    the one session (read from the report file, which must be valid UTF-8 JSON)."""
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario, encoding="utf-8")
    with ScriptedServer(behaviour) as server:
        result = cli(
            "run",
            str(path),
            server.target,
            "--report-dir",
            "reports",
            *options,
            timeout=limit + MARGIN,
        )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    reports = list((tmp_path / "reports").glob("smtp-probe-*.json"))
    assert len(reports) == 1, output
    assert not list((tmp_path / "reports").glob(".tmp-*"))
    report = json.loads(reports[0].read_bytes().decode("utf-8"))
    assert report["exit_code"] == result.code
    assert len(report["results"]) == 1
    return result, report["results"][0]


def step(session: dict[str, Any], kind: str, nth: int = 0) -> dict[str, Any]:
    return [s for s in session["steps"] if s["kind"] == kind][nth]


def after(session: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The steps after the first step of `kind`."""
    index = next(i for i, s in enumerate(session["steps"]) if s["kind"] == kind)
    return session["steps"][index + 1 :]


def messages(step_: dict[str, Any], verdict: str) -> list[str]:
    return [f["message"] for f in step_["findings"] if f["verdict"] == verdict]


def assert_error_at(result, session: dict[str, Any], kind: str, reason: str) -> dict[str, Any]:
    """The session is an error (exit 3) named after the step of `kind`; the rest was skipped."""
    assert result.code == 3, result.stdout + result.stderr
    assert session["verdict"] == "error"
    bad = step(session, kind)
    assert bad["verdict"] == "error"
    assert reason in bad["reason"], bad["reason"]
    assert session["reason"].startswith(f"{bad['name']}: ")
    assert f"ERROR {bad['name']}" in result.stdout
    assert all(s["verdict"] == "skip" and s["reason"] for s in after(session, kind))
    return bad


# ---- no judgeable reply: error, within the timeout ---------------------------------------------


def test_silence_after_accepting(cli, tmp_path: Path):
    result, session = run(cli, tmp_path, Behaviour(greeting=None), "--timeout", "1", limit=1)
    connect = assert_error_at(result, session, "connect", "no complete reply within 1 s")
    # The phase and the RFC's figure: slower than the budget given, not slower than the RFC.
    assert connect["reason"] == (
        "no complete reply within 1 s (greeting phase; RFC 5321 §4.5.3.2.1 allows the server 5 min)"
    )


def test_silence_after_mail_under_the_rfc_timeouts_with_a_short_deadline(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"MAIL": None})
    options = ("--timeouts", "rfc", "--deadline", "1.5")
    result, session = run(cli, tmp_path, behaviour, *options, limit=1.5)
    assert_error_at(result, session, "mail", "session deadline reached")


def test_a_greeting_dripped_slower_than_the_timeout(cli, tmp_path: Path):
    # 25 bytes at one per 0.3 s would take 7.5 s: the timeout covers the whole reply.
    greeting = drip(b"220 slow.test ESMTP drip\r\n", 0.3)
    result, session = run(cli, tmp_path, Behaviour(greeting=greeting), "--timeout", "1", limit=1)
    connect = assert_error_at(result, session, "connect", "no complete reply within 1 s")
    assert "bytes of an unfinished reply" in connect["reason"]


def test_an_endless_line_stops_at_the_byte_cap(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": endless(b"250 ", b"x")})
    options = ("--timeout", "5", "--max-reply-bytes", "4096")
    result, session = run(cli, tmp_path, behaviour, *options, limit=5)
    assert_error_at(result, session, "ehlo", "reply grew past 4096 bytes")
    assert all(s["reason"].startswith("connection aborted") for s in after(session, "ehlo"))


def test_an_endless_multiline_reply_stops_at_the_lines_cap(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": endless(b"250-broken.test\r\n", b"250-MORE\r\n")})
    options = ("--timeout", "5", "--max-reply-lines", "50")
    result, session = run(cli, tmp_path, behaviour, *options, limit=5)
    assert_error_at(result, session, "ehlo", "reply has more than 50 lines")
    assert all(s["reason"].startswith("connection aborted") for s in after(session, "ehlo"))


def test_a_close_halfway_through_a_reply(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": close(b"250-broken.test\r\n250-PIPELI")})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    assert_error_at(result, session, "ehlo", "connection closed in the middle of a reply")
    assert "the server closed the connection" in step(session, "mail")["reason"]


def test_a_connection_reset(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": reset()})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    ehlo_step = assert_error_at(result, session, "ehlo", "connection lost")
    assert "reset" in ehlo_step["reason"].lower()


def test_a_connection_reset_between_replies(cli, tmp_path: Path):
    # Reset 30 ms after the reply to EHLO: MAIL has gone out by then (no wait before a
    # command), and the reset is what it gets instead of a reply.
    behaviour = Behaviour(replies={"EHLO": sequence(ehlo("PIPELINING"), pause(0.03), reset())})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    assert step(session, "ehlo")["verdict"] == "pass"
    mail = assert_error_at(result, session, "mail", "connection lost")
    assert "reset" in mail["reason"].lower()
    assert {s["reason"] for s in after(session, "mail")} == {
        f"the server closed the connection ({mail['reason']})"
    }


def test_starttls_answered_220_then_garbage_instead_of_a_handshake(cli, tmp_path: Path):
    garbage = sequence(
        b"220 2.0.0 go ahead\r\n", pause(0.05), b"this is not a TLS handshake\r\n" * 20
    )
    behaviour = Behaviour(replies={"EHLO": ehlo("STARTTLS"), "STARTTLS": garbage})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "1", limit=1, scenario=TLS)
    # STARTTLS answered 220, then bytes that are not TLS at all: the record layer's grammar.
    starttls = assert_fail_at(result, session, "starttls", "TLS handshake failed")
    assert starttls["reply"]["code"] == 220  # the reply itself was judged
    assert "then sent bytes that are not TLS records" in starttls["reason"]
    assert {s["verdict"] for s in after(session, "starttls")} == {"skip"}


def test_starttls_answered_220_then_silence_is_bounded_by_the_timeout(cli, tmp_path: Path):
    silent = sequence(b"220 2.0.0 go ahead\r\n", pause(30))
    behaviour = Behaviour(replies={"EHLO": ehlo("STARTTLS"), "STARTTLS": silent})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "1", limit=1, scenario=TLS)
    assert_error_at(result, session, "starttls", "TLS handshake timed out after 1 s")


# ---- broken replies: fail, and the session goes on in step ------------------------------------


def assert_fail_at(result, session: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    assert result.code == 1, result.stdout + result.stderr
    assert session["verdict"] == "fail"
    bad = step(session, kind)
    assert bad["verdict"] == "fail"
    assert any(message in m for m in messages(bad, "fail")), bad["findings"]
    assert session["reason"].startswith(f"{bad['name']}: ")
    assert f"FAIL  {bad['name']}" in result.stdout
    return bad


def test_nul_bytes_and_invalid_utf8_fail_and_the_reports_stay_printable(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"EHLO": b"250-broken.test\x00\xff\xfe\r\n250 OK \xc3\x28 \x1b[31m\r\n"}
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    ehlo_step = assert_fail_at(result, session, "ehlo", "outside HT and 32-126")
    # Shown escaped, not raw: the report and the terminal get printable text only.
    shown = ["250-broken.test\\x00\\xff\\xfe", "250 OK \\xc3( \\x1b[31m"]
    assert ehlo_step["reply"]["lines"] == shown
    for text in [*ehlo_step["reply"]["lines"], *messages(ehlo_step, "fail")]:
        assert text.isprintable(), text
    assert all(ch.isprintable() or ch == "\n" for ch in result.stdout)
    assert all(s["verdict"] == "pass" for s in after(session, "ehlo"))


def test_bare_lf_line_ends_fail(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": b"250-broken.test\n250 PIPELINING\n"})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    ehlo_step = assert_fail_at(result, session, "ehlo", "bare LF")
    assert ehlo_step["reply"]["lines"] == ["250-broken.test", "250 PIPELINING"]
    assert all(s["verdict"] == "pass" for s in after(session, "ehlo"))


def test_different_codes_on_the_lines_of_one_reply_fail(cli, tmp_path: Path):
    behaviour = Behaviour(greeting=b"220-broken.test ESMTP\r\n554 5.3.2 go away\r\n")
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    connect = assert_fail_at(result, session, "connect", "the reply began with 220")
    assert any("RFC 5321 §4.2.1" in f["source"] for f in connect["findings"])


def assert_in_step(session: dict[str, Any]) -> None:
    """Each command was credited with its own reply."""
    assert step(session, "mail")["reply"]["lines"] == [MAIL_OK.decode().strip()]
    assert step(session, "rcpt")["reply"]["lines"] == [RCPT_OK.decode().strip()]
    assert step(session, "noop")["reply"]["lines"] == ["250 2.0.0 OK"]
    assert step(session, "quit")["reply"]["code"] == 221
    assert all(s["verdict"] == "pass" for s in after(session, "mail"))


@pytest.mark.parametrize(
    ("ehlo_reply", "shown"),
    [
        pytest.param(ehlo("PIPELINING") + EXTRA, "250 2.0.0 extra", id="with-the-reply"),
        pytest.param(
            ehlo("PIPELINING") + EXTRA * 100, "250 2.0.0 extra (and 99 more)", id="a-hundred"
        ),
    ],
)
def test_extra_unsolicited_replies_are_reported_and_attribution_stays_right(
    cli, tmp_path: Path, ehlo_reply, shown
):
    behaviour = Behaviour(replies={"EHLO": ehlo_reply, "MAIL": MAIL_OK, "RCPT": RCPT_OK})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    mail = assert_fail_at(result, session, "mail", "unsolicited reply before the command was sent")
    assert messages(mail, "fail") == [
        f"unsolicited reply before the command was sent: {shown}; out of sync: one reply more "
        "than commands sent, so the reply credited to EHLO (250-broken.test (+1 lines)) may be "
        "a late one for an earlier command"
    ]
    assert_in_step(session)


def test_a_late_extra_reply_is_caught_as_out_of_sync_without_a_timer(cli, tmp_path: Path):
    # An extra reply that comes late, after MAIL has gone out (nothing waits before a command):
    # MAIL is credited with it, and the reply that was MAIL's shows up before RCPT. That is
    # caught and called out of sync, and RCPT onwards are credited correctly. The server sends
    # the extra in one write with MAIL's reply, so that "late" does not depend on the machine's
    # speed (in two writes, MAIL's reply could come after RCPT went out).
    behaviour = Behaviour(
        replies={
            "EHLO": ehlo("PIPELINING"),
            "MAIL": EXTRA + MAIL_OK,
            "RCPT": RCPT_OK,
        }
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    rcpt = assert_fail_at(result, session, "rcpt", "unsolicited reply before the command was sent")
    assert messages(rcpt, "fail") == [
        "unsolicited reply before the command was sent: 250 2.1.0 sender ok; out of sync: one "
        "reply more than commands sent, so the reply credited to MAIL (250 2.0.0 extra) may be "
        "a late one for an earlier command"
    ]
    assert step(session, "rcpt")["reply"]["lines"] == [RCPT_OK.decode().strip()]
    assert step(session, "noop")["reply"]["lines"] == ["250 2.0.0 OK"]
    assert step(session, "quit")["reply"]["code"] == 221


def test_a_late_extra_reply_within_a_steps_settle_window_is_credited_to_no_command(
    cli, tmp_path: Path
):
    # A step's `settle:` waits that long before its command: the late reply is caught there.
    mail_step = "  - mail: a@probe.test\n"
    scenario = SHORT.replace(mail_step, mail_step + "    settle: 0.3\n")
    behaviour = Behaviour(
        replies={
            "EHLO": sequence(ehlo("PIPELINING"), pause(0.05), EXTRA),
            "MAIL": MAIL_OK,
            "RCPT": RCPT_OK,
        }
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5, scenario=scenario)
    mail = assert_fail_at(result, session, "mail", "unsolicited reply before the command was sent")
    assert messages(mail, "fail") == [
        "unsolicited reply before the command was sent: 250 2.0.0 extra"
    ]
    assert_in_step(session)


def test_a_reply_sent_before_its_command_is_not_credited_to_it(cli, tmp_path: Path):
    # The server answers MAIL with EHLO's reply, before MAIL is sent, and not again afterwards.
    behaviour = Behaviour(replies={"EHLO": ehlo("PIPELINING") + MAIL_OK, "MAIL": None})
    result, session = run(cli, tmp_path, behaviour, "--timeout", "1", limit=1)
    mail = assert_fail_at(result, session, "mail", "unsolicited reply before the command was sent")
    assert "250 2.1.0 sender ok" in messages(mail, "fail")[0]
    assert mail["reply"] is None
    # It both fails (the unsolicited reply) and errors (no reply of its own): the headline is the
    # fail, and the timeout stays on its exchange.
    assert mail["reason"].startswith("unsolicited reply before the command was sent")
    unasked, sent = mail["exchanges"]  # the reply nobody asked for is in the transcript
    assert unasked["command"] == "UNSOLICITED" and unasked["reply"]["code"] == 250
    assert sent["command"] == "MAIL" and "no complete reply within 1 s" in sent["error"]
    assert all(s["verdict"] == "skip" for s in after(session, "mail"))


def test_a_reply_after_the_reply_to_quit_is_reported(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"MAIL": MAIL_OK, "RCPT": RCPT_OK},
        quit=sequence(b"221 2.0.0 bye\r\n", pause(0.03), b"250 2.0.0 one more thing\r\n"),
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    quit_step = assert_fail_at(result, session, "quit", "unsolicited reply after the reply to QUIT")
    assert quit_step["reply"]["code"] == 221
    assert {s["verdict"] for s in session["steps"][:-1]} == {"pass"}


# ---- valid but awkward: judged, and passing where the server let us finish --------------------


def test_421_mid_session_then_close(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"MAIL": b"421 4.3.2 shutting down\r\n"}, close_after={"MAIL", "QUIT"}
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "5", limit=5)
    mail = step(session, "mail")
    assert mail["reply"]["code"] == 421
    assert mail["verdict"] == "pass"  # 421 is allowed for any command (RFC 5321 §3.8)
    rest = after(session, "mail")
    assert rest and all(s["verdict"] == "skip" for s in rest)
    assert {s["reason"] for s in rest} == {
        "the server shut down the session: 421 4.3.2 shutting down"
    }
    # The 421 itself is fine, but the scenario was not played through: not fully probed.
    assert result.code == 3
    assert session["verdict"] == "error" and session["counts"]["skip"] == len(rest)
    assert session["reason"] == (
        f"{len(rest)} step(s) not run: the server shut down the session: 421 4.3.2 shutting down"
    )


def test_a_slow_but_valid_server_just_inside_the_timeout_passes(cli, tmp_path: Path):
    delay = 1.2  # of a 2 s timeout, for the greeting, EHLO and QUIT (margin for a loaded CI)
    behaviour = Behaviour(
        greeting=slow(b"220 slow.test ESMTP\r\n", delay),
        replies={"EHLO": slow(ehlo("PIPELINING"), delay)},
        quit=slow(b"221 2.0.0 bye\r\n", delay),
    )
    result, session = run(cli, tmp_path, behaviour, "--timeout", "2", limit=5)
    assert result.code == 0, result.stdout + result.stderr
    assert session["verdict"] == "pass"
    assert all(s["verdict"] == "pass" for s in session["steps"])
    assert result.stdout.startswith("PASS")


def test_no_session_outlives_its_deadline(cli, tmp_path: Path):
    # Every reply comes in 0.6 s, inside the 1 s timeout, but 20 steps would take 12 s.
    scenario = "name: long\nsteps:\n  - connect\n  - ehlo: probe.test\n" + "  - noop\n" * 18
    behaviour = Behaviour(
        greeting=slow(b"220 slow.test ESMTP\r\n", 0.6), default=slow(b"250 2.0.0 OK\r\n", 0.6)
    )
    options = ("--timeout", "1", "--deadline", "2")
    result, session = run(cli, tmp_path, behaviour, *options, limit=2, scenario=scenario)
    assert result.code == 3, result.stdout + result.stderr
    steps = session["steps"]
    cut = next(i for i, s in enumerate(steps) if s["verdict"] != "pass")
    assert cut >= 1  # the greeting, at least, was judged
    assert steps[cut]["verdict"] == "error"
    assert steps[cut]["reason"].startswith("session deadline reached")
    assert steps[cut + 1 :] and all(
        s["verdict"] == "skip" and s["reason"] == "session deadline reached"
        for s in steps[cut + 1 :]
    )
    assert session["verdict"] == "error"
    assert "session deadline reached" in session["reason"]
