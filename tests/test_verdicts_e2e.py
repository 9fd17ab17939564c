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
