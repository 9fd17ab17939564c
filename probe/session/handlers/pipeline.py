"""`pipeline`: several commands in one write (RFC 2920), each reply judged by its own command.

After a 354, a pipeline may start with raw bytes: the message content and its end, then the
commands that follow it (RFC 2920 §3.1 allows message content first in a group)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.record import replace
from probe.results import Exchange, Finding, Verdict
from probe.scenario.grammar import DATA_END
from probe.scenario.model import Step, StepKind
from probe.session.handlers.data import message
from probe.session.state import Mode
from probe.session.timeouts import RFC_FIGURES, Phase, phase_of

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


PIPELINING_SOURCE = "RFC 2920 §3.2"
_LOST = Finding(
    Verdict.FAIL,
    "no reply to a command that came in one write with others that were answered: a server "
    'offering PIPELINING "MUST NOT flush or otherwise lose the contents of the TCP input buffer '
    'under any circumstances whatsoever"',
    PIPELINING_SOURCE,
)


def _lost(exchange: Exchange, s: Session, phase: Phase, waited: float) -> bool:
    """The reply to a later member of the write never came, on a connection still open, from a
    server that offered PIPELINING (without it, the write was the probe's breach), though the
    probe waited as long as RFC 5321 §4.5.3.2 gives that reply: a shorter wait cannot tell a lost
    command from a slow server (a tarpit, a DNS check), and stays an error."""
    return (
        exchange.reply is None
        and s.connected
        and not s.past_deadline
        and "PIPELINING" in s.model.facts.extensions
        and (exchange.error or "").startswith("no complete reply")
        and waited >= RFC_FIGURES[phase].seconds
    )


def play(step: Step, s: Session) -> Play[None]:
    members = list(step.steps)
    lines = [s.line(member) for member in members]
    if any(line is None for line in lines):
        return
    if s.model.mode is Mode.MESSAGE and lines[0] is not None:
        # After a 354, raw bytes first in the group are the message content and its end
        # (RFC 2920 §3.1): their reply is the reply to the end of data.
        lines[0] = replace(lines[0], table=DATA_END)
    unsolicited = yield from s.unsolicited("before the command was sent")
    started = s.now()
    batch = Exchange("PIPELINE", b"", started)
    sent = yield from s.send(
        batch, b"".join(line.data for line in lines if line), Phase.COMMAND, step.timeout
    )
    for index, (member, line) in enumerate(zip(members, lines, strict=True)):
        assert line is not None
        exchange = Exchange(line.table, s.mask(line.shown), started)
        exchange.has_argument = line.has_argument
        exchange.pipelined = True  # without PIPELINING offered, the probe's own breach
        if not sent:
            exchange.error = batch.error
        elif s.model.ended:
            exchange.error = f"no reply: {s.model.ended.reason}"
        else:
            yield from s.read_into(exchange, phase_of(line.table), member.timeout or step.timeout)
        exchanges = [exchange]
        findings = [s.judge(exchange, member.expect)]
        phase = phase_of(line.table)
        waited = s.limit(phase, member.timeout or step.timeout)
        if index > 0 and _lost(exchange, s, phase, waited):
            findings[0].append(_LOST)
        if index == 0:
            findings[0] = unsolicited + findings[0]
        s.observe(exchange)
        if member.kind is StepKind.DATA and exchange.reply and exchange.reply.code == 354:
            end, end_findings = yield from message(member, s)
            exchanges.append(end)
            findings.append(end_findings)
        s.record(member, exchanges, findings)
