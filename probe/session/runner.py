"""Play one bound scenario against one server address and judge every exchange.

The runner owns the session state (connected? in a transaction? what did EHLO advertise?) and
turns steps into bytes and exchanges; the transport moves bytes, the asserter judges.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from probe.asserter import SessionFacts, judge, step_verdict
from probe.codes import CodeTable, load_table
from probe.protocol.ehlo import parse_ehlo
from probe.protocol.encode import EscapeError
from probe.protocol.reader import (
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_REPLY_LINES,
    build_reply,
    line_problems,
    parse_line,
)
from probe.protocol.reply import Reply, ReplyLine
from probe.results import Exchange, Finding, ServerResult, StepResult, Verdict, worst
from probe.scenario.model import BoundScenario, Expectation, Step, StepKind
from probe.session.commands import (
    MASK,
    Line,
    auth_lines,
    command_for,
    message_for,
    secret_bytes,
)
from probe.session.transport import DEADLINE_REACHED, ReadFailure, Transport

_AFTER_QUIT = "after QUIT"
_SEQUENCE_SOURCE = "RFC 5321 §4.2 (every command MUST generate exactly one reply)"
INTERRUPTED = "interrupted"
# Unsolicited data read before one command, at most (in reads of one transport chunk each).
_DRAIN_CHUNKS = 16


@dataclass(frozen=True, slots=True)
class RunOptions:
    profile: str = "rfc5321"
    strict: bool = False
    timeout: float = 30.0  # per reply
    connect_timeout: float = 10.0
    session_deadline: float = 300.0
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    max_reply_lines: int = DEFAULT_MAX_REPLY_LINES
    tls_verify: bool = False
    # Quiet time before each command, counted from the end of the previous reply: a reply that
    # arrives in it was not asked for (RFC 5321 §4.2: one reply per command) and is reported,
    # instead of being taken for the next command's reply (which would shift every later one).
    settle: float = 0.1


@dataclass(slots=True)
class _State:
    facts: SessionFacts = field(default_factory=SessionFacts)
    gone: str | None = None  # why no further command can be sent (closed, QUIT, 421...)
    stopped: str | None = None  # why the scenario stopped early (stop_on_fail)


class Session:
    def __init__(
        self,
        bound: BoundScenario,
        host: str,
        port: int,
        options: RunOptions,
        table: CodeTable | None = None,
        server_name: str | None = None,
    ) -> None:
        self.bound = bound
        self.host = host
        # The name TLS checks the certificate against and sends as SNI: the MX host name, not
        # the address it resolved to.
        self.server_name = server_name or host
        self.port = port
        self.options = options
        self.table = table or load_table()
        self.state = _State()
        self.results: list[StepResult] = []
        self._secrets = secret_bytes(bound.secrets)
        self._t0 = 0.0
        self.transport: Transport | None = None
        self._pending_findings: list[Finding] = []  # unsolicited replies, for the next judgement
        self._done = 0  # scenario steps played (or skipped) so far
        self._quiet_from = 0.0  # time.monotonic() at the end of the last reply

    # ---- driving -------------------------------------------------------------------------

    async def play(self, target_text: str) -> ServerResult:
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._t0 = time.monotonic()
        deadline = self._t0 + self.options.session_deadline
        self.transport = Transport(
            self.options.timeout,
            deadline,
            self.options.max_reply_bytes,
            self.options.max_reply_lines,
        )
        steps = list(self.bound.steps)
        if not steps or steps[0].kind is not StepKind.CONNECT:
            first = steps[0] if steps else None
            position = first.position if first else None
            steps.insert(
                0,
                Step(StepKind.CONNECT, position, "connect (implicit)"),  # type: ignore[arg-type]
            )
        try:
            # The transport bounds each wait; this is the backstop for everything else.
            async with asyncio.timeout(self.options.session_deadline + 2.0):
                for step in steps:
                    await self._run_step(step)
                    self._done += 1  # a pipeline adds one result per member: count steps here
        except TimeoutError:
            self.state.gone = DEADLINE_REACHED
        except asyncio.CancelledError:
            # SIGINT/SIGTERM (or a caller's cancel): keep what was judged, mark the step under
            # way as error and the rest as not run, so `results` covers every step.
            for index, step in enumerate(steps[self._done :]):
                self._skip(step, INTERRUPTED, under_way=index == 0)
            raise
        finally:
            await self.transport.close()
        for step in steps[self._done :]:
            self._skip(step, self.state.gone or "not run")
        return self._server_result(target_text, started_at)

    async def _run_step(self, step: Step) -> None:
        before = len(self.results)
        if self.state.stopped:
            self._skip(step, self.state.gone or self.state.stopped)
            return
        if step.kind is StepKind.CONNECT:
            await self._connect(step)
        elif self.state.gone:
            self._skip(step, self.state.gone)
            return
        elif step.kind is StepKind.PIPELINE:
            await self._pipeline(step)
        elif step.kind is StepKind.DATA:
            await self._data(step)
        elif step.kind is StepKind.STARTTLS:
            await self._starttls(step)
        elif step.kind is StepKind.AUTH:
            await self._auth(step)
        else:
            await self._simple(step)
        # Step.stop_on_fail already inherits the scenario's (and a pipeline's) setting; a
        # pipeline stops on any of its members.
        bad = [r for r in self.results[before:] if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
        if step.stop_on_fail and bad:
            self.state.stopped = f"stopped after '{bad[0].label}' ({bad[0].verdict})"

    async def _connect(self, step: Step) -> None:
        assert self.transport is not None
        if not self.transport.closed:
            await self.transport.close()
        self.state = _State()
        started = self._now()
        timeout = step.timeout or self.options.connect_timeout
        failure = await self.transport.connect(self.host, self.port, timeout)
        exchange = Exchange("CONNECT", b"", started)
        if failure is not None:
            exchange.error = failure
            exchange.elapsed = self._now() - started
            self.state.gone = "not connected"
            self._record(step, [exchange], [[Finding(Verdict.ERROR, failure)]])
            return
        await self._read_into(exchange, step.timeout)
        findings = self._judge(exchange, step.expect)
        if exchange.reply is not None:
            self.state.facts.greeting_code = exchange.reply.code
        self._record(step, [exchange], [findings])

    async def _simple(self, step: Step) -> None:
        line = self._line(step)
        if line is None:
            return
        exchange = await self._exchange(line, step)
        findings = self._judge(exchange, step.expect)
        if line.table == "QUIT" and exchange.reply is not None and not self.state.gone:
            # Nothing may follow the reply to QUIT; look once, briefly, for replies still owed
            # to earlier commands (the sign of a shifted session).
            findings += await self._drain_unsolicited("after the reply to QUIT")
        self._after(exchange)
        self._record(step, [exchange], [findings])

    async def _data(self, step: Step) -> None:
        start = await self._exchange(command_for(step), step)
        findings = [self._judge(start, step.expect)]
        exchanges = [start]
        if start.reply is not None and start.reply.code == 354:
            end, end_findings = await self._message(step)
            exchanges.append(end)
            findings.append(end_findings)
        elif start.reply is not None:
            # RFC 5321 §3.3: "message data MUST NOT be sent unless a 354 reply is received".
            findings[0].append(
                Finding(
                    Verdict.PASS,
                    f"no 354, so the message data was not sent (DATA got {start.reply.code})",
                    "RFC 5321 §3.3",
                )
            )
        self._after(start)
        self._record(step, exchanges, findings)

    async def _message(self, step: Step) -> tuple[Exchange, list[Finding]]:
        """After a 354: send the message data and judge the reply to the final dot."""
        body = message_for(step)
        self._pending_findings += await self._drain_unsolicited()
        end = Exchange("DATA-END", self._mask(body), self._now())
        if await self._send(end, body):
            await self._read_into(end, step.timeout)
        self.state.facts.in_transaction = False  # whatever the reply, the transaction is over
        return end, self._judge(end, step.expect_end)

    async def _pipeline(self, step: Step) -> None:
        members = list(step.steps)
        lines = [self._line(member) for member in members]
        if any(line is None for line in lines):
            return
        note: list[Finding] = []
        if "PIPELINING" not in self.state.facts.extensions:
            note.append(
                Finding(
                    Verdict.WARN,
                    "pipelined although the server did not advertise PIPELINING",
                    "RFC 2920 §3",
                )
            )
        unsolicited = await self._drain_unsolicited()
        started = self._now()
        assert self.transport is not None
        failure = await self.transport.send(b"".join(line.data for line in lines if line))
        for index, (member, line) in enumerate(zip(members, lines, strict=True)):
            assert line is not None
            exchange = Exchange(line.table, self._mask(line.shown), started)
            exchange.has_argument = line.has_argument
            if failure is not None:
                exchange.error = failure
            elif self.state.gone:
                exchange.error = f"no reply: {self.state.gone}"
            else:
                await self._read_into(exchange, member.timeout or step.timeout)
            exchanges = [exchange]
            findings = [self._judge(exchange, member.expect)]
            if index == 0:
                findings[0] = note + unsolicited + findings[0]
            if member.kind is StepKind.DATA and exchange.reply and exchange.reply.code == 354:
                end, end_findings = await self._message(member)
                exchanges.append(end)
                findings.append(end_findings)
            self._record(member, exchanges, findings)
            self._after(exchange)

    async def _starttls(self, step: Step) -> None:
        exchange = await self._exchange(command_for(step), step)
        findings = self._judge(exchange, step.expect)
        if exchange.reply is not None and exchange.reply.code == 220:
            assert self.transport is not None
            if self.transport.replies.buffered:
                # Plaintext after the 220 would be read as if it came over TLS by a careless
                # client (the STARTTLS injection flaw); RFC 3207 §4.2 discards it, and so do we.
                findings.append(
                    Finding(
                        Verdict.FAIL,
                        f"the server sent {self.transport.replies.buffered} bytes after its 220 "
                        "to STARTTLS, before the TLS handshake; they were discarded",
                        "RFC 3207 §4, §4.2",
                    )
                )
            context = ssl.create_default_context()
            if not self.options.tls_verify:
                # A probe must reach servers with self-signed certificates; --tls-verify checks.
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            failure = await self.transport.start_tls(context, self.server_name)
            self._quiet_from = time.monotonic()
            if failure is not None:
                findings.append(Finding(Verdict.ERROR, failure, "RFC 3207 §4"))
                self.state.gone = (
                    DEADLINE_REACHED if failure == DEADLINE_REACHED else "TLS handshake failed"
                )
            else:
                # RFC 3207 §4.2: the session is reset; EHLO must be sent again.
                self.state.facts = SessionFacts(
                    greeting_code=self.state.facts.greeting_code, tls_active=True
                )
                findings.append(
                    Finding(Verdict.PASS, f"TLS established ({self.transport.tls_version})")
                )
        self._record(step, [exchange], [findings])

    async def _auth(self, step: Step) -> None:
        exchanges: list[Exchange] = []
        findings: list[list[Finding]] = []
        lines = auth_lines(step)
        for index, line in enumerate(lines):
            exchange = await self._exchange(line, step)
            exchanges.append(exchange)
            code = exchange.reply.code if exchange.reply else None
            # Each line after the first answers a 334 challenge; anything else ends the exchange.
            final = index == len(lines) - 1 or code != 334
            findings.append(self._judge(exchange, step.expect if final else None))
            if final:
                break
        self._record(step, exchanges, findings)

    # ---- exchanges -----------------------------------------------------------------------

    def _line(self, step: Step) -> Line | None:
        """The step's command, or None (recorded as an error) if it cannot be encoded."""
        try:
            return command_for(step)
        except EscapeError as exc:  # validated at load time; kept as a safety net
            self._record(step, [], [[Finding(Verdict.ERROR, str(exc))]])
            return None

    async def _exchange(self, line: Line, step: Step) -> Exchange:
        unsolicited = await self._drain_unsolicited()
        exchange = Exchange(line.table, self._mask(line.shown), self._now())
        exchange.has_argument = line.has_argument
        if self.state.gone:
            exchange.error = f"not sent: {self.state.gone}"
        elif await self._send(exchange, line.data):
            await self._read_into(exchange, step.timeout)
        self._pending_findings += unsolicited
        return exchange

    async def _send(self, exchange: Exchange, data: bytes) -> bool:
        assert self.transport is not None
        failure = await self.transport.send(data)
        if failure is not None:
            exchange.error = failure
            exchange.elapsed = self._now() - exchange.started
            if failure == DEADLINE_REACHED:
                self.state.gone = DEADLINE_REACHED
            elif self.transport.closed:
                closed = failure == "connection is closed"
                self.state.gone = "connection closed" + ("" if closed else f" ({failure})")
            else:
                # Part of the command may be on its way: a reply now could be for it.
                self.state.gone = f"the command could not be sent ({failure})"
            return False
        return True

    async def _read_into(self, exchange: Exchange, timeout: float | None) -> None:
        assert self.transport is not None
        result = await self.transport.read_reply(timeout)
        exchange.elapsed = self._now() - exchange.started
        self._quiet_from = time.monotonic()
        if isinstance(result, ReadFailure):
            exchange.error = result.reason
            if result.deadline:
                self.state.gone = DEADLINE_REACHED
            elif result.aborted:
                self.state.gone = f"connection aborted: {result.reason}"
            elif result.closed:
                self.state.gone = f"the server closed the connection ({result.reason})"
            else:
                # A late reply would be taken for the next command's: stop here.
                self.state.gone = f"no reply to the previous command ({result.reason})"
            return
        exchange.reply = self._mask_reply(result)
        if result.code == 421:
            self.state.gone = "the server sent 421 (closing the transmission channel)"

    async def _drain_unsolicited(self, when: str = "before the command was sent") -> list[Finding]:
        """Replies that arrive while no command is outstanding were sent unasked: report them and
        drop them, so each later reply is attributed to the command that caused it.

        Waits out the rest of the settle window (RunOptions.settle, counted from the end of the
        previous reply): a reply sent a little after the one it follows is caught here, not taken
        for the next command's. Reads at most _DRAIN_CHUNKS chunks, so a flood stays bounded."""
        assert self.transport is not None
        transport = self.transport
        until = self._quiet_from + self.options.settle
        extras: list[Reply] = []
        failure: ReadFailure | None = None
        for _ in range(_DRAIN_CHUNKS):
            await transport.collect(until)
            if not transport.replies.buffered:
                break
            while transport.replies.buffered:
                extra = await transport.read_reply(timeout=0.0)
                if isinstance(extra, ReadFailure):
                    failure = extra
                    break
                extras.append(extra)
            if failure is not None:
                break
        findings: list[Finding] = []
        if extras:
            more = f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"unsolicited reply {when}: {_short(extras[0])}{more}",
                    _SEQUENCE_SOURCE,
                )
            )
        if failure is not None:
            what = failure.reason
            if not failure.closed:  # part of a reply, and no more of it yet
                what = f"{transport.replies.buffered} bytes of an incomplete reply"
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"unsolicited data from the server {when}: {what}",
                    _SEQUENCE_SOURCE,
                )
            )
            if failure.closed:
                self.state.gone = f"the server closed the connection ({failure.reason})"
            else:
                # The rest of that reply would be taken for the next command's: the session can
                # no longer attribute replies, so it ends here.
                self.state.gone = "out of sync: part of an unsolicited reply is still pending"
        if extras or failure is not None:
            self._quiet_from = time.monotonic()
        return findings

    def _after(self, exchange: Exchange) -> None:
        """Track transaction and capability state from a judged reply."""
        reply = exchange.reply
        if reply is None or reply.code is None:
            return
        facts = self.state.facts
        command, ok = exchange.command, 200 <= reply.code < 300
        if command == "EHLO" and reply.code == 250:
            facts.extensions = dict(parse_ehlo(reply).extensions)
            facts.in_transaction = False
        elif command == "HELO" and ok:
            facts.extensions = {}
            facts.in_transaction = False
        elif command == "MAIL" and ok:
            facts.in_transaction = True
        elif command == "RSET" and ok:
            facts.in_transaction = False
        elif command == "QUIT":
            self.state.gone = _AFTER_QUIT

    def _judge(self, exchange: Exchange, expectation: Expectation | None) -> list[Finding]:
        findings = judge(exchange, self.table, self.options.profile, self.state.facts, expectation)
        if self._pending_findings:
            findings = self._pending_findings + findings
            self._pending_findings = []
        return findings

    # ---- results -------------------------------------------------------------------------

    def _record(
        self,
        step: Step,
        exchanges: list[Exchange],
        findings: list[list[Finding]],
    ) -> None:
        flat = [f for group in findings for f in group]
        verdict = step_verdict(flat, self.options.strict)
        reason = next((f.message for f in flat if f.verdict is Verdict.ERROR), "")
        why = step.expect.why if step.expect else ""
        if step.expect_end and not why:
            why = step.expect_end.why
        self.results.append(
            StepResult(
                label=step.label,
                kind=step.kind.value,
                position=str(step.position) if step.position else "",
                verdict=verdict,
                exchanges=exchanges,
                findings=flat,
                why=why,
                reason=reason,
            )
        )

    def _skip(self, step: Step, reason: str, under_way: bool = False) -> None:
        """A step not run, and why; `under_way`: cut off while running (an error, not a skip)."""
        self.results.append(
            StepResult(
                label=step.label,
                kind=step.kind.value,
                position=str(step.position) if step.position else "",
                verdict=Verdict.ERROR if under_way else Verdict.SKIP,
                findings=[Finding(Verdict.ERROR, reason)] if under_way else [],
                reason=reason,
            )
        )

    def _server_result(self, target_text: str, started_at: str) -> ServerResult:
        verdicts = [s.verdict for s in self.results]
        overall = worst(verdicts)
        if overall is Verdict.WARN or overall is Verdict.SKIP:
            overall = Verdict.PASS
        reason = ""
        first_bad = next((s for s in self.results if s.verdict is overall), None)
        if overall in (Verdict.FAIL, Verdict.ERROR) and first_bad is not None:
            detail = first_bad.reason or next(
                (f.message for f in first_bad.findings if f.verdict is overall), ""
            )
            reason = f"{first_bad.label}: {detail}"
        unplayed = [
            s for s in self.results if s.verdict is Verdict.SKIP and s.reason != _AFTER_QUIT
        ]
        if overall is Verdict.PASS and unplayed:
            # The server ended the session early (a 421, a close): what was judged passed, but
            # the scenario was not played through, so the server was not fully probed.
            overall = Verdict.ERROR
            reason = f"{len(unplayed)} step(s) not run: {unplayed[0].reason}"
        assert self.transport is not None
        return ServerResult(
            scenario=self.bound.scenario.name,
            scenario_path=self.bound.scenario.path,
            target=target_text,
            address=self.transport.peer,
            verdict=overall,
            steps=self.results,
            started_at=started_at,
            duration=time.monotonic() - self._t0,
            reason=reason,
            extensions={k: list(v) for k, v in self.state.facts.extensions.items()},
        )

    # ---- helpers -------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _mask(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK)
        return data

    def _mask_reply(self, reply: Reply) -> Reply:
        """A server may echo a secret (a hostile one will): mask it, then judge the masked reply,
        since findings quote cut-off text that the report's redactor could not recognise."""
        if not any(secret in line.raw for line in reply.lines for secret in self._secrets):
            return reply
        lines: list[ReplyLine] = []
        problems = []
        for number, line in enumerate(reply.lines, 1):
            masked = parse_line(self._mask(line.raw), line.ending)
            problems += line_problems(masked, number, lines[0].code if lines else None)
            lines.append(masked)
        return build_reply(lines, problems)


def _short(reply: Reply) -> str:
    lines = reply.display_lines
    return lines[0] + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")
