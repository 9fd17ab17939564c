"""One command line and its reply: EHLO, HELO, MAIL, RCPT, RSET, VRFY, EXPN, HELP, NOOP, QUIT,
and `send` (any line, or raw bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.asserter import bare_line_end
from probe.record import replace
from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Level, ReplyCount, Step
from probe.session.commands import Line
from probe.session.state import Mode
from probe.session.timeouts import Phase

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


def play(step: Step, s: Session) -> Play[None]:
    line = s.line(step)
    if line is None:
        return
    if s.model.mode is Mode.MESSAGE:
        # After a 354 to a raw line, raw bytes are message data: their reply ends the data.
        line = replace(line, table="DATA-END")
    if step.replies is not None:
        yield from _counted(step, step.replies, line, s)
        return
    exchange = yield from s.command(line, step)
    findings = s.judge(exchange, step.expect)
    reply = exchange.reply
    if line.table == "QUIT" and reply is not None and s.model.usable:
        # Nothing may follow the reply to QUIT; replies still owed to earlier commands (the sign
        # of a shifted session) show here. After a 221 the server closes (RFC 5321 §4.1.1.10),
        # which ends the wait at once.
        closing = reply.code == 221
        window = s.window()
        if closing:
            window = min(max(window, CLOSE_WAIT), s.limit(Phase.COMMAND, step.timeout))
        findings += yield from s.unsolicited("after the reply to QUIT", window, closing)
        if closing:
            findings += _still_open(s, window)
    s.observe(exchange)
    s.record(step, [exchange], [findings])


def _counted(step: Step, count: ReplyCount, line: Line, s: Session) -> Play[None]:
    """`replies:`: the bytes, then every reply that comes within the counting window, each
    judged against the step's expectation, and their number against the count. With a count
    that allows none, the first reply is not awaited: only the window counts."""
    window = s.count_window(count.within, step.timeout)
    exchange = yield from s.command(line, step, read=count.least > 0)
    exchanges = [exchange]
    counted = exchange.error is None and s.model.usable
    if counted:
        for reply in (yield from s.more_replies(window)):
            more = Exchange(line.table, b"", s.now())
            more.reply = reply
            exchanges.append(more)
    if counted and exchange.reply is None and len(exchanges) > 1:
        # None was awaited: the first reply that came is the reply to the bytes sent.
        exchange.reply = exchanges.pop(1).reply
        exchange.elapsed = s.now() - exchange.started
    replied = [e for e in exchanges if e.reply is not None]
    # A reply line without a code after the probe's own bare CR or LF is the rest of a reply
    # that echoed it (the first part is judged, and warned of, already): not judged again.
    echoed = bare_line_end(exchange.sent)
    findings = [
        s.judge(e, step.expect)
        for e in exchanges
        if (e.reply is not None or not counted)
        and not (echoed and e is not exchange and e.reply is not None and e.reply.code is None)
    ]
    if counted:
        if not findings:
            findings = [[]]
        coded = sum(1 for e in replied if e.reply is not None and e.reply.code is not None)
        findings[-1].append(_count_finding(count, coded, len(replied) - coded, window))
    for e in replied:
        if e is exchanges[0] or (e.reply is not None and e.reply.code == SHUTDOWN):
            s.observe(e)
    s.record(step, exchanges, findings)


def _count_finding(count: ReplyCount, got: int, fragments: int, window: float) -> Finding:
    """The count, judged; lines without a reply code (a reply broken by a bare CR or LF in its
    text, judged as such on their own) are not counted as replies."""
    said = f"{got} repl{'y' if got == 1 else 'ies'} to the bytes sent (counted for {window:g} s)"
    if fragments:
        said += f"; {fragments} more line(s) without a reply code, not counted"
    if count.allows(got):
        return Finding(Verdict.PASS, f"{said}: {count.describe()} expected")
    verdict = {Level.MUST: Verdict.FAIL, Level.SHOULD: Verdict.WARN, Level.INFO: Verdict.INFO}
    return Finding(
        verdict[count.level],
        f"expected {count.describe()} ({count.level}): {said}",
        count.why,
        count.describe(),
    )


def _still_open(s: Session, window: float) -> list[Finding]:
    """After a 221 to QUIT the server MUST close the connection: still open after `window`
    seconds (and the session deadline not the reason the wait ended) is a failure."""
    if not s.connected or s.server_closed or s.past_deadline or not s.model.usable:
        return []
    return [
        Finding(
            Verdict.FAIL,
            f"the server answered 221 to QUIT and had not closed the connection {window:g} s "
            'later: "The receiver MUST send a "221 OK" reply, and then close the transmission '
            'channel."',
            QUIT_SOURCE,
        )
    ]


# The machine imports this module (through the handler table).
from probe.session.machine import CLOSE_WAIT, QUIT_SOURCE, SHUTDOWN  # noqa: E402
