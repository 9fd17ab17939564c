"""The session machine: one bound scenario against one server, without I/O (in the style of h11).

A driver asks `next_action()` what to do (connect, send bytes, wait for bytes until a time, start
TLS, close), does it, and hands back exactly one event with `feed()`; when `next_action()` returns
None the session is over and `result()` has the verdicts. The machine owns the reply parser, the
model of the server (`ServerModel`), the clock readings and every judgement; step kinds are
played by handlers (`probe.session.handlers`), generators that yield actions through the helpers
below. Tests drive it with byte strings alone.

Unsolicited replies need no timer per command: before each command the machine takes whatever has
already arrived (a zero-time poll). It waits a quiet window only where a check needs one: after
the greeting, before the final dot of a message, after the reply to QUIT, and before a step that
asks for it (`settle:`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from probe.asserter import judge
from probe.codes import CodeTable, load_table
from probe.protocol.encode import EscapeError
from probe.protocol.reader import (
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_REPLY_LINES,
    CapExceeded,
    Closed,
    NeedData,
    ReplyReader,
)
from probe.protocol.reply import Reply, printable
from probe.record import field, record, replace
from probe.results import (
    CertInfo,
    DaneInfo,
    Exchange,
    Finding,
    ServerResult,
    StepResult,
    TlsInfo,
    TlsVerification,
    Verdict,
)
from probe.scenario.binding import saved_names
from probe.scenario.errors import ScenarioError
from probe.scenario.model import BoundScenario, Expectation, Save, Step, StepKind
from probe.session import legacy_tls
from probe.session.actions import (
    Action,
    Close,
    Connect,
    Connected,
    Data,
    Event,
    Failed,
    Receive,
    Send,
    StartTLS,
    TimedOut,
    TLSUp,
    hostport,
)
from probe.session.commands import Line, command_for, secret_bytes
from probe.session.masking import Masker
from probe.session.record import StepLog
from probe.session.state import DEADLINE_REACHED, INTERRUPTED, EndKind, Mode, ServerModel
from probe.session.timeouts import Phase, Timeouts, phase_of

if TYPE_CHECKING:
    from probe.dane import DaneLookup

T = TypeVar("T")
Play = Generator[Action, Event, T]

SEQUENCE_SOURCE = "RFC 5321 §4.2 (every command MUST generate exactly one reply)"
CLOSE_SOURCE = "RFC 5321 §3.8"
BEFORE_COMMAND = "before the command was sent"
DRIPPING = "before the command line was complete (sent one octet at a time)"
CLOSED_BEFORE_REPLY = "connection closed by the server before any reply"
UNSOLICITED = "UNSOLICITED"  # the command of an exchange holding a reply nobody asked for
UNASKED_SHOWN = 10  # unsolicited replies kept in one step's transcript
SHUTDOWN = 421
# Unsolicited data taken at one quiet point, at most (in driver reads): a flood stays bounded.
DRAIN_READS = 16
# Automatic quiet windows: half a round trip (the median time a reply has taken so far), within
# these bounds. A reply the server sent right after another is already on its way and arrives
# within it; anything later is still caught, by the count of replies at the next poll before a
# command or at the close after QUIT (only its attribution is then less precise).
AUTO_WINDOW_SHARE = 0.5
# Around a message that holds an end-of-data lookalike the replies are the evidence of smuggling,
# and a server may take a while to queue a message it thinks has ended: wait at least this long.
END_WINDOW_MIN = 0.02
AUTO_WINDOW_MIN = 0.00005
AUTO_WINDOW_MAX = 0.1
# After a 221 to QUIT the server closes (RFC 5321 §4.1.1.10): wait for the close this long at
# most (and never past the step's reply timeout), so replies still owed to earlier commands are
# seen; a server still connected then fails. A prompt close ends the wait at once.
CLOSE_WAIT = 5.0
# `replies:` counts the replies to one write over this window after the first (--settle, or the
# step's `within`, instead): a command read out of data, or a second line recognised inside one,
# is answered as soon as the first reply is out, so this is ample on any network.
COUNT_WINDOW = 0.5
QUIT_SOURCE = "RFC 5321 §4.1.1.10"


@record(frozen=True, slots=True)
class RunOptions:
    profile: str = "rfc5321"
    strict: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    connect_timeout: float = 10.0
    session_deadline: float = 300.0
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    max_reply_lines: int = DEFAULT_MAX_REPLY_LINES
    # Certificate problems (chain, name) are warnings; with tls_verify, failures. The handshake
    # itself never verifies: the chain is judged afterwards (probe.tlsfacts).
    tls_verify: bool = False
    cafile: str | None = None  # trust anchors instead of the system CAs
    cert_days: int | None = None  # a certificate expiring within N days: warn
    cert_days_critical: int | None = None  # ... within N days: fail
    implicit_tls: bool = False  # --tls implicit: TLS from the first byte (RFC 8314)
    # Length of the quiet windows (after the greeting, before the final dot, after QUIT, before
    # a step with `settle:` and no figure of its own); None: twice the median round trip so far.
    settle: float | None = None


class NotSent(Exception):
    """The session ended before a step's first command went out: the step is skipped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@record(frozen=True, slots=True)
class ReadFailure:
    """No judgeable reply: why, and whether the connection is gone for good."""

    reason: str
    closed: bool
    deadline: bool = False
    aborted: bool = False  # we closed it: the reply went past a cap


class Session:
    def __init__(
        self,
        bound: BoundScenario,
        host: str,
        port: int,
        options: RunOptions,
        table: CodeTable | None = None,
        server_name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        implicit_tls: bool = False,
        dane: DaneLookup | None = None,
    ) -> None:
        self.bound = bound
        self.host = host
        self.port = port
        # The name TLS checks the certificate against and sends as SNI: the MX host name, not
        # the address it resolved to.
        self.server_name = server_name or host
        self.options = options
        # TLS from the first byte (RFC 8314): the option, the scenario's `tls: implicit`, or an
        # smtps:// target.
        self.implicit_tls = implicit_tls or options.implicit_tls or bound.scenario.tls == "implicit"
        # --dane: the host's TLSA lookup, matched against the chain when TLS starts (probe.dane)
        self.dane = dane
        self._dane_info: DaneInfo | None = None
        self._dane_starttls_judged = False
        self.table = table or load_table()
        self.clock = clock
        self.model = self._new_model()
        self._tls_seen: TlsInfo | None = None  # the last TLS session's facts, kept over reconnects
        self.log = StepLog(options.strict)
        self.peer: str | None = None
        self.connected = False  # commands can be sent
        self._open = False  # the driver holds a connection (to be closed at the end)
        self.waited = 0.0  # seconds spent in quiet windows
        self.started_at = ""
        self._reader = self._new_reader()
        self._lost: str | None = None  # why the connection broke, when the server broke it
        self.masker = Masker(secret_bytes(bound.secrets))
        self._pending: list[Finding] = []  # unsolicited replies, for the next judgement
        self._unasked: list[Exchange] = []  # unsolicited replies, for the next step recorded
        self._round_trips: list[float] = []
        self._last_read: tuple[str, Reply] | None = None  # the last reply read, and its command
        self._last_sent = b""  # the last command line sent (masked), for messages
        self._stopped: str | None = None  # stop_on_fail
        self.saved: dict[str, str] = {}  # values saved from replies (`save:`), by name
        self._steps = _with_connect(bound.steps)
        self._done = 0  # scenario steps played (or skipped) so far
        self._t0 = 0.0
        self._deadline = 0.0
        self._action: Action | None = None
        self._play = self._run()
        self._finished = False

    # ---- the driver's interface ----------------------------------------------------------

    def next_action(self) -> Action | None:
        """What the driver must do next; None once the session is over."""
        if self._action is None and not self._finished:
            self._advance(None)
        return self._action

    def feed(self, event: Event) -> None:
        """The outcome of the last action."""
        self._advance(event)

    def interrupt(self, reason: str = INTERRUPTED) -> None:
        """A signal (or a caller's cancel): keep what was judged, mark the step under way as an
        error and the rest as not run. The driver then closes the connection."""
        if self._finished:
            return
        self._play.close()
        self._finished = True
        self._action = None
        for index, step in enumerate(self._steps[self._done :]):
            self._skip(step, reason, under_way=index == 0 and reason == INTERRUPTED)
        self._done = len(self._steps)

    @property
    def results(self) -> list[StepResult]:
        return self.log.results

    def result(self, target_text: str) -> ServerResult:
        first = self.results[0] if self.results else None
        greeting = first.exchanges[0].reply if first is not None and first.exchanges else None
        verdict, reason = self.log.overall(greeting if first and first.kind == "connect" else None)
        return ServerResult(
            scenario=self.bound.scenario.name,
            scenario_path=self.bound.scenario.path,
            target=target_text,
            address=self.peer,
            verdict=verdict,
            steps=self.results,
            started_at=self.started_at,
            duration=(self.clock() - self._t0) if self._t0 else 0.0,
            reason=reason,
            extensions={k: list(v) for k, v in self.model.facts.extensions.items()},
            waited=self.waited,
            tls=self.model.tls or self._tls_seen,
            dane=self._dane_result(),
        )

    def _advance(self, event: Event | None) -> None:
        try:
            self._action = self._play.send(event)  # type: ignore[arg-type]
        except StopIteration:
            self._action = None
            self._finished = True

    # ---- the session -----------------------------------------------------------------------

    def _run(self) -> Play[None]:
        from probe.session.handlers import HANDLERS

        yield from ()  # a generator even if there were no steps at all
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._t0 = self.clock()
        self._deadline = self._t0 + self.options.session_deadline
        for step in self._steps:
            before = len(self.results)
            if self._stopped:
                self._skip(step, self.model.ended.reason if self.model.ended else self._stopped)
            elif step.kind is not StepKind.CONNECT and self.model.ended:
                self._skip(step, self.model.ended.reason)
            elif missing := [k for k in step.requires if k not in self.model.facts.extensions]:
                reason = f"not applicable: the server did not advertise {', '.join(missing)}"
                self._skip(step, reason, applicable=False)
            elif (unmet := self._unmet(step)) is not None:
                self._skip(step, f"not applicable: {unmet}", applicable=False)
            elif (
                self.model.mode is Mode.MESSAGE
                and not self.model.ended
                and not _is_message_data(step)
                and step.kind is not StepKind.CONNECT  # a new session: this one is dropped
            ):
                # The server reads everything as message text now: a command would be taken for
                # part of the message, and its missing reply blamed on the server.
                last_line = printable(self._last_sent.removesuffix(b"\r\n"), 60)
                self.model.end(
                    EndKind.IN_MESSAGE,
                    f"the server is reading message data (it answered 354 to "
                    f"'{last_line}'), and step '{step.label}' is not message data: the "
                    "session stops here",
                )
                assert self.model.ended is not None
                self._skip(step, self.model.ended.reason)
            elif (playable := self._with_saved(step)) is not None:
                try:
                    yield from HANDLERS[playable.kind](playable, self)
                except NotSent as stop:
                    self._skip(playable, stop.reason)
                self._capture(playable, self.results[before:])
            self._done += 1  # a pipeline adds one result per member: count steps here
            # Step.stop_on_fail inherits the scenario's (and a pipeline's) setting; a pipeline
            # stops on any of its members.
            bad = [r for r in self.results[before:] if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
            if step.stop_on_fail and bad:
                self._stopped = f"stopped after '{bad[0].label}' ({bad[0].verdict})"
        if self._open:
            yield from self.close()

    # ---- conditions and saved values ----------------------------------------------------------

    def _unmet(self, step: Step) -> str | None:
        """Why a step's `when:` does not hold, or None when it does (or it has none)."""
        when = step.when
        if when is None:
            return None
        offered = self.model.facts.extensions
        reasons = [
            f"{word} {' '.join(names)}"
            for word, names in (
                ("the server did not advertise", [k for k in when.advertised if k not in offered]),
                ("the server advertised", [k for k in when.not_advertised if k in offered]),
                ("nothing was saved as", [n for n in when.saved if n not in self.saved]),
                ("a value was saved as", [n for n in when.not_saved if n in self.saved]),
                ("no value was given for", [n for n in when.given if not self.given(n)]),
            )
            if names
        ]
        inside = self.model.facts.tls_active
        if when.tls is not None and when.tls != inside:
            reasons.append("the session is " + ("inside TLS" if inside else "not inside TLS"))
        reasons += [
            reason
            for names, wanted in ((when.accepted, True), (when.refused, False))
            for name in names
            if (reason := self._outcome_unmet(name, wanted)) is not None
        ]
        return f"{'; '.join(reasons)} (when: {when.describe()})" if reasons else None

    def _outcome_unmet(self, name: str, accepted: bool) -> str | None:
        """`when: {accepted: NAME}` / `{refused: NAME}`: why the reply code saved as NAME does
        not say what the step needs (a precondition that failed makes the step inconclusive, not
        failed); None when it does."""
        code = self.saved.get(name)
        if code is None:
            return f"nothing was saved as {name}"
        if not (len(code) == 3 and code.isdigit()):
            return f"the value saved as {name} ({code!r}) is not a reply code"
        if (code[0] in "23") == accepted:
            return None
        return f"{name} was {'refused' if accepted else 'accepted'} ({code})"

    def given(self, name: str) -> bool:
        """Whether a scenario variable has a value that is not empty (`when: {given: NAME}`)."""
        return bool(self.bound.values.get(name))

    def _with_saved(self, step: Step) -> Step | None:
        """The step bound with the values saved so far (if it uses any); None when it cannot be
        played: a value it needs was not saved (not applicable), or it does not bind."""
        if step.template is None or self.bound.rebind is None:
            return step
        needed = sorted(saved_names(step.template, self.bound.scenario) - set(self.saved))
        if needed:
            names = ", ".join(f"'{n}'" for n in needed)
            self._skip(step, f"not applicable: nothing was saved as {names}", applicable=False)
            return None
        try:
            return self.bound.rebind(step.template, self.saved)
        except ScenarioError as exc:
            self.fail_step(step, f"with the saved values: {exc.problems[0].message}")
            return None

    def _capture(self, step: Step, results: list[StepResult]) -> None:
        """`save:`: values from what the step's replies said, for the steps after it."""
        if not step.save and step.kind is not StepKind.PIPELINE:
            return  # nothing to save: most steps
        members = step.steps if step.kind is StepKind.PIPELINE else (step,)
        for member, result in zip(members, results, strict=False):
            for save in member.save:
                value = self._saved_value(save, result)
                if value is not None:
                    self.saved[save.name] = value
                    result.findings.append(
                        Finding(Verdict.PASS, f"saved {save.name} = {printable(value.encode())}")
                    )

    def _saved_value(self, save: Save, result: StepResult) -> str | None:
        if save.address:
            # RFC 5321 §4.1.3: an address literal, as a client writes the server in an address.
            return address_literal(self.host) if self.connected else None
        if save.keyword is not None:
            params = self.model.facts.extensions.get(save.keyword)
            return None if params is None else " ".join(params)
        reply = next((e.reply for e in reversed(result.exchanges) if e.reply is not None), None)
        if reply is not None and save.code:
            return None if reply.code is None else f"{reply.code:03d}"
        if reply is None or save.pattern is None:
            return None
        return save.pattern.capture("\n".join(reply.text_lines))

    # ---- helpers for handlers: time ----------------------------------------------------------

    def now(self) -> float:
        """Seconds since the session began."""
        return self.clock() - self._t0

    @property
    def past_deadline(self) -> bool:
        return self.clock() >= self._deadline

    def until(self, limit: float) -> float:
        """The clock time `limit` seconds from now, never past the session deadline."""
        return min(self.clock() + max(0.0, limit), self._deadline)

    def limit(self, phase: Phase, step_timeout: float | None = None) -> float:
        return self.options.timeouts.limit(phase, step_timeout)

    def end_window(self) -> float:
        """The quiet window around the end of a message that holds an end-of-data lookalike:
        long enough for a reply to the data before it to come back (two round trips, at least
        20 ms), since that reply is the evidence of SMTP smuggling. --settle sets it too."""
        if self.options.settle is not None:
            return self.options.settle
        rtt = _median(self._round_trips) if self._round_trips else AUTO_WINDOW_MAX
        return min(AUTO_WINDOW_MAX, max(END_WINDOW_MIN, 2 * rtt))

    def window(self, step_settle: float | None = None) -> float:
        """How long a quiet window lasts: the step's, --settle, or half the median round trip
        (bounded), which catches a reply sent just after another at a small cost."""
        if step_settle is not None:
            return step_settle
        if self.options.settle is not None:
            return self.options.settle
        if not self._round_trips:
            return AUTO_WINDOW_MAX
        rtt = _median(self._round_trips)
        return min(AUTO_WINDOW_MAX, max(AUTO_WINDOW_MIN, AUTO_WINDOW_SHARE * rtt))

    # ---- helpers for handlers: connection ----------------------------------------------------

    def connect(self, limit: float) -> Play[str | None]:
        """Open the connection (closing any open one first); None on success, else why not."""
        if self._open:
            yield from self.close()
        self._tls_seen = self.model.tls or self._tls_seen
        self.model = self._new_model()
        self._reader = self._new_reader()
        self._lost = None
        self._last_read = None
        where = hostport(self.host, self.port)
        if self.past_deadline:
            return DEADLINE_REACHED
        started = self.clock()
        until = self.until(limit)
        event = yield Connect(self.host, self.port, until)
        if isinstance(event, Connected):
            self.connected = self._open = True
            self.peer = event.peer
            self._round_trips.append(self.clock() - started)
            return None
        if isinstance(event, Failed):
            return f"connect to {where} failed: {event.reason}"
        if self.past_deadline:
            return DEADLINE_REACHED
        return f"connect to {where} timed out after {until - started:.1f} s"

    def close(self, abort: bool = False) -> Play[None]:
        """Close the connection (the driver bounds a polite close; `abort` resets at once)."""
        self.connected = False
        if self._open:
            self._open = False
            yield Close(abort)

    def take_arrived(self) -> Play[None]:
        """Move what has already arrived into the reply parser, without waiting: before a TLS
        handshake, plaintext a driver has read must not come out again after it."""
        for _ in range(DRAIN_READS):
            if not self.connected:
                return
            got = yield Receive(self.clock())
            if not isinstance(got, Data):
                return
            self._reader.receive_data(got.data)

    def start_tls(self, mode: str = "starttls") -> Play[str | None]:
        """Upgrade to TLS (`mode`: "starttls", or "implicit" before the greeting); None on
        success, else the reason. Bytes received before the handshake are dropped (RFC 3207
        §4.2): nothing from the plaintext phase counts afterwards."""
        if not self.connected:
            return "connection is closed"
        if self.past_deadline:
            yield from self.close(abort=True)
            return DEADLINE_REACHED
        limit = self.limit(Phase.TLS)
        until = self.until(limit)
        # Never verified in the handshake: the chain is judged afterwards, so that a probe reaches
        # servers with self-signed certificates and still reports what is wrong with them.
        event = yield StartTLS(self.server_name, False, until)
        if isinstance(event, TLSUp):
            self._reader = self._new_reader()
            chain, verification = _certificate_facts(event.chain, self.server_name, self.options)
            self.model.tls_started(event.version, event.cipher, mode, chain, verification)
            if self.dane is not None:
                from probe import dane

                self._dane_info = dane.evaluate(self.dane, event.chain, datetime.now(UTC))
            return None
        yield from self.close(abort=True)
        if self.past_deadline:
            return DEADLINE_REACHED
        if isinstance(event, Failed):
            return f"TLS handshake failed: {event.reason}"
        return f"TLS handshake timed out after {limit:g} s"

    def legacy_handshake(self) -> Play[Finding]:
        """A handshake offering only TLS 1.0 and 1.1 on this connection (RFC 8996), and what its
        outcome says; the connection is then closed (nothing more is sent on it)."""
        limit = self.limit(Phase.TLS)
        event = yield StartTLS(self.server_name, False, self.until(limit), legacy=True)
        yield from self.close(abort=not isinstance(event, TLSUp))
        self.model.end(
            EndKind.HANGUP, "the probe closed the connection after its TLS 1.0/1.1 handshake"
        )
        if isinstance(event, TLSUp):
            return legacy_tls.completed(event.version)
        if isinstance(event, Failed):
            return legacy_tls.refused(event.reason)
        what = DEADLINE_REACHED if self.past_deadline else f"no handshake within {limit:g} s"
        return Finding(Verdict.ERROR, f"TLS 1.0/1.1 handshake: {what}", legacy_tls.SOURCE)

    def tls_findings(self) -> list[Finding]:
        """What the TLS session just negotiated says about the server: the chain and the name
        (warnings, or failures with --tls-verify), certificates near their end (--cert-days,
        --cert-days-critical), a protocol version below TLS 1.2 (RFC 8996)."""
        tls = self.model.tls
        if tls is None:
            return []
        options = self.options
        found: list[Finding] = []
        problem = Verdict.FAIL if options.tls_verify else Verdict.WARN
        flag = " (--tls-verify)" if options.tls_verify else ""
        check = tls.verification
        if check is not None and check.trusted is False:
            found.append(
                Finding(
                    problem,
                    f"the certificate chain does not verify against {check.trust_store}: "
                    f"{check.error}{flag}",
                    "RFC 5280 §6.1",
                    topic="tls",
                )
            )
        elif check is not None and check.trusted is None:
            found.append(
                Finding(Verdict.INFO, f"the certificate chain was not verified: {check.error}")
            )
        if check is not None and check.name_matches is False:
            names = ", ".join(tls.chain[0].sans) if tls.chain else ""
            found.append(
                Finding(
                    problem,
                    f"the certificate does not name {check.name} (it names "
                    f"{names or 'no subjectAltName'}){flag}",
                    "RFC 6125 §6.4",
                    topic="tls",
                )
            )
        for index, cert in enumerate(tls.chain):
            for limit, verdict, option in (
                (options.cert_days_critical, Verdict.FAIL, "--cert-days-critical"),
                (options.cert_days, Verdict.WARN, "--cert-days"),
            ):
                if limit is not None and cert.days_left <= limit:
                    when = (
                        f"expired {-cert.days_left} days ago"
                        if cert.days_left < 0
                        else f"expires in {cert.days_left} days"
                    )
                    found.append(
                        Finding(
                            verdict,
                            f"certificate {index} ({cert.subject}) {when} "
                            f"({cert.not_after[:10]}): within {option} {limit}",
                            expected=f"more than {limit} days left",
                            topic="tls",
                        )
                    )
                    break
        if self._dane_info is not None:
            from probe import dane

            found += dane.findings(self._dane_info)
        if tls.version in OLD_TLS:
            found.append(
                Finding(
                    Verdict.WARN,
                    f"the server negotiated {tls.version}, below TLS 1.2: TLS 1.0 and 1.1 "
                    '"MUST NOT be used"',
                    legacy_tls.SOURCE,
                    topic="tls",
                )
            )
        return found

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed into a reply."""
        return self._reader.buffered

    @property
    def server_closed(self) -> bool:
        """The server has closed its side of the connection (its end of stream has arrived)."""
        return self._reader.at_eof

    # ---- helpers for handlers: exchanges ----------------------------------------------------

    def line(self, step: Step) -> Line | None:
        """The step's command, or None (recorded as an error) if it cannot be encoded."""
        try:
            return command_for(step)
        except EscapeError as exc:  # validated at load time; kept as a safety net
            self.record(step, [], [[Finding(Verdict.ERROR, str(exc))]])
            return None

    def command(
        self, line: Line, step: Step, first: bool = True, read: bool = True
    ) -> Play[Exchange]:
        """Send one command line and read its reply, after a look for unsolicited replies.

        If that look shows the session over (a 421, a close), nothing is sent: what was seen
        goes to the step before, and `first` (the step's first exchange) raises NotSent so the
        step is skipped with the reason."""
        window = self.window(step.settle) if step.settle is not None else 0.0
        note: str | Callable[[], str] = ""
        if window == 0 and self._last_read is not None:
            # No timer before a command: the extra reply may be the one that belonged to the last
            # command, which was then credited with a late reply for an earlier one. Say so.
            # (Put in words only when there is such a reply: most commands have none.)
            command, reply = self._last_read
            note = lambda: (  # noqa: E731
                f"; out of sync: one reply more than commands sent, so the reply credited to "
                f"{command} ({_short(reply)}) may be a late one for an earlier command"
            )
        unsolicited = yield from self.unsolicited(BEFORE_COMMAND, window, note=note)
        if first and self.model.ended is None and self._reader.at_eof and not self.buffered:
            self._closed_after_previous()
        if first and self.model.ended is not None:
            # Nothing more is sent: what came belongs with the step whose reply it followed.
            after = f"after the reply to {self._last_read[0]}" if self._last_read else "then"
            self._amend_previous(
                [replace(f, message=f.message.replace(BEFORE_COMMAND, after)) for f in unsolicited]
            )
            raise NotSent(self.model.ended.reason)
        exchange = Exchange(line.table, self.mask(line.shown), self.now())
        exchange.has_argument = line.has_argument
        self._last_sent = exchange.sent  # shown (printable) only if a message needs it
        if self.model.ended:
            exchange.error = f"not sent: {self.model.ended.reason}"
        elif (yield from self._send_line(exchange, line.data, step)) and read:
            yield from self.read_into(exchange, phase_of(line.table), step.timeout)
            if first and exchange.error == CLOSED_BEFORE_REPLY and self._last_read is not None:
                # The close came after the last reply whether or not it beat this command to
                # the poll above: judge it the same way either way (a race must not decide).
                self.model.ended = None
                self._closed_after_previous()
                self._amend_previous(unsolicited)
                assert self.model.ended is not None
                raise NotSent(self.model.ended.reason)
        self._pending += unsolicited
        return exchange

    def _send_line(self, exchange: Exchange, data: bytes, step: Step) -> Play[bool]:
        """A command line in one write, or with `drip:` one octet at a time, `drip` seconds
        apart; a reply before the line is complete is unsolicited (reported with the step)."""
        if step.drip is None or len(data) < 2:
            return (yield from self.send(exchange, data, Phase.COMMAND, step.timeout))
        for i in range(len(data)):
            if not (yield from self.send(exchange, data[i : i + 1], Phase.COMMAND, step.timeout)):
                return False
            if i < len(data) - 1:
                self._pending += yield from self.unsolicited(DRIPPING, step.drip)
                if not self.connected:
                    exchange.error = f"the server closed the connection after {i + 1} octet(s)"
                    return False
        return True

    def send(
        self, exchange: Exchange, data: bytes, phase: Phase, step_timeout: float | None = None
    ) -> Play[bool]:
        """Hand `data` to the driver; False (and the reason on the exchange) if it failed."""
        failure: str | None = None
        if not self.connected:
            failure = self._lost or "connection is closed"
        elif self.past_deadline:
            failure = DEADLINE_REACHED  # nothing is sent once the deadline has passed
        else:
            event = yield Send(data, self.until(self.limit(phase, step_timeout)))
            if isinstance(event, Failed):
                self.connected = False
                self._lost = failure = event.reason
                # A server that replies and then closes (a 552 to a message too large, then a
                # reset) makes the send fail; its reply may be here, and is what to judge.
                salvaged = yield from self._salvage()
                if salvaged is not None:
                    exchange.reply = self._mask_reply(salvaged)
                    self._last_read = (exchange.command, exchange.reply)
            elif isinstance(event, TimedOut):
                failure = (
                    DEADLINE_REACHED
                    if self.past_deadline
                    else "timed out sending (the server is not reading)"
                )
        if failure is None:
            return True
        exchange.error = failure
        exchange.elapsed = self.now() - exchange.started
        if failure == DEADLINE_REACHED:
            self.model.end(EndKind.DEADLINE, DEADLINE_REACHED)
        elif not self.connected:
            closed = failure == "connection is closed"
            reason = "connection closed" + ("" if closed else f" ({failure})")
            self.model.end(EndKind.SEND_FAILED, reason)
        else:
            # Part of the command may be on its way: a reply now could be for it.
            self.model.end(EndKind.SEND_FAILED, f"the command could not be sent ({failure})")
        return False

    def _salvage(self) -> Play[Reply | None]:
        """After a failed send: a complete reply among the bytes that had already arrived."""
        for _ in range(DRAIN_READS):
            event = self._reader.next_event()
            if isinstance(event, Reply):
                return event
            if not isinstance(event, NeedData):
                return None
            got = yield Receive(self.clock())
            if not isinstance(got, Data):
                return None
            self._reader.receive_data(got.data)
        return None

    def read_into(
        self, exchange: Exchange, phase: Phase, step_timeout: float | None = None
    ) -> Play[None]:
        """Read the reply to `exchange` (masked), or record why there is none."""
        result = yield from self.read_reply(phase, step_timeout)
        exchange.elapsed = self.now() - exchange.started
        if isinstance(result, Reply):
            exchange.reply = self._mask_reply(result)
            self._last_read = (exchange.command, exchange.reply)
            if phase is not Phase.GREETING and phase is not Phase.DATA_END:
                self._round_trips.append(exchange.elapsed)
            if result.code == 421:
                self.model.observe(exchange.command, result)
            return
        exchange.error = result.reason
        if result.deadline:
            self.model.end(EndKind.DEADLINE, DEADLINE_REACHED)
        elif result.aborted:
            self.model.end(EndKind.ABORTED, f"connection aborted: {result.reason}")
        elif result.closed:
            self.model.end(
                EndKind.SERVER_CLOSED, f"the server closed the connection ({result.reason})"
            )
        else:
            # A late reply would be taken for the next command's: stop here.
            self.model.end(EndKind.NO_REPLY, f"no reply to the previous command ({result.reason})")

    def read_reply(
        self, phase: Phase, step_timeout: float | None = None
    ) -> Play[Reply | ReadFailure]:
        """The next complete reply, or why there is none. The limit covers the whole reply."""
        limit = self.limit(phase, step_timeout)
        until = self.until(limit)
        while True:
            event = self._reader.next_event()
            if isinstance(event, Reply):
                return event
            if isinstance(event, CapExceeded):
                yield from self.close(abort=True)
                return ReadFailure(event.message, closed=True, aborted=True)
            if isinstance(event, Closed):
                self.connected = False
                if event.partial:
                    return ReadFailure(
                        f"connection closed in the middle of a reply "
                        f"({_bytes(len(event.partial))} of an unfinished reply)",
                        closed=True,
                    )
                return ReadFailure(CLOSED_BEFORE_REPLY, True)
            if not self.connected:
                return ReadFailure(self._lost or "connection is closed", closed=True)
            if self.clock() >= until:
                return self._timed_out(limit, phase)
            got = yield Receive(until)
            if isinstance(got, Data):
                self._reader.receive_data(got.data)
            elif isinstance(got, Failed):
                self.connected = False
                self._lost = got.reason
                return ReadFailure(got.reason, closed=True)
            else:
                return self._timed_out(limit, phase)

    def count_window(self, within: float | None, step_timeout: float | None = None) -> float:
        """How long `replies:` counts: the step's `within`, --settle, or COUNT_WINDOW; never
        more than the reply timeout."""
        window = within if within is not None else self.options.settle
        window = COUNT_WINDOW if window is None else window
        return min(window, self.limit(Phase.COMMAND, step_timeout))

    def more_replies(self, window: float) -> Play[list[Reply]]:
        """Every complete reply that arrives within `window` seconds (masked): the replies to a
        write that may hold several commands, counted (`replies:`). Bounded by the session
        deadline and DRAIN_READS reads; a close or a reset ends the wait. An incomplete reply
        stays in the parser, for the next look for unsolicited replies to report."""
        if not self.connected and not self._reader.buffered:
            return []
        started = self.clock()
        until = self.until(window)
        replies: list[Reply] = []
        for _ in range(DRAIN_READS):
            event = self._reader.next_event()
            while isinstance(event, Reply):
                replies.append(self._mask_reply(event))
                event = self._reader.next_event()
            if isinstance(event, Closed):
                self.connected = False
                break
            if isinstance(event, CapExceeded):
                yield from self.close(abort=True)
                self.model.end(EndKind.ABORTED, f"connection aborted: {event.message}")
                break
            if not self.connected:
                break
            got = yield Receive(until)
            if isinstance(got, Data):
                self._reader.receive_data(got.data)
                continue
            if isinstance(got, Failed):
                self.connected = False
                self._lost = got.reason
            break
        self.waited += self.clock() - started
        if replies:
            self._last_read = (self._last_read[0] if self._last_read else "", replies[-1])
        return replies

    def _timed_out(self, limit: float, phase: Phase) -> ReadFailure:
        pending = self._reader.buffered
        deadline = self.past_deadline
        if deadline:
            what = DEADLINE_REACHED
        else:
            what = f"no complete reply within {limit:g} s "
            what += f"({self.options.timeouts.describe(phase, limit)})"
        reason = what + (f" ({pending} bytes of an unfinished reply)" if pending else "")
        return ReadFailure(reason, closed=False, deadline=deadline)

    def unsolicited(
        self,
        when: str,
        window: float = 0.0,
        until_close: bool = False,
        note: str | Callable[[], str] = "",
        explain: str = "",
        source: str = SEQUENCE_SOURCE,
    ) -> Play[list[Finding]]:
        """Replies that arrived while no command was outstanding were sent unasked: report them
        and drop them, so each later reply is credited to the command that caused it.

        Takes what has already arrived (window 0: a zero-time poll), or waits `window` seconds
        for more; `until_close` ends the wait when the server closes. Reads at most
        DRAIN_READS times, so a flood stays bounded."""
        if not self.connected and not self._reader.buffered:
            return []
        started = self.clock()
        until = self.until(window) if window > 0 else started
        extras: list[Reply] = []
        partial: ReadFailure | None = None
        for _ in range(DRAIN_READS):
            event = self._reader.next_event()
            while isinstance(event, Reply):
                extras.append(event)
                event = self._reader.next_event()
            if isinstance(event, Closed):
                self.connected = False
                if event.partial:
                    partial = ReadFailure(f"{_bytes(len(event.partial))} and a close", closed=True)
                break
            if isinstance(event, CapExceeded):
                yield from self.close(abort=True)
                partial = ReadFailure(event.message, closed=True, aborted=True)
                break
            if not self.connected or (until_close and self._reader.at_eof):
                break
            got = yield Receive(until)
            if isinstance(got, Data):
                self._reader.receive_data(got.data)
                continue
            if isinstance(got, Failed):
                self.connected = False
                self._lost = got.reason
            break
        if window > 0:
            self.waited += self.clock() - started
        if not extras and partial is None and not self._reader.buffered:
            return []  # nothing came: the common case
        # Shown in the transcript of the step they are reported with (the first few: the finding
        # counts the rest).
        for extra in extras[: max(0, UNASKED_SHOWN - len(self._unasked))]:
            unasked = Exchange(UNSOLICITED, b"", self.now())
            unasked.reply = self._mask_reply(extra)
            self._unasked.append(unasked)
        if partial is None and self._reader.buffered:
            partial = ReadFailure(f"{self._reader.buffered} bytes of an incomplete reply", False)
        findings: list[Finding] = []
        shutdown = next((i for i, r in enumerate(extras) if r.code == SHUTDOWN), None)
        if shutdown is not None:
            # RFC 5321 §3.8: a 421 may come "asynchronously from command receipt". Not a fault:
            # the session is over, and what follows it does not count.
            self.model.observe("", extras[shutdown])
            findings.append(
                Finding(
                    Verdict.PASS,
                    f"the server shut down the session {when}: {_short(extras[shutdown])}",
                    CLOSE_SOURCE,
                )
            )
            extras = extras[:shutdown]
            partial = None
        if extras:
            more = f" (and {len(extras) - 1} more)" if len(extras) > 1 else ""
            shown = _short(self._mask_reply(extras[0]))
            message = (
                f"{explain}: {shown}{more}"
                if explain
                else (f"unsolicited reply {when}: {shown}{more}{_text(note)}")
            )
            findings.append(Finding(Verdict.FAIL, message, source))
        if partial is not None:
            findings.append(
                Finding(
                    Verdict.FAIL,
                    f"unsolicited data from the server {when}: {partial.reason}",
                    SEQUENCE_SOURCE,
                )
            )
            if partial.aborted:
                self.model.end(EndKind.ABORTED, f"connection aborted: {partial.reason}")
            elif partial.closed:
                self.model.end(
                    EndKind.SERVER_CLOSED, f"the server closed the connection ({partial.reason})"
                )
            else:
                # The rest of that reply would be taken for the next command's: the session can
                # no longer attribute replies, so it ends here.
                reason = "out of sync: part of an unsolicited reply is still pending"
                self.model.end(EndKind.OUT_OF_SYNC, reason)
        return findings

    # ---- helpers for handlers: judging and recording ------------------------------------------

    def judge(self, exchange: Exchange, expectation: Expectation | None) -> list[Finding]:
        findings = judge(exchange, self.table, self.options.profile, self.model.facts, expectation)
        if exchange.command == "MAIL":  # (each says nothing of another command)
            findings += self._mail_in_the_clear(exchange)
            findings += self._mail_before_auth(exchange)
        if self.dane is not None:
            findings += self._dane_without_starttls(exchange)
        if self._pending:
            findings = self._pending + findings
            self._pending = []
        return findings

    def _mail_in_the_clear(self, exchange: Exchange) -> list[Finding]:
        """MAIL accepted before STARTTLS on a server that offers it: a failure where the scenario
        says the server must require TLS (`tls: required`), else information."""
        reply, facts = exchange.reply, self.model.facts
        if (
            exchange.command != "MAIL"
            or reply is None
            or reply.code is None
            or not 200 <= reply.code < 300
            or facts.tls_active
            or "STARTTLS" not in facts.extensions
        ):
            return []
        if self.bound.scenario.tls == "required":
            return [
                Finding(
                    Verdict.FAIL,
                    f"the server accepted MAIL ({reply.code}) before STARTTLS, and the scenario "
                    "says it must require TLS first (tls: required; RFC 3207 §4 lets it answer "
                    "530 until then)",
                    "scenario tls: required; RFC 3207 §4",
                )
            ]
        return [
            Finding(Verdict.INFO, "MAIL accepted before STARTTLS: TLS is offered, not required")
        ]

    def _mail_before_auth(self, exchange: Exchange) -> list[Finding]:
        """`auth: required`: MAIL accepted before a successful AUTH, on a server whose EHLO
        reply offers AUTH, fails (RFC 6409 §4.3). Without the key nothing is said: a server may
        accept mail unauthenticated for reasons a client cannot see (a relay for its own
        domains, a client it authorized by address)."""
        reply, facts = exchange.reply, self.model.facts
        if (
            self.bound.scenario.auth != "required"
            or exchange.command != "MAIL"
            or reply is None
            or reply.code is None
            or not 200 <= reply.code < 300
            or facts.authenticated
            or not ({"AUTH", "AUTH="} & set(facts.extensions))
        ):
            return []
        return [
            Finding(
                Verdict.FAIL,
                f"the server accepted MAIL ({reply.code}) before AUTH, and the scenario says it "
                'must require authentication first (auth: required): "The MSA MUST by default '
                "issue an error reply to the MAIL command if the session has not been "
                'authenticated" unless it authorized the client otherwise (by its address, '
                "say), which a client cannot see; RFC 4954 §6 gives the refusal 530 5.7.0",
                "scenario auth: required; RFC 6409 §4.3",
            )
        ]

    def _dane_without_starttls(self, exchange: Exchange) -> list[Finding]:
        """--dane: the first EHLO reply in the clear that does not offer STARTTLS, from a host
        whose DNSSEC-validated TLSA records bind senders to TLS (RFC 7672 §2.2)."""
        reply = exchange.reply
        if (
            self.dane is None
            or not self.dane.tls_required
            or self._dane_starttls_judged
            or exchange.command != "EHLO"
            or reply is None
            or reply.code != 250
            or self.model.facts.tls_active
        ):
            return []
        self._dane_starttls_judged = True
        from probe.protocol.ehlo import parse_ehlo

        if "STARTTLS" in parse_ehlo(reply).extensions:
            return []
        info = self._dane_result()
        from probe import dane

        return [dane.starttls_missing(info)] if info is not None else []

    def _dane_result(self) -> DaneInfo | None:
        """The DANE facts for the report: matched against the TLS chain when there was one."""
        if self._dane_info is None and self.dane is not None:
            from probe import dane  # imported only with --dane: a plain run needs none of it

            return dane.evaluate(self.dane, None, datetime.now(UTC))
        return self._dane_info

    def _closed_after_previous(self) -> None:
        """The server closed the connection after its last reply, with no 421 and not after QUIT
        (RFC 5321 §3.8): a finding on the step that got that reply; the session ends."""
        previous = self.log.last_judged()
        command, reply = self._last_read if self._last_read else ("the greeting", None)
        code = reply.code if reply is not None else None
        if code in (500, 502):
            finding = Finding(
                Verdict.FAIL,
                f'the server closed the connection after answering {code} to {command}: "a '
                "server that closes connections in response to commands that are not understood "
                'is in violation of this specification"',
                CLOSE_SOURCE,
            )
        else:
            finding = Finding(
                Verdict.WARN,
                f"the server closed the connection after its reply to {command}"
                f'{f" ({code})" if code else ""}, with no 421: "An SMTP server MUST NOT '
                'intentionally close the connection under normal operational circumstances" '
                "except after a 221 to QUIT or a 421 (§7.8 allows it against an attack)",
                CLOSE_SOURCE,
            )
        label = previous.label if previous is not None else "the greeting"
        self.model.end(EndKind.SERVER_CLOSED, f"the server closed the connection after '{label}'")
        self._amend_previous([finding])

    def _amend_previous(self, findings: list[Finding]) -> None:
        """Add what was seen after a step's reply (and before anything else was sent) to that
        step: findings, and the unsolicited replies in its transcript."""
        if self.log.amend_last(findings, self._unasked):
            self._unasked = []
        else:
            self._pending += findings

    def take_unasked_reply(self) -> Reply | None:
        """The first unsolicited reply not yet reported with a step, to be credited after all."""
        if not self._unasked:
            return None
        return self._unasked.pop(0).reply

    def judge_later(self, findings: list[Finding]) -> None:
        """Findings for the next judgement (unsolicited replies seen between exchanges)."""
        self._pending += findings

    def observe(self, exchange: Exchange) -> None:
        """Update the server model from a judged reply."""
        if exchange.reply is not None:
            self.model.observe(exchange.command, exchange.reply)

    def record(self, step: Step, exchanges: list[Exchange], findings: list[list[Finding]]) -> None:
        if self._unasked:
            exchanges = sorted([*exchanges, *self._unasked], key=lambda e: e.started)
            self._unasked = []
        self.log.record(step, exchanges, [f for group in findings for f in group])

    def not_applicable(self, step: Step, reason: str) -> None:
        """The step does not apply to this server (nothing was sent): skipped, not counted."""
        self._skip(step, f"not applicable: {reason}", applicable=False)

    def fail_step(self, step: Step, reason: str) -> None:
        """The step could not be played for a reason on the probe's side (nothing was sent)."""
        self.log.skip(step, reason, under_way=True)

    def _skip(
        self, step: Step, reason: str, under_way: bool = False, applicable: bool = True
    ) -> None:
        self.log.skip(step, reason, under_way, applicable)

    def add_secrets(self, forms: list[bytes]) -> None:
        """Secrets derived during the session (a CRAM digest, a SCRAM proof): masked from now on."""
        self.masker.add(forms)

    def mask(self, data: bytes) -> bytes:
        return self.masker.bytes(data)

    def _mask_reply(self, reply: Reply) -> Reply:
        return self.masker.reply(reply)

    def _new_model(self) -> ServerModel:
        """A fresh model of the server, knowing the policies the scenario declares it has
        (`tls: required`, `auth: required`)."""
        model = ServerModel()
        scenario = self.bound.scenario
        declared = {"tls_required": scenario.tls, "auth_required": scenario.auth}
        model.facts.declared = frozenset(k for k, v in declared.items() if v == "required")
        return model

    def _new_reader(self) -> ReplyReader:
        return ReplyReader(self.options.max_reply_bytes, self.options.max_reply_lines)


OLD_TLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")


def _certificate_facts(
    chain: tuple[bytes, ...], name: str, options: RunOptions
) -> tuple[tuple[CertInfo, ...], TlsVerification | None]:
    """The presented chain in words, and whether it verifies and names `name`."""
    try:
        from probe import tlsfacts
    except ImportError:  # cryptography missing: the session goes on without the facts
        return (), None
    now = datetime.now(UTC)
    infos = tlsfacts.certificates(chain, now)
    return infos, tlsfacts.verify(chain, infos, name, options.cafile, now)


def address_literal(address: str) -> str:
    """RFC 5321 §4.1.3: [192.0.2.1], or [IPv6:2001:db8::1] (the zone of a link-local address
    dropped: it means nothing to the server)."""
    address = address.split("%", 1)[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _is_message_data(step: Step) -> bool:
    """A step that can follow a 354 outside a `data` step: raw bytes sent as they are, or a
    pipeline that starts with them (RFC 2920 §3.1: "The actual transfer of message content is
    explicitly allowed to be the first "command" in a group")."""
    if step.kind is StepKind.PIPELINE:
        return bool(step.steps) and _is_message_data(step.steps[0])
    return step.kind is StepKind.SEND and step.raw is not None


def _with_connect(steps: tuple[Step, ...]) -> list[Step]:
    """The steps to play: a `connect` first, implicit if the scenario does not start with one."""
    out = list(steps)
    if not out or out[0].kind is not StepKind.CONNECT:
        position = out[0].position if out else None
        out.insert(0, Step(StepKind.CONNECT, position, "connect (implicit)"))  # type: ignore[arg-type]
    return out


def _text(note: str | Callable[[], str]) -> str:
    return note if isinstance(note, str) else note()


def _short(reply: Reply) -> str:
    lines = reply.display_lines
    return lines[0] + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")


__all__ = ["Play", "ReadFailure", "RunOptions", "Session"]


def _median(values: list[float]) -> float:
    """statistics.median, without importing statistics (fractions, decimal) into every run."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _bytes(count: int) -> str:
    return f"{count} byte{'' if count == 1 else 's'}"
