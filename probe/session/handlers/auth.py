"""`auth`: AUTH with one SASL mechanism (RFC 4954): PLAIN with an initial response, LOGIN,
CRAM-MD5, XOAUTH2, SCRAM-SHA-1 and SCRAM-SHA-256, each 334 challenge answered by
`probe.session.sasl`. Every derived form of the secret is masked before anything is recorded.

`initial_response: false` sends the AUTH line alone, and the initial response after the first
334 (the empty challenge). `respond: LINE` answers the first 334 with LINE instead of the
mechanism (the cancel "*", a line that is not base64): the rules of RFC 4954 §4 about those
lines are the code table's `answers:`; with no 334 to answer, nothing is sent and the step says
the rule could not be seen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.protocol.encode import encode_command
from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Step
from probe.session.commands import Line

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

MAX_ROUNDS = 8  # 334 challenges answered at most: a server that never stops is cancelled


def play(step: Step, s: Session) -> Play[None]:
    # Imported here: hashlib and hmac cost a run without AUTH about 3 ms at start.
    from probe.session.sasl import CANCEL, SaslClient, SaslError

    client = SaslClient(
        step.mechanism or "PLAIN",
        step.username or "",
        step.password or "",
        initial=step.initial_response,
    )
    exchanges: list[Exchange] = []
    findings: list[list[Finding]] = []
    line = client.first()
    s.add_secrets(client.secrets)
    respond = step.respond
    responded = False
    while True:
        exchange = yield from s.command(line, step)
        exchanges.append(exchange)
        reply = exchange.reply
        # Each line after the first answers a 334 challenge; anything else ends the exchange.
        final = reply is None or reply.code != 334 or line.data == CANCEL
        findings.append(s.judge(exchange, step.expect if final else None))
        s.observe(exchange)
        if final or reply is None:
            if respond is not None and len(exchanges) == 1 and reply is not None:
                findings[-1].append(_not_answered(respond, reply.code))
            break
        if len(exchanges) > MAX_ROUNDS:
            findings[-1].append(
                Finding(Verdict.WARN, f"more than {MAX_ROUNDS} challenges; the probe cancelled")
            )
            line = Line(CANCEL, "AUTH", CANCEL)
            continue
        if respond is not None:
            # The scenario's own answer to the first challenge (the cancel "*", a line that is not
            # base64); a further 334 after it is cancelled.
            data = encode_command(respond)
            line, respond, responded = Line(data, "AUTH", data), None, True
            continue
        if responded:
            line = Line(CANCEL, "AUTH", CANCEL)
            continue
        try:
            line = client.respond(reply.lines[-1].text if reply.lines else "")
        except SaslError as exc:
            source = "RFC 5802 §3" if "SCRAM" in str(exc) else "RFC 4954 §4"
            findings[-1].append(Finding(Verdict.FAIL, f"{exc}; the probe cancelled", source))
            line = Line(CANCEL, "AUTH", CANCEL)
        s.add_secrets(client.secrets)
    s.record(step, exchanges, findings)


def _not_answered(respond: str, code: int | None) -> Finding:
    """`respond:` was never sent: the server gave no 334 to answer."""
    return Finding(
        Verdict.INFO,
        f"not applicable: the server answered {code} to the AUTH command, not a 334 challenge, "
        f"so the response {respond!r} was not sent (the rule it tests could not be seen)",
        "RFC 4954 §4",
    )
