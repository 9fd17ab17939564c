"""`connect`: open the connection (with implicit TLS, RFC 8314, the handshake first) and judge
the greeting (RFC 5321 §3.1, §4.3.2). With `legacy_tls: true` (implicit TLS only) the handshake
offers only TLS 1.0 and 1.1 (RFC 8996) and the connection is closed after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from probe.results import Exchange, Finding, Verdict
from probe.scenario.model import Step
from probe.session import legacy_tls
from probe.session.state import EndKind
from probe.session.timeouts import Phase

if TYPE_CHECKING:
    from probe.session.machine import Play, Session


# RFC 8314 §3.3: on an implicit-TLS port "a TLS handshake begins immediately" after the TCP
# connection; a server that greets in the clear there is not doing implicit TLS.
IMPLICIT_SOURCE = "RFC 8314 §3.3"
NO_GREETING_WAIT = 3.0  # seconds a `greeting: none` connect waits for a cleartext greeting


def play(step: Step, s: Session) -> Play[None]:
    if step.legacy_tls and (why := _no_legacy(s)):
        s.not_applicable(step, why)
        return
    if step.no_greeting:
        yield from _no_greeting(step, s)
        return
    started = s.now()
    failure = yield from s.connect(step.timeout or s.options.connect_timeout)
    exchange = Exchange("CONNECT", b"", started)
    if failure is not None:
        exchange.error = failure
        exchange.elapsed = s.now() - started
        s.model.end(EndKind.NOT_CONNECTED, "not connected")
        s.record(step, [exchange], [[Finding(Verdict.ERROR, failure)]])
        return
    tls: list[Finding] = []
    if step.legacy_tls:
        # Only the handshake: the greeting is not read, and the connection is closed after it.
        finding = yield from s.legacy_handshake()
        exchange.elapsed = s.now() - started
        s.record(step, [exchange], [[finding]])
        return
    if s.implicit_tls:
        # RFC 8314 §3.3: the TLS handshake starts at once; the greeting comes inside TLS.
        failure = yield from s.start_tls("implicit")
        if failure is not None:
            exchange.error = failure
            exchange.elapsed = s.now() - started
            s.model.end(EndKind.TLS_FAILED, "implicit TLS handshake failed")
            s.record(step, [exchange], [[Finding(Verdict.ERROR, failure, "RFC 8314 §3.3")]])
            return
        tls.append(Finding(Verdict.PASS, f"implicit TLS established ({s.model.tls_version})"))
        tls += s.tls_findings()
    yield from s.read_into(exchange, Phase.GREETING, step.timeout)
    if exchange.reply is not None:
        s.model.facts.greeting_code = exchange.reply.code
    findings = s.judge(exchange, step.expect)
    if exchange.reply is not None and s.model.usable:
        # A server that says more than its greeting (a second greeting, a stray line) would have
        # it taken for the reply to EHLO: look once, briefly, before the first command.
        findings += yield from s.unsolicited("after the greeting", s.window())
    s.observe(exchange)
    s.record(step, [exchange], [findings, tls])


def _no_legacy(s: Session) -> str:
    """Why a connect with `legacy_tls` cannot play ("" when it can)."""
    if not s.implicit_tls:
        return "legacy_tls on connect needs implicit TLS (on a STARTTLS port, put it on starttls)"
    return legacy_tls.unavailable()


def _no_greeting(step: Step, s: Session) -> Play[None]:
    """`greeting: none`: a plaintext client on an implicit-TLS port gets no greeting in the clear
    (the server waits for a ClientHello); then the probe hangs up."""
    if not s.implicit_tls:
        s.not_applicable(step, "the target is not implicit TLS (smtps://, --tls implicit)")
        return
    started = s.now()
    failure = yield from s.connect(s.options.connect_timeout)
    exchange = Exchange("CONNECT", b"", started)
    if failure is not None:
        exchange.error = failure
        s.model.end(EndKind.NOT_CONNECTED, "not connected")
        s.record(step, [exchange], [[Finding(Verdict.ERROR, failure)]])
        return
    wait = step.timeout or NO_GREETING_WAIT
    replies = yield from s.more_replies(wait)
    if replies:
        exchange.reply = replies[0]
    heard = replies or s.buffered
    if heard:
        what = replies[0].display_lines[0][:80] if replies else f"{s.buffered} bytes"
        finding = Finding(
            Verdict.WARN,
            f"a client that did not start TLS got '{what}' in the clear on an implicit-TLS port: "
            '"a TLS handshake begins immediately" when the connection is made',
            IMPLICIT_SOURCE,
        )
    else:
        finding = Finding(
            Verdict.PASS, f"no greeting in the clear within {wait:g} s: the server waits for TLS"
        )
    yield from s.close()
    s.model.end(EndKind.HANGUP, "the probe hung up after the cleartext connection (greeting: none)")
    s.record(step, [exchange], [[finding]])
