"""What each step sends, and what a transcript may show of it (pure: no server needed)."""

from __future__ import annotations

import base64

from probe.scenario.model import Position, Step, StepKind
from probe.session.commands import auth_lines, command_for, message_for, secret_bytes

AT = Position("t.yaml", 1, 1)


def step(kind: StepKind, **fields: object) -> Step:
    return Step(kind, AT, kind.value, **fields)  # type: ignore[arg-type]


def test_mail_and_rcpt_get_angle_brackets_and_parameters():
    mail = command_for(step(StepKind.MAIL, arg="a@example.test", params="SIZE=10"))
    assert (mail.data, mail.table) == (b"MAIL FROM:<a@example.test> SIZE=10\r\n", "MAIL")
    assert command_for(step(StepKind.RCPT, arg="<b@x.test>")).data == b"RCPT TO:<b@x.test>\r\n"
    assert command_for(step(StepKind.MAIL, arg="<>")).data == b"MAIL FROM:<>\r\n"


def test_a_send_line_is_judged_by_its_verb_and_raw_bytes_as_unknown_unless_told():
    assert command_for(step(StepKind.SEND, arg="xyzzy now")).table == "UNKNOWN"
    rset = command_for(step(StepKind.SEND, arg="RSET"))
    assert (rset.table, rset.has_argument) == ("RSET", False)
    assert command_for(step(StepKind.SEND, arg="RSET now")).has_argument
    raw = command_for(step(StepKind.SEND, raw="NOOP\\n"))
    assert (raw.data, raw.table) == (b"NOOP\n", "UNKNOWN")
    assert command_for(step(StepKind.SEND, raw="NOOP\\n", verb="noop")).table == "NOOP"


def test_the_message_is_dot_stuffed_and_terminated():
    assert message_for(step(StepKind.DATA, body=".hidden\nx")) == b"..hidden\r\nx\r\n.\r\n"
    assert message_for(step(StepKind.DATA, raw="x\\r\\n.\\r\\n")) == b"x\r\n.\r\n"


def test_auth_lines_never_show_the_password():
    plain = auth_lines(step(StepKind.AUTH, mechanism="PLAIN", username="u", password="pw"))
    assert plain[0].data == b"AUTH PLAIN " + base64.b64encode(b"\0u\0pw") + b"\r\n"
    assert plain[0].shown == b"AUTH PLAIN ****\r\n"
    login = auth_lines(step(StepKind.AUTH, mechanism="LOGIN", username="u", password="pw"))
    assert [line.data for line in login][1:] == [b"dQ==\r\n", b"cHc=\r\n"]
    assert login[2].shown == b"****\r\n" and b"cHc=" not in b"".join(x.shown for x in login)


def test_secret_forms_include_base64_longest_first():
    forms = secret_bytes(frozenset({"pw", "longer-secret"}))
    assert b"pw" in forms and base64.b64encode(b"pw") in forms
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
