"""`starttls`: STARTTLS and, after a 220, the TLS handshake (RFC 3207)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.results import Finding, Verdict
from probe.scenario.model import Step
from probe.session.commands import command_for
from probe.session.state import DEADLINE_REACHED, EndKind

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


def play(step: Step, s: Session) -> Play[None]:
    exchange = yield from s.command(command_for(step), step)
    findings = s.judge(exchange, step.expect)
    s.observe(exchange)
    if exchange.reply is not None and exchange.reply.code == 220 and s.model.usable:
        yield from s.take_arrived()
        if s.buffered:
            # Plaintext after the 220 would be read as if it came over TLS by a careless client
            # (the STARTTLS injection flaw); RFC 3207 §4.2 discards it, and so do we.
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"the server sent {s.buffered} bytes after its 220 to STARTTLS, before the "
                    "TLS handshake; they were discarded",
                    "RFC 3207 §4, §4.2",
                )
            )
        failure = yield from s.start_tls()
        if failure is not None:
            findings.append(Finding(Verdict.ERROR, failure, "RFC 3207 §4"))
            if failure == DEADLINE_REACHED:
                s.model.end(EndKind.DEADLINE, DEADLINE_REACHED)
            else:
                s.model.end(EndKind.TLS_FAILED, "TLS handshake failed")
        else:
            findings.append(Finding(Verdict.PASS, f"TLS established ({s.model.tls_version})"))
    s.record(step, [exchange], [findings])
