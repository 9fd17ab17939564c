"""`auth`: AUTH PLAIN with an initial response, or LOGIN's three lines (RFC 4954)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.results import Exchange, Finding
from probe.scenario.model import Step
from probe.session.commands import auth_lines

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


def play(step: Step, s: Session) -> Play[None]:
    exchanges: list[Exchange] = []
    findings: list[list[Finding]] = []
    lines = auth_lines(step)
    for index, line in enumerate(lines):
        exchange = yield from s.command(line, step)
        exchanges.append(exchange)
        code = exchange.reply.code if exchange.reply else None
        # Each line after the first answers a 334 challenge; anything else ends the exchange.
        final = index == len(lines) - 1 or code != 334
        findings.append(s.judge(exchange, step.expect if final else None))
        s.observe(exchange)
        if final:
            break
    s.record(step, exchanges, findings)
