"""`data`: DATA, then (only after a 354) the message and its final dot (RFC 5321 §3.3, §4.1.1.4).

The message goes out in two writes: everything up to the final `.<CRLF>`, a quiet window, then the
final `.<CRLF>`. A server that ended the data early (at a bare `<LF>.<LF>` inside the body, say)
has answered by then, and its reply is reported as what it is instead of being taken for the
reply to the final dot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Step
from probe.session.commands import command_for, message_for
from probe.session.timeouts import Phase

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

FINAL_DOT = b".\r\n"


def play(step: Step, s: Session) -> Play[None]:
    start = yield from s.command(command_for(step), step)
    findings = [s.judge(start, step.expect)]
    exchanges = [start]
    if start.reply is not None and start.reply.code == 354:
        s.observe(start)
        end, end_findings = yield from message(step, s)
        exchanges.append(end)
        findings.append(end_findings)
    elif start.reply is not None:
        s.observe(start)
        # RFC 5321 §3.3: "message data MUST NOT be sent unless a 354 reply is received".
        findings[0].append(
            Finding(
                Verdict.PASS,
                f"no 354, so the message data was not sent (DATA got {start.reply.code})",
                "RFC 5321 §3.3",
            )
        )
    s.record(step, exchanges, findings)


def message(step: Step, s: Session) -> Play[tuple[Exchange, list[Finding]]]:
    """After a 354: send the message data and judge the reply to the final dot."""
    body = message_for(step)
    head, tail = split_final_dot(body)
    end = Exchange("DATA-END", s.mask(body), s.now())
    if (yield from s.send(end, head, Phase.DATA_BLOCK, step.timeout)):
        early = yield from s.unsolicited("before the final dot was sent", s.window())
        s.judge_later(early)
        if not tail or (s.model.usable and (yield from s.send(end, tail, Phase.DATA_BLOCK))):
            yield from s.read_into(end, Phase.DATA_END, step.timeout)
    s.observe(end)  # whatever the reply, the transaction is over
    return end, s.judge(end, step.expect_end)


def split_final_dot(body: bytes) -> tuple[bytes, bytes]:
    """(everything before the final `.<CRLF>`, the final `.<CRLF>`); raw data that does not end
    with `<CRLF>.<CRLF>` goes out whole."""
    if body.endswith(b"\r\n" + FINAL_DOT):
        return body[: -len(FINAL_DOT)], FINAL_DOT
    if body == FINAL_DOT:  # an empty message: no head to send first
        return b"", FINAL_DOT
    return body, b""
