"""One command line and its reply: EHLO, HELO, MAIL, RCPT, RSET, VRFY, EXPN, HELP, NOOP, QUIT,
and `send` (any line, or raw bytes)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from probe.scenario.model import Step
from probe.session.state import Mode

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


def play(step: Step, s: Session) -> Play[None]:
    line = s.line(step)
    if line is None:
        return
    if s.model.mode is Mode.MESSAGE:
        # After a 354 to a raw line, raw bytes are message data: their reply ends the data.
        line = replace(line, table="DATA-END")
    exchange = yield from s.command(line, step)
    findings = s.judge(exchange, step.expect)
    reply = exchange.reply
    if line.table == "QUIT" and reply is not None and s.model.usable:
        # Nothing may follow the reply to QUIT; replies still owed to earlier commands (the sign
        # of a shifted session) show here. After a 221 the server closes (RFC 5321 §4.1.1.10),
        # which ends the wait at once.
        closing = reply.code == 221
        window = max(s.window(), CLOSE_WAIT) if closing else s.window()
        findings += yield from s.unsolicited("after the reply to QUIT", window, closing)
    s.observe(exchange)
    s.record(step, [exchange], [findings])


from probe.session.machine import CLOSE_WAIT  # noqa: E402  (the machine imports this module)
