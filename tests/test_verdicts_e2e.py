"""Verdicts that hold up: each class of the verdicts issue shown through the CLI against a
server of our own on loopback (tests/servers.py) built to show it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from servers import Behaviour, ScriptedServer, ehlo

EHLO = ehlo("PIPELINING", "8BITMIME")


def play(cli, tmp_path: Path, behaviour: Behaviour, steps: str, *options: str) -> tuple[Any, dict]:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + steps, encoding="utf-8")
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--format", "json", "--no-report",
                     "--timeout", "5", *options, timeout=30)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result, result.json()["results"][0]


def step(session: dict, name: str) -> dict:
    return next(s for s in session["steps"] if s["name"] == name)


def fails(step_: dict) -> list[dict]:
    return [f for f in step_["findings"] if f["verdict"] == "fail"]


# ---- 3. the session follows the server ------------------------------------------------------


def test_a_server_that_keeps_the_transaction_across_ehlo_fails_on_rcpt(cli, tmp_path: Path):
    # Our server accepts everything: after the second EHLO there is no transaction, yet RCPT
    # gets 250.
    steps = "  - ehlo: a.test\n  - mail: a@b.test\n  - ehlo: again.test\n  - rcpt: c@d.test\n"
    result, session = play(cli, tmp_path, Behaviour(replies={"EHLO": EHLO}), steps)
    assert result.code == 1
    rcpt = step(session, "rcpt <c@d.test>")
    assert rcpt["verdict"] == "fail"
    assert fails(rcpt)[0]["source"] == "RFC 5321 §3.3"
    assert rcpt["reason"].startswith("RCPT was accepted (250) although no mail transaction")


def test_a_354_to_data_with_no_recipient_fails(cli, tmp_path: Path):
    steps = "  - ehlo: a.test\n  - mail: a@b.test\n  - data: hello\n"
    behaviour = Behaviour(replies={"EHLO": EHLO})
    _, session = play(cli, tmp_path, behaviour, steps)
    data = step(session, "data")
    assert data["verdict"] == "fail" and fails(data)[0]["source"] == "RFC 5321 §4.1.4"


def test_after_a_354_to_a_raw_line_the_session_stops_unless_message_data_follows(
    cli, tmp_path: Path
):
    head = "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n"
    raw_data = "  - send: {raw: 'DATA\\r\\n', as: DATA}\n"
    behaviour = Behaviour(replies={"EHLO": EHLO})
    # A command next: it would be read as message text. The session says so and stops; the
    # server is not blamed (no fail), the scenario was not played through (error).
    result, session = play(cli, tmp_path, behaviour, head + raw_data + "  - noop\n  - quit\n")
    assert result.code == 3
    assert session["verdict"] == "error"
    noop = step(session, "noop")
    assert noop["verdict"] == "skip"
    assert noop["reason"] == (
        "the server is reading message data (it answered 354 to 'DATA'), and step 'noop' is "
        "not message data: the session stops here"
    )
    # Raw message data next: sent, and its reply judged as the end of the data.
    message = "  - send: {raw: 'Subject: x\\r\\n\\r\\nhi\\r\\n.\\r\\n', name: message}\n"
    result, session = play(cli, tmp_path, behaviour, head + raw_data + message + "  - quit\n")
    assert result.code == 0, session
    sent = step(session, "message")
    assert sent["exchanges"][0]["command"] == "DATA-END" and sent["reply"]["code"] == 250
    assert step(session, "quit")["reply"]["code"] == 221


def test_a_quit_with_arguments_refused_501_leaves_the_session_open(cli, tmp_path: Path):
    steps = "  - ehlo: a.test\n  - quit: now\n  - noop\n  - quit\n"
    behaviour = Behaviour(replies={"EHLO": EHLO}, close_after=set())

    behaviour.quit = b"501 5.5.4 QUIT takes no arguments\r\n"
    _, session = play(cli, tmp_path, behaviour, steps)
    quits = [s for s in session["steps"] if s["kind"] == "quit"]
    assert quits[0]["verdict"] == "pass", quits[0]  # 501 is what §4.3.2 asks for
    assert step(session, "noop")["verdict"] == "pass"  # the connection stayed open
    assert quits[1]["reply"]["code"] == 501


# ---- 7. how a session ends ---------------------------------------------------------------------

SHORT = "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n  - quit\n"


def test_an_unprompted_421_shuts_the_session_down_and_nothing_more_is_sent(cli, tmp_path: Path):
    going = b"421 4.3.2 going down\r\n"
    behaviour = Behaviour(replies={"EHLO": EHLO + going}, close_after={"EHLO", "QUIT"})
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + SHORT, encoding="utf-8")
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--format", "json", "--no-report",
                     "--timeout", "5", timeout=30)  # fmt: skip
        received = list(server.received)
    session = result.json()["results"][0]
    assert result.code == 3 and session["verdict"] == "error"
    assert not any(s["verdict"] == "fail" for s in session["steps"])  # a 421 is no fault
    reason = "the server shut down the session: 421 4.3.2 going down"
    assert [s["reason"] for s in session["steps"][2:]] == [reason] * 3
    assert received == [b"EHLO a.test\r\n"]  # nothing was sent after it
    assert session["reason"] == f"3 step(s) not run: {reason}"


def test_a_421_greeting_ends_the_session_without_failing_the_expectation(cli, tmp_path: Path):
    behaviour = Behaviour(greeting=b"421 4.3.2 try later\r\n")
    steps = "  - connect: {expect: 220}\n" + SHORT
    result, session = play(cli, tmp_path, behaviour, steps)
    assert result.code == 3 and session["verdict"] == "error"
    connect = session["steps"][0]
    assert connect["verdict"] == "pass"
    assert any("expectation not judged" in f["message"] for f in connect["findings"])


def test_a_554_greeting_then_503s_and_221_is_a_correct_refusal_of_service(cli, tmp_path: Path):
    from conftest import BASIC

    behaviour = Behaviour(
        greeting=b"554 5.3.2 mx.example.test no service for you\r\n",
        default=b"503 5.5.1 bad sequence of commands\r\n",
        data_start=b"503 5.5.1 bad sequence of commands\r\n",
    )
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(BASIC), server.target, "--var", "domain=example.test",
                     "--format", "json", "--no-report", timeout=30)  # fmt: skip
    session = result.json()["results"][0]
    assert result.code == 3, session
    assert session["verdict"] == "no-service"
    assert session["reason"] == "no service (554): 554 5.3.2 mx.example.test no service for you"
    assert not [s for s in session["steps"] if s["verdict"] == "fail"]
    assert session["steps"][-1]["reply"]["code"] == 221
    with ScriptedServer(behaviour) as server:
        text = cli("run", str(BASIC), server.target, "--var", "domain=example.test",
                   "--no-report", timeout=30)  # fmt: skip
    assert text.stdout.startswith("NO-SERVICE")


def test_a_close_without_421_after_a_reply_is_a_finding_on_that_step(cli, tmp_path: Path):
    behaviour = Behaviour(replies={"EHLO": EHLO}, close_after={"MAIL"})
    # The close and RCPT race (a reset then beats the end of stream): a moment of quiet before
    # RCPT lets the close arrive first, which is what this test is about.
    steps = SHORT.replace("  - rcpt: c@d.test\n", "  - rcpt: {to: c@d.test, settle: 0.3}\n")
    assert steps != SHORT
    _, session = play(cli, tmp_path, behaviour, steps)
    mail = step(session, "mail <a@b.test>")
    assert mail["verdict"] == "warn"
    close = next(f for f in mail["findings"] if "closed the connection" in f["message"])
    assert close["source"] == "RFC 5321 §3.8"
    assert close["message"].startswith("the server closed the connection after its reply to MAIL")
    for name in ("rcpt <c@d.test>", "quit"):
        assert step(session, name)["verdict"] == "skip"
        assert (
            step(session, name)["reason"]
            == "the server closed the connection after 'mail <a@b.test>'"
        )


def test_closing_after_a_500_to_an_unknown_command_fails(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"EHLO": EHLO, "XYZZY": b"500 5.5.2 unknown command\r\n"}, close_after={"XYZZY"}
    )
    # The close and the next command race (a reset then beats the end of stream); a moment of
    # quiet before NOOP lets the close arrive first, which is what this test is about.
    steps = "  - ehlo: a.test\n  - send: XYZZY\n  - noop: {settle: 0.3}\n"
    result, session = play(cli, tmp_path, behaviour, steps)
    assert result.code == 1
    xyzzy = step(session, "send XYZZY")
    assert xyzzy["verdict"] == "fail"
    assert "commands that are not understood is in violation" in xyzzy["reason"]


def _refuse_and_reset(reply: bytes, after: int):
    """Read `after` bytes of the message, send `reply`, then reset the connection."""

    async def message(reader, writer) -> None:
        import socket
        import struct

        await reader.readexactly(after)
        writer.write(reply)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return message


def test_a_reply_sent_before_a_reset_is_read_and_judged(cli, tmp_path: Path):
    # A 552 to a message too large, then a reset while the probe is still sending it: the 552 is
    # what the server said, and it is judged, not lost behind "connection reset".
    behaviour = Behaviour(
        replies={"EHLO": EHLO},
        message=_refuse_and_reset(b"552 5.3.4 message too big\r\n", 65536),
    )
    # Eight megabytes of message, built from variables (a file may hold no more than 256 KiB).
    line = "x" * 998
    steps = (
        "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n"
        "  - data: {body: '${k}${k}${k}${k}${k}${k}${k}${k}', name: big, expect_end: 552}\n"
    )
    head = (
        f"vars:\n  l: \"{line}\\n\"\n  t: '${{l}}${{l}}${{l}}${{l}}${{l}}${{l}}${{l}}${{l}}'\n"
        "  h: '${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}${t}'\n"
        "  k: '${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}${h}'\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n" + head + "steps:\n" + steps, encoding="utf-8")
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--format", "json", "--no-report",
                     "--timeout", "5", timeout=30)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    session = result.json()["results"][0]
    big = step(session, "big")
    end = big["exchanges"][-1]
    assert end["command"] == "DATA-END"
    assert end["reply"] is not None and end["reply"]["code"] == 552, big
    assert big["verdict"] == "pass", big["findings"]


# ---- 4. the probe's own breaches are not the server's fault ---------------------------------


def infos(step_: dict) -> list[str]:
    return [f["message"] for f in step_["findings"] if f["verdict"] == "info"]


def test_pipelining_without_pipelining_offered_never_counts_against_the_server(cli, tmp_path: Path):
    # The server offers no PIPELINING and refuses what arrives pipelined: its refusals were
    # provoked by the probe, so they are reported but counted neither as failures nor as
    # warnings, not even under --strict.
    refusal = b"503 5.5.0 improper command pipelining\r\n"
    behaviour = Behaviour(replies={"EHLO": ehlo("8BITMIME"), "MAIL": refusal, "RCPT": refusal})
    steps = (
        "  - ehlo: a.test\n  - pipeline:\n      - mail: {from: a@b.test, expect: 250}\n"
        "      - rcpt: {to: c@d.test, expect: 250}\n  - quit\n"
    )
    result, session = play(cli, tmp_path, behaviour, steps, "--strict")
    assert result.code == 0, session
    mail = step(session, "mail <a@b.test>")
    assert mail["verdict"] == "pass"
    assert "the probe pipelined commands, and the server did not offer PIPELINING" in infos(mail)
    assert any(m.startswith("provoked by the probe's own breach") for m in infos(mail))


def test_a_step_that_requires_an_extension_is_skipped_as_not_applicable(cli, tmp_path: Path):
    steps = (
        "  - ehlo: a.test\n  - pipeline:\n      requires: PIPELINING\n      steps:\n"
        "        - mail: a@b.test\n        - rcpt: c@d.test\n  - quit\n"
    )
    result, session = play(cli, tmp_path, Behaviour(replies={"EHLO": ehlo("8BITMIME")}), steps)
    assert result.code == 0 and session["verdict"] == "pass", session
    skipped = session["steps"][2]
    assert skipped["verdict"] == "skip"
    assert skipped["reason"] == "not applicable: the server did not advertise PIPELINING"


def test_other_breaches_of_the_probe_are_labelled_and_not_counted(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={
            "EHLO": ehlo("SIZE 1000000"),  # no 8BITMIME, no STARTTLS
            "STARTTLS": b"502 5.5.1 not implemented\r\n",
            "NOOP": b"500 5.5.2 line too long\r\n",
        }
    )
    steps = (
        "  - ehlo: a.test\n  - starttls: {expect: 220}\n"
        f"  - noop: {'x' * 600}\n"
        "  - mail: a@b.test\n  - mail: {from: e@f.test, name: second mail}\n"
        '  - rcpt: c@d.test\n  - data: "Subject: caf\\xe9\\n\\nna\\xefve\\n"\n  - quit\n'
    )
    result, session = play(cli, tmp_path, behaviour, steps, "--strict")
    assert result.code == 0, session
    assert "the probe sent STARTTLS, and the server did not offer STARTTLS" in infos(
        step(session, "starttls")
    )
    noop = next(s for s in session["steps"] if s["kind"] == "noop")
    assert "the probe sent a line over the 512 octets the RFC allows" in infos(noop)
    second = step(session, "second mail")
    assert "the probe sent MAIL inside an open transaction, which a client MUST NOT do" in infos(
        second
    )
    data = step(session, "data")
    assert "the probe sent 8-bit message data, and the server did not offer 8BITMIME" in infos(data)


# ---- 10. addresses sent exactly as written ------------------------------------------------------


def test_exact_sends_a_path_without_angle_brackets(cli, tmp_path: Path):
    steps = (
        "  - ehlo: a.test\n  - mail: {from: not-an-address, exact: true}\n  - rset\n"
        "  - mail: a@b.test\n  - rcpt: {to: 'c@d.test', exact: true}\n"
    )
    behaviour = Behaviour(replies={"EHLO": EHLO})
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + steps, encoding="utf-8")
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--no-report", "-v", timeout=30)
        received = list(server.received)
    assert b"MAIL FROM:not-an-address\r\n" in received
    assert b"RCPT TO:c@d.test\r\n" in received
    assert b"MAIL FROM:<a@b.test>\r\n" in received  # brackets still added without `exact`
    assert "mail not-an-address" in result.stdout


# ---- 1, 2, 6, 8 through the CLI: forms, arguments, duties, EHLO grammar ------------------------


def test_fixed_replies_bind_only_their_form_and_arguments_get_the_should(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"EHLO": EHLO, "NOOP": b"501 5.5.4 no parameters please\r\n"},
    )
    behaviour.quit = b"221 2.0.0 bye\r\n"
    steps = "  - ehlo: a.test\n  - noop: hello\n  - rset: now\n  - quit\n"
    result, session = play(cli, tmp_path, behaviour, steps)
    assert result.code == 0, session  # warnings only: every one a SHOULD
    noop = step(session, "noop hello")
    assert noop["verdict"] == "warn" and "the parameter SHOULD be ignored" in noop["reason"]
    rset = step(session, "rset now")
    assert rset["verdict"] == "warn"
    assert rset["reason"].startswith("RSET with arguments was accepted (250); it SHOULD get 501")
    assert rset["findings"][-1]["source"] == "RFC 5321 §4.3.2"


def test_refusing_postmaster_fails_and_vrfy_502_warns(cli, tmp_path: Path):
    behaviour = Behaviour(
        replies={"EHLO": EHLO, "RCPT": b"550 5.1.1 no such user\r\n", "VRFY": b"502 5.5.1 no\r\n"}
    )
    steps = "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: postmaster\n  - vrfy: postmaster\n"
    result, session = play(cli, tmp_path, behaviour, steps)
    assert result.code == 1
    rcpt = step(session, "rcpt <postmaster>")
    assert rcpt["verdict"] == "fail" and fails(rcpt)[0]["source"] == "RFC 5321 §4.5.1"
    vrfy = step(session, "vrfy postmaster")
    assert vrfy["verdict"] == "warn" and "not in full compliance" in vrfy["reason"]


def test_an_ehlo_reply_breaking_its_grammar_fails(cli, tmp_path: Path):
    bad = b"250-mx.test\r\n250-SIZE lots\r\n250 PIPE_LINING\r\n"
    result, session = play(cli, tmp_path, Behaviour(replies={"EHLO": bad}), "  - ehlo: a.test\n")
    assert result.code == 1
    sources = {f["source"] for f in fails(step(session, "ehlo a.test"))}
    assert sources == {"RFC 5321 §4.1.1.1 (ehlo-keyword)", "RFC 1870 §4 (size-param = [1*DIGIT])"}
