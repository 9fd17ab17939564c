"""`bdat`: a message in chunks (CHUNKING, RFC 3030 §2): `BDAT <size> [LAST]`, the chunk's octets
right after the command line, one reply per chunk.

Each chunk goes out with its command line in one write and its reply is read before the next
(no pipelining needed). A chunk refused with 4yz/5yz ends the step: "the sender-SMTP MUST NOT
send any additional BDAT segments" (RFC 3030 §2). `expect` judges the reply that ends the step
(the last chunk's, or the refusal); every reply is judged against BDAT's codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.protocol.encode import EscapeError
from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Step
from probe.session.commands import ChunkError, Line, bdat_chunks, bdat_line, bdat_message

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

STOP_SOURCE = "RFC 3030 §2"


def play(step: Step, s: Session) -> Play[None]:
    try:
        chunks = bdat_chunks(step, bdat_message(step))
    except (ChunkError, EscapeError) as exc:
        s.fail_step(step, f"{exc}; nothing was sent")
        return
    exchanges: list[Exchange] = []
    findings: list[list[Finding]] = []
    for index, (chunk, last) in enumerate(chunks):
        data = bdat_line(chunk, last) + chunk
        line = Line(data, "BDAT", data, has_argument=True)
        exchange = yield from s.command(line, step, first=index == 0)
        exchanges.append(exchange)
        final = index == len(chunks) - 1
        refused = exchange.reply is None or not (
            exchange.reply.code is not None and 200 <= exchange.reply.code < 300
        )
        judged = s.judge(exchange, step.expect if final or refused else None)
        s.observe(exchange)
        if last and not refused:
            s.model.end_transaction()  # RFC 3030 §2: the message is complete
        if refused and not final and exchange.reply is not None:
            judged.append(
                Finding(
                    Verdict.PASS,
                    f"{len(chunks) - index - 1} chunk(s) not sent: after a refused chunk the "
                    '"sender-SMTP MUST NOT send any additional BDAT segments"',
                    STOP_SOURCE,
                )
            )
        findings.append(judged)
        if refused or not s.model.usable:
            break
    s.record(step, exchanges, findings)
