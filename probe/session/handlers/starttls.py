"""`starttls`: STARTTLS and, after a 220, the TLS handshake (RFC 3207).

With `legacy_tls: true` the handshake after the 220 offers only TLS 1.0 and 1.1 (RFC 8996,
`probe.session.legacy_tls`), and the connection is closed after it.

With `inject: COMMAND` the command goes out in the same write as STARTTLS (the plaintext
injection test, CVE-2011-0411): a server that keeps it in its buffer and answers it inside the
TLS session has mixed plaintext into the protected session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.protocol.encode import encode_command
from probe.results import Finding, Verdict
from probe.scenario.model import Step
from probe.session import legacy_tls
from probe.session.commands import Line, command_for
from probe.session.state import DEADLINE_REACHED, EndKind

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

# How long, at least, to wait after the handshake for an answer to the injected command: a server
# that kept it answers as soon as the handshake is over.
INJECT_WINDOW_MIN = 0.05
HANDSHAKE_FAILED = "TLS handshake failed"
# OpenSSL's words when the peer's bytes are not TLS records at all.
NOT_TLS = (
    "wrong version number",
    "record layer failure",
    "packet length too long",
    "unexpected message",
    "http request",
    "unknown protocol",
)
INJECTION_SOURCE = "RFC 3207 §4.2 (CVE-2011-0411)"


def play(step: Step, s: Session) -> Play[None]:
    advertised = "STARTTLS" in s.model.facts.extensions
    if step.legacy_tls and (why := legacy_tls.unavailable()):
        s.not_applicable(step, why)  # before STARTTLS: nothing is sent
        return
    line = command_for(step)
    if step.inject is not None:
        data = line.data + encode_command(step.inject)
        line = Line(data, line.table, data)
    exchange = yield from s.command(line, step)
    findings = s.judge(exchange, step.expect)
    if step.inject is not None:
        findings.insert(
            0,
            Finding(
                Verdict.INFO,
                f"the probe sent {step.inject!r} in the same write as STARTTLS, which a client "
                "MUST NOT do (it must start the handshake before any other command): the "
                "injection test, never counted against the server",
                "RFC 3207 §4",
                topic="probe",
            ),
        )
    s.observe(exchange)
    if exchange.reply is not None and exchange.reply.code == 220 and s.model.usable:
        if step.legacy_tls:
            yield from s.take_arrived()
            findings.append((yield from s.legacy_handshake()))
        else:
            findings += yield from _handshake(step, s, advertised)
    s.record(step, [exchange], [findings])


def _handshake(step: Step, s: Session, advertised: bool) -> Play[list[Finding]]:
    findings: list[Finding] = []
    yield from s.take_arrived()
    if s.buffered:
        if step.inject is not None:
            # Most likely the plaintext answer to the injected command: provoked by the probe.
            findings.append(
                Finding(
                    Verdict.INFO,
                    f"provoked by the probe's own breach, not counted: the server sent "
                    f"{s.buffered} bytes after its 220 to STARTTLS, before the TLS handshake "
                    "(an answer to the injected command in plaintext); they were discarded",
                    "RFC 3207 §4.2",
                )
            )
        else:
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
        findings.append(_handshake_failure(failure, step, advertised))
        if failure == DEADLINE_REACHED:
            s.model.end(EndKind.DEADLINE, DEADLINE_REACHED)
        else:
            s.model.end(EndKind.TLS_FAILED, HANDSHAKE_FAILED)
        return findings
    findings.append(Finding(Verdict.PASS, f"TLS established ({s.model.tls_version})"))
    findings += s.tls_findings()
    if step.inject is not None:
        window = max(INJECT_WINDOW_MIN, s.end_window())
        answered = yield from s.unsolicited(
            "after the TLS handshake",
            window,
            explain=(
                f"the server answered {step.inject!r}, which it received in plaintext before "
                'the handshake, inside the TLS session (STARTTLS command injection): "The '
                "server MUST discard any knowledge obtained from the client ... which was not "
                'obtained from the TLS negotiation itself"'
            ),
            source=INJECTION_SOURCE,
        )
        findings += answered
        if not answered:
            findings.append(
                Finding(
                    Verdict.PASS,
                    f"the server did not answer {step.inject!r} inside the TLS session: the "
                    "plaintext sent before the handshake was discarded",
                    INJECTION_SOURCE,
                )
            )
    return findings


def _handshake_failure(failure: str, step: Step, advertised: bool) -> Finding:
    """A handshake that failed after a 220: the server's fault when it advertised STARTTLS and the
    probe did nothing outside the protocol; otherwise the step could not be judged."""
    if not failure.startswith(HANDSHAKE_FAILED):  # a timeout, the deadline: nothing to judge
        return Finding(Verdict.ERROR, failure, "RFC 3207 §4")
    if step.inject is not None:
        return Finding(
            Verdict.ERROR,
            f"{failure}, after the injected command (provoked by the probe's own breach, not "
            "counted against the server; the injection could not be judged)",
            "RFC 3207 §4",
        )
    if not advertised:
        return Finding(Verdict.ERROR, failure, "RFC 3207 §4")
    if any(sign in failure.lower() for sign in NOT_TLS):
        # What came after the 220 was not TLS at all: the record layer's own grammar is broken.
        return Finding(
            Verdict.FAIL,
            f'{failure}: the server answered 220 ("Ready to start TLS") to STARTTLS, then sent '
            "bytes that are not TLS records",
            "RFC 3207 §4; RFC 8446 §5 (the TLS record layer)",
        )
    # No MUST covers a handshake that fails on its merits (RFC 5321 §4.2.4's MUST is about
    # 502/500 to an advertised command): a warning, but a sender cannot use what was offered.
    return Finding(
        Verdict.WARN,
        f'{failure}: the server listed STARTTLS in its EHLO reply and answered 220 ("Ready to '
        'start TLS"), then the handshake failed: senders cannot use the TLS it offers',
        "RFC 3207 §4",
    )
