"""`idle`: send nothing for a while and report what the server does about a silent client.

RFC 5321 §3.8 lets a server close the connection "After a timeout, as specified in Section
4.5.3.2, occurs waiting for the client to send a command or data", and lets it send 421 first;
neither is required, so what it did is information. §4.5.3.2.7: "An SMTP server SHOULD have a
timeout of at least 5 minutes while it is awaiting the next command from the sender": a close
before that warns. The wait is the step's own (bounded by the session deadline); nothing is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.protocol.reply import Reply
from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Step
from probe.session.state import EndKind

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

SERVER_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting the next command
# Slack for the time between the server's last read and the start of the wait (the reply to the
# last command in flight, scheduling): a close this much before 5 minutes is still not judged.
SLACK = 10.0
TIMEOUT_SOURCE = "RFC 5321 §3.8, §4.5.3.2"


def play(step: Step, s: Session) -> Play[None]:
    try:
        seconds = float(step.arg or "")
    except ValueError:  # bound steps are checked; kept as a safety net
        s.fail_step(step, f"idle: '{step.arg}' is not a number of seconds")
        return
    if not s.model.usable:
        s.fail_step(step, "idle: no open session to wait in")
        return
    started = s.now()
    replies = yield from s.more_replies(seconds)
    waited = s.now() - started
    exchanges: list[Exchange] = []
    for reply in replies:
        exchange = Exchange("IDLE", b"", started)
        exchange.reply = reply
        exchanges.append(exchange)
    closed = not s.connected or s.server_closed
    findings = _findings(seconds, waited, replies, closed, s.past_deadline)
    for exchange in exchanges:
        s.observe(exchange)  # a 421 ends the session
    if closed and s.model.ended is None:
        s.model.end(
            EndKind.SERVER_CLOSED, f"the server closed the idle connection after {waited:.0f} s"
        )
    s.record(step, exchanges, [findings])


def _findings(
    seconds: float, waited: float, replies: list[Reply], closed: bool, deadline: bool
) -> list[Finding]:
    said = "; ".join(r.display_lines[0][:80] for r in replies if r.display_lines)
    shutdown = any(r.code == 421 for r in replies)
    out: list[Finding] = []
    if closed:
        how = f"with {said} first" if shutdown else "silently (no 421)"
        out.append(
            Finding(
                Verdict.INFO,
                f"the server closed the idle connection after {waited:.0f} s, {how}: RFC 5321 §3.8 "
                "allows closing after a timeout (§4.5.3.2), and a 421 first tells the client why",
                TIMEOUT_SOURCE,
            )
        )
        if waited < SERVER_TIMEOUT - SLACK:
            out.append(
                Finding(
                    Verdict.WARN,
                    f'the server gave up on an idle client after {waited:.0f} s: "An SMTP server '
                    "SHOULD have a timeout of at least 5 minutes while it is awaiting the next "
                    'command from the sender"',
                    "RFC 5321 §4.5.3.2.7",
                )
            )
    elif deadline:
        out.append(
            Finding(
                Verdict.INFO,
                f"the session deadline ended the wait after {waited:.0f} of {seconds:g} s "
                "(--deadline): nothing can be said about the server's timeout",
            )
        )
    else:
        out.append(
            Finding(
                Verdict.INFO,
                f"the connection was still open after {waited:.0f} s idle"
                + (f" (the server said: {said})" if replies else ""),
                TIMEOUT_SOURCE,
            )
        )
    if replies and not shutdown:
        out.append(
            Finding(
                Verdict.INFO,
                f"while the client said nothing the server sent {said}",
                TIMEOUT_SOURCE,
            )
        )
    return out
