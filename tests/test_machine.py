"""The session machine and its handlers, driven by byte strings alone: no socket, no server, no
event loop, and a clock that moves only when a test moves it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import BASIC

from probe.results import TlsInfo
from probe.scenario import StepKind, bind, load_scenario
from probe.session.actions import (
    DONE,
    TIMED_OUT,
    Close,
    Connect,
    Connected,
    Data,
    Event,
    Failed,
    Receive,
    Send,
    StartTLS,
    TLSUp,
)
from probe.session.handlers import HANDLERS
from probe.session.machine import RunOptions, Session
from probe.session.state import EndKind, Mode
from probe.session.timeouts import Phase, Timeouts

HOST = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scenario(tmp_path: Path, steps: str, **values: str):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nsteps:\n" + steps, encoding="utf-8")
    return bind(load_scenario(path), values, {})


def machine(bound, clock: Clock | None = None, **options) -> Session:
    return Session(bound, HOST, 2525, RunOptions(**options), clock=clock or Clock())


# A server as a function: each command line (or message) -> the bytes it answers.
Answer = Callable[[bytes], bytes | None]


@dataclass
class FakeServer:
    """Plays the server's side of the actions: what the machine sends is recorded, answers are
    queued as bytes; a Receive with nothing queued times out (the clock jumps to its end)."""

    clock: Clock
    greeting: bytes = b"220 mx.test ESMTP\r\n"
    replies: dict[str, bytes] = field(default_factory=dict)
    data_end: bytes = b"250 2.0.0 queued\r\n"
    sent: list[bytes] = field(default_factory=list)
    actions: list[object] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # the clock when each action was asked
    queue: bytes = b""
    in_data: bool = False
    closed: bool = False
    close_after_quit: bool = True

    def perform(self, action: object) -> Event:
        self.actions.append(action)
        self.times.append(self.clock.now)
        if isinstance(action, Connect):
            self.queue = self.greeting
            self.closed = self.in_data = False  # a new connection
            return Connected(f"{action.host}:{action.port}")
        if isinstance(action, Send):
            self.sent.append(action.data)
            self._answer(action.data)
            return DONE
        if isinstance(action, Receive):
            if self.queue:
                data, self.queue = self.queue, b""
                return Data(data)
            if self.closed:
                return Data(b"")
            self.clock.now = max(self.clock.now, action.until)
            return TIMED_OUT
        if isinstance(action, StartTLS):
            return TLSUp("TLSv1.3", "TLS_AES_128_GCM_SHA256")
        assert isinstance(action, Close)
        return DONE

    def _answer(self, data: bytes) -> None:
        if self.in_data:
            if data.endswith(b"\r\n.\r\n") or data == b".\r\n":
                self.in_data = False
                self.queue += self.data_end
            return
        verb = data.split(b" ", 1)[0].strip().upper().decode()
        reply = self.replies.get(verb, b"221 bye\r\n" if verb == "QUIT" else b"250 ok\r\n")
        self.queue += reply
        if reply.startswith(b"354"):
            self.in_data = True
        if verb == "QUIT" and reply.startswith(b"221") and self.close_after_quit:
            self.closed = True


def drive(session: Session, server: FakeServer, target: str = "t"):
    action = session.next_action()
    while action is not None:
        session.feed(server.perform(action))
        action = session.next_action()
    return session.result(target)


def test_the_first_actions_are_connect_then_wait_for_the_greeting():
    clock = Clock()
    bound = bind(load_scenario(BASIC), {"domain": "example.test"}, {})
    m = machine(bound, clock)
    assert m.next_action() == Connect(HOST, 2525, clock.now + 10.0)
    m.feed(Connected("127.0.0.1:2525"))
    assert m.next_action() == Receive(clock.now + 30.0)  # the greeting, short profile
    m.feed(Data(b"220 mx.test ESMTP\r\n"))
    window = m.next_action()  # the quiet window after the greeting
    assert isinstance(window, Receive) and clock.now < window.until <= clock.now + 0.1
    m.feed(TIMED_OUT)
    poll = m.next_action()  # the zero-time poll before EHLO: no timer at all
    assert poll == Receive(clock.now)
    m.feed(TIMED_OUT)
    assert m.next_action() == Send(b"EHLO probe.smtp-probe.invalid\r\n", clock.now + 30.0)


def test_basic_yaml_against_bytes_sends_exactly_its_commands_and_passes():
    clock = Clock()
    bound = bind(load_scenario(BASIC), {"domain": "example.test"}, {})
    server = FakeServer(clock, replies={"DATA": b"354 go ahead\r\n", "VRFY": b"252 maybe\r\n"})
    result = drive(machine(bound, clock), server)
    assert result.verdict == "pass", [(s.label, s.findings) for s in result.steps]
    verbs = [data.split(b" ", 1)[0].split(b"\r\n")[0] for data in server.sent]
    expected = b"EHLO MAIL RCPT DATA From: MAIL RCPT RSET NOOP VRFY QUIT".split()
    assert verbs == expected
    # A plain message (CRLF line ends only: nothing to take for the end of data) goes in one
    # write with its final dot, and no timer waits around it.
    body = server.sent[verbs.index(b"From:")]
    assert body.endswith(b"\r\n.\r\n") and b"\r\n.\r\n" not in body[:-5]
    assert isinstance(server.actions[-1], Close)


def test_no_timer_is_set_before_a_command_only_zero_time_polls(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - connect\n  - ehlo: a.test\n  - noop\n  - rset\n")
    server = FakeServer(clock)
    drive(machine(bound, clock, settle=5.0), server)
    # Every Receive right before a Send is a poll (until == the time it was asked at); the only
    # quiet window is the one after the greeting (5 s here, from --settle).
    polls = [
        server.actions[i]
        for i in range(1, len(server.actions))
        if isinstance(server.actions[i], Send) and isinstance(server.actions[i - 1], Receive)
    ]
    assert len(polls) == 3
    waits = [
        a.until - at
        for a, at in zip(server.actions, server.times, strict=True)
        if isinstance(a, Receive)
    ]
    assert waits.count(5.0) == 1
    assert sorted(set(waits)) == [0.0, 5.0, 30.0]  # polls, the window, waits for replies


@pytest.mark.parametrize(
    ("quit_reply", "noop_runs"),
    [(b"221 bye\r\n", False), (b"500 what?\r\n", True), (b"501 no arguments\r\n", True)],
)
def test_only_a_221_to_quit_ends_the_session(tmp_path: Path, quit_reply: bytes, noop_runs: bool):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - quit\n  - noop\n")
    server = FakeServer(clock, replies={"QUIT": quit_reply})
    result = drive(machine(bound, clock), server)
    noop = result.steps[-1]
    if noop_runs:
        assert noop.verdict != "skip" and noop.exchanges[0].reply is not None
        assert server.sent[-1] == b"NOOP\r\n"
    else:
        assert noop.verdict == "skip" and noop.reason == "after QUIT"
        assert result.verdict == "pass"  # steps after a QUIT are not "not probed"


def test_a_354_to_any_line_puts_the_server_in_message_data_mode(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - send: {raw: 'XDATA\\r\\n'}\n")
    server = FakeServer(clock, replies={"XDATA": b"354 go on\r\n"})
    m = machine(bound, clock)
    drive(m, server)
    assert m.model.mode is Mode.MESSAGE


def test_an_accepted_ehlo_ends_the_transaction_whoever_asked(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n")
    m = machine(bound, clock)
    drive(m, FakeServer(clock))
    assert m.model.facts.in_transaction
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - send: EHLO again.test\n")
    m = machine(bound, clock)
    drive(m, FakeServer(clock, replies={"EHLO": b"250-mx.test\r\n250 SIZE 1000\r\n"}))
    assert not m.model.facts.in_transaction
    assert m.model.facts.extensions == {"SIZE": ("1000",)}


def test_a_421_ends_the_session_and_the_rest_is_skipped_with_the_reason(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n")
    m = machine(bound, clock)
    result = drive(m, FakeServer(clock, replies={"MAIL": b"421 4.3.2 bye\r\n"}))
    assert m.model.ended is not None and m.model.ended.kind is EndKind.SHUTDOWN
    assert result.steps[-1].verdict == "skip"
    assert result.steps[-1].reason == "the server shut down the session: 421 4.3.2 bye"
    assert result.verdict == "error"


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("short", {"greeting": 30.0, "EHLO": 30.0, "MAIL": 30.0, "DATA": 30.0, "end": 30.0}),
        ("rfc", {"greeting": 300.0, "EHLO": 300.0, "MAIL": 300.0, "DATA": 120.0, "end": 600.0}),
    ],
)
def test_reply_timeouts_follow_the_phase(tmp_path: Path, profile: str, expected: dict):
    clock = Clock()
    bound = scenario(
        tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n  - data: hi\n"
    )
    server = FakeServer(clock, replies={"DATA": b"354 go\r\n"})
    drive(machine(bound, clock, timeouts=Timeouts(profile), session_deadline=3600.0), server)
    names = {
        b"EHLO a.test\r\n": "EHLO",
        b"MAIL FROM:<a@b.test>\r\n": "MAIL",
        b"DATA\r\n": "DATA",
        b"hi\r\n.\r\n": "end",
    }
    waits = {"greeting": server.actions[1].until - server.times[1]}  # right after Connect
    for index, action in enumerate(server.actions):
        if isinstance(action, Send) and action.data in names:
            reply_wait = server.actions[index + 1]  # the wait for its reply
            assert isinstance(reply_wait, Receive)
            waits[names[action.data]] = reply_wait.until - server.times[index + 1]
    assert waits == pytest.approx(expected)


def test_a_timeout_names_the_phase_and_the_rfc_figure(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n")
    server = FakeServer(clock, replies={"MAIL": b""})  # MAIL gets no reply at all
    result = drive(machine(bound, clock), server)
    mail = result.steps[2]
    assert mail.verdict == "error"
    assert mail.reason == (
        "no complete reply within 30 s (MAIL phase; RFC 5321 §4.5.3.2.2 allows the server 5 min)"
    )
    assert result.steps[3].reason.startswith("no reply to the previous command")


def test_a_timeout_past_the_rfc_figure_says_so(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - data: hi\n")
    server = FakeServer(clock, replies={"DATA": b""})
    result = drive(machine(bound, clock, timeouts=Timeouts(override=200.0)), server)
    assert result.steps[2].reason == (
        "no complete reply within 200 s (DATA initiation phase; longer than the 2 min of "
        "RFC 5321 §4.5.3.2.4)"
    )


def test_a_steps_own_timeout_wins_over_its_phase(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: {from: a@b.test, timeout: 7}\n")
    server = FakeServer(clock, replies={"MAIL": b""})
    result = drive(machine(bound, clock, timeouts=Timeouts("rfc")), server)
    assert result.steps[2].reason.startswith("no complete reply within 7 s (MAIL phase")


def test_an_extra_reply_already_there_is_reported_before_the_next_command(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n")
    server = FakeServer(clock, replies={"EHLO": b"250 mx.test\r\n250 2.0.0 extra\r\n"})
    result = drive(machine(bound, clock), server)
    mail = result.steps[2]
    assert mail.verdict == "fail"
    assert mail.findings[0].message.startswith(
        "unsolicited reply before the command was sent: 250 2.0.0 extra; out of sync"
    )
    assert mail.exchanges[0].reply is not None and mail.exchanges[0].reply.code == 250
    assert result.steps[3].verdict == "pass"


SMUGGLE = "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n" + (
    "  - data: {raw: 'Subject: x\\r\\n\\r\\nhi\\n.\\nNOOP\\r\\n\\r\\n.\\r\\n', name: smuggle}\n"
    "  - rset\n"
)


class EarlyEnd(FakeServer):
    """Takes <LF>.<LF> for the end of data, and reads what follows as commands."""

    def _answer(self, data: bytes) -> None:
        if self.in_data:
            self.in_data = False
            self.queue += b"250 queued\r\n"
            rest = data.split(b"\n.\n", 1)[1] if b"\n.\n" in data else data
            for line in rest.split(b"\r\n"):
                if line:
                    self.queue += b"500 5.5.2 what?\r\n"
            return
        super()._answer(data)


def test_a_message_with_an_end_lookalike_goes_in_two_writes_with_a_window(tmp_path: Path):
    clock = Clock()
    server = FakeServer(clock, replies={"DATA": b"354 go\r\n"})
    result = drive(machine(scenario(tmp_path, SMUGGLE), clock), server)
    assert result.verdict == "pass", [(s.label, s.findings) for s in result.steps]
    assert server.sent[4] == b"Subject: x\r\n\r\nhi\n.\nNOOP\r\n\r\n"
    assert server.sent[5] == b".\r\n"
    window = server.actions[server.actions.index(Send(server.sent[4], ANY)) + 1]
    assert isinstance(window, Receive)


def test_a_server_that_ends_the_data_at_lf_dot_lf_fails_as_smuggling(tmp_path: Path):
    clock = Clock()
    server = EarlyEnd(clock, replies={"DATA": b"354 go\r\n"})
    result = drive(machine(scenario(tmp_path, SMUGGLE), clock), server)
    data = result.steps[4]
    assert data.verdict == "fail"
    assert data.findings[0].source == "RFC 5321 §4.1.1.4"
    assert data.findings[0].message.startswith(
        "the server answered before the final <CRLF>.<CRLF> was sent: it took the <LF>.<LF> at "
        "offset 16 of the message for the end of data, and read the rest of the message as "
        "commands (SMTP smuggling"
    )
    assert data.reason == data.findings[0].message


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()


def test_an_unsolicited_partial_reply_ends_the_session_out_of_sync(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n")
    server = FakeServer(clock, replies={"EHLO": b"250 mx.test\r\n250-half a rep"})
    m = machine(bound, clock)
    result = drive(m, server)
    assert m.model.ended is not None and m.model.ended.kind is EndKind.OUT_OF_SYNC
    assert result.steps[1].verdict == "fail"  # EHLO: a reply and a half came to it
    assert "after the reply to EHLO" in result.steps[1].reason
    reason = "out of sync: part of an unsolicited reply is still pending"
    assert [s.reason for s in result.steps[2:]] == [reason, reason]
    assert server.sent == [b"EHLO a.test\r\n"]  # nothing more was sent


def test_the_session_deadline_stops_everything(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - noop\n  - noop\n")
    server = FakeServer(clock, replies={"NOOP": b""})
    result = drive(machine(bound, clock, session_deadline=20.0), server)
    assert result.steps[2].reason == "session deadline reached"
    assert result.steps[3].reason == "session deadline reached"
    assert clock.now <= 1000.0 + 20.0  # no wait was asked for past the deadline


def test_a_connect_failure_is_an_error_and_nothing_else_is_sent(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n")
    m = machine(bound, clock)
    assert isinstance(m.next_action(), Connect)
    m.feed(Failed("Connection refused"))
    assert m.next_action() is None
    result = m.result("t")
    assert result.steps[0].reason == "connect to 127.0.0.1:2525 failed: Connection refused"
    assert result.steps[1].reason == "not connected"
    assert result.address is None


def test_starttls_resets_what_the_server_said_and_records_tls(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - starttls\n  - ehlo: a.test\n")
    server = FakeServer(
        clock, replies={"EHLO": b"250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS": b"220 go\r\n"}
    )
    m = machine(bound, clock)
    result = drive(m, server)
    assert any(isinstance(a, StartTLS) for a in server.actions)
    assert m.model.tls_version == "TLSv1.3" and m.model.facts.tls_active
    messages = [f.message for f in result.steps[2].findings]
    assert "TLS established (TLSv1.3)" in messages
    # The fake server's handshake shows no certificate: said, as a warning without --tls-verify.
    assert any("the server sent no certificate" in m for m in messages), messages
    assert result.tls is not None
    assert (result.tls.version, result.tls.cipher) == ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    assert result.tls.chain == () and isinstance(result.tls, TlsInfo)


def test_an_interrupt_keeps_what_was_judged(tmp_path: Path):
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - noop\n  - noop\n")
    m = machine(bound, clock)
    server = FakeServer(clock)
    for _ in range(5):  # part of the way in: connect, greeting, window, poll, EHLO
        action = m.next_action()
        assert action is not None
        m.feed(server.perform(action))
    m.interrupt()
    assert m.next_action() is None
    verdicts = [s.verdict for s in m.result("t").steps]
    assert "error" in verdicts and verdicts[-1] == "skip"
    assert [s.reason for s in m.result("t").steps if s.verdict != "pass"] == (
        ["interrupted"] * verdicts.count("error") + ["interrupted"] * verdicts.count("skip")
    )


def test_every_step_kind_has_a_handler():
    assert set(HANDLERS) == set(StepKind)


def test_quiet_windows_follow_the_median_round_trip(tmp_path: Path):
    clock = Clock()

    class Slow(FakeServer):  # every reply takes 40 ms of (fake) time
        def perform(self, action: object) -> Event:
            if isinstance(action, Receive) and self.queue:
                self.clock.now += 0.04
            return super().perform(action)

    bound = scenario(tmp_path, "  - ehlo: a.test\n  - noop\n")
    m = machine(bound, clock)
    drive(m, Slow(clock))
    assert m.window() == pytest.approx(0.02)  # half a round trip
    assert m.end_window() == pytest.approx(0.08)  # two, around an end-of-data lookalike
    quick = machine(bound, clock)
    assert quick.end_window() == 0.1  # no round trip measured yet: the cap
    assert m.window(step_settle=0.5) == 0.5
    fixed = machine(bound, clock, settle=0.3)
    assert fixed.window() == 0.3 and fixed.end_window() == 0.3


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("probe.session.machine", ("asyncio", "socket", "ssl")),
        ("probe.session.handlers", ("asyncio", "socket", "ssl")),
        ("probe.session.drivers.blocking", ("asyncio",)),
    ],
)
def test_what_each_layer_imports(module: str, forbidden: tuple[str, ...]):
    # The machine does no I/O at all; the blocking driver pays for no event loop.
    code = f"import sys, {module}; print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_phases_cover_rfc_5321_section_4_5_3_2():
    timeouts = Timeouts("rfc")
    figures = {phase: timeouts.limit(phase) for phase in Phase}
    assert figures[Phase.GREETING] == 300 and figures[Phase.MAIL] == 300
    assert figures[Phase.RCPT] == 300 and figures[Phase.DATA_INIT] == 120
    assert figures[Phase.DATA_BLOCK] == 180 and figures[Phase.DATA_END] == 600
    assert set(Timeouts("short").limit(phase) for phase in Phase) == {30.0}
    assert Timeouts("rfc", override=5).limit(Phase.DATA_END) == 5
    assert Timeouts("rfc", override=5).limit(Phase.DATA_END, step_timeout=9) == 9


def test_a_close_is_judged_alike_whether_it_beats_the_next_command_or_not(tmp_path: Path):
    # The server closes right after its 500; here the close reaches the probe only after NOOP
    # went out (the race the poll before a command can lose). The verdict is the same as when the
    # poll sees it: a finding on the step that got the 500, the rest skipped.
    clock = Clock()
    bound = scenario(tmp_path, "  - ehlo: a.test\n  - send: XYZZY\n  - noop\n  - quit\n")

    class LateClose(FakeServer):
        def _answer(self, data: bytes) -> None:
            if data.startswith(b"NOOP"):
                self.closed = True  # the FIN arrives with, not before, the next command
                return
            super()._answer(data)

    server = LateClose(clock, replies={"XYZZY": b"500 5.5.2 what?\r\n"})
    result = drive(machine(bound, clock), server)
    xyzzy, noop, quit_ = result.steps[2:]
    assert xyzzy.verdict == "fail"
    assert "commands that are not understood is in violation" in xyzzy.reason
    assert noop.verdict == quit_.verdict == "skip"
    assert noop.reason == "the server closed the connection after 'send XYZZY'"


# ---- issue 19's engine: reply counting, the close after QUIT, comparisons, preconditions ------


class LineServer(FakeServer):
    """Reads what the machine sends line by line, ended by `terminator` (a CRLF-only server by
    default; b"\\n" makes one that also takes a bare LF for the end of a line), and answers each
    line (or the end of a message) on its own."""

    terminator: bytes = b"\r\n"
    buffer: bytes = b""

    def _answer(self, data: bytes) -> None:
        self.buffer += data
        while self.terminator in self.buffer:
            line, self.buffer = self.buffer.split(self.terminator, 1)
            line = line.removesuffix(b"\r")
            if self.in_data:
                if line == b".":
                    self.in_data = False
                    self.queue += self.data_end
                continue
            super()._answer(line + b"\r\n")


class BareLfServer(LineServer):
    terminator = b"\n"


COUNTED = (
    "  - ehlo: a.test\n"
    "  - send: {raw: 'NOOP\\nNOOP\\r\\n', as: NOOP, replies: {at_most: 1},\n"
    "           why: 'RFC 5321 §2.3.8'}\n"
    "  - noop\n"
)


def test_replies_counts_the_replies_to_one_write_over_a_window(tmp_path: Path):
    clock = Clock()
    server = LineServer(clock)
    result = drive(machine(scenario(tmp_path, COUNTED), clock), server)
    counted = result.steps[2]
    assert counted.verdict == "pass", counted.findings
    assert counted.findings[-1].message == (
        "1 reply to the bytes sent (counted for 0.5 s): at most 1 reply expected"
    )
    # After the reply, one quiet window of COUNT_WINDOW seconds, then the next command's poll.
    sent = server.actions.index(Send(b"NOOP\nNOOP\r\n", ANY))
    first, window = server.actions[sent + 1 : sent + 3]
    assert isinstance(first, Receive) and isinstance(window, Receive)
    assert window.until - server.times[sent + 2] == pytest.approx(0.5)
    assert result.steps[3].verdict == "pass"


def test_a_server_that_answers_inside_one_line_fails_the_count_and_stays_in_step(tmp_path: Path):
    clock = Clock()
    result = drive(machine(scenario(tmp_path, COUNTED), clock), BareLfServer(clock))
    counted = result.steps[2]
    assert counted.verdict == "fail"
    assert counted.reason == (
        "expected at most 1 reply (must): 2 replies to the bytes sent (counted for 0.5 s)"
    )
    assert counted.findings[-1].source == "RFC 5321 §2.3.8"
    assert [e.reply.code for e in counted.exchanges if e.reply] == [250, 250]
    # Both replies were counted in the step: the next command gets its own reply, in step.
    assert result.steps[3].verdict == "pass", result.steps[3].findings


def test_a_count_of_zero_awaits_no_reply_and_within_sets_the_window(tmp_path: Path):
    clock = Clock()
    steps = "  - ehlo: a.test\n  - send: {raw: 'x', replies: {exactly: 0, within: 2}}\n"
    server = FakeServer(clock, replies={"X": b""})
    result = drive(machine(scenario(tmp_path, steps), clock), server)
    step = result.steps[2]
    assert step.verdict == "pass", step.findings
    assert step.findings[-1].message.startswith("0 replies to the bytes sent (counted for 2 s)")
    sent = server.actions.index(Send(b"x", ANY))
    window = server.actions[sent + 1]
    assert isinstance(window, Receive)
    assert window.until - server.times[sent + 1] == pytest.approx(2.0)
    answered = FakeServer(clock, replies={"X": b"500 what\r\n"})
    result = drive(machine(scenario(tmp_path, steps), clock), answered)
    assert result.steps[2].verdict == "fail"
    assert "expected exactly 0 replies (must): 1 reply" in result.steps[2].reason
    (only,) = result.steps[2].exchanges  # the reply that came goes with the bytes sent
    assert only.sent == b"x" and only.reply is not None and only.reply.code == 500


@pytest.mark.parametrize("closes", [True, False])
def test_a_server_that_stays_connected_after_221_fails(tmp_path: Path, closes: bool):
    clock = Clock()
    steps = "  - ehlo: a.test\n  - quit\n"
    server = FakeServer(clock, close_after_quit=closes)
    result = drive(machine(scenario(tmp_path, steps), clock), server)
    quit_ = result.steps[2]
    waits = [
        a.until - at
        for a, at in zip(server.actions, server.times, strict=True)
        if isinstance(a, Receive)
    ]
    if closes:
        assert quit_.verdict == "pass", quit_.findings
    else:
        assert quit_.verdict == "fail"
        assert quit_.findings[-1].source == "RFC 5321 §4.1.1.10"
        assert quit_.reason.startswith(
            "the server answered 221 to QUIT and had not closed the connection 5 s later"
        )
    assert max(waits) == pytest.approx(30.0)  # the reply
    assert any(w == pytest.approx(5.0) for w in waits)  # the wait for the close
    # The wait never passes the step's own reply timeout.
    bounded = FakeServer(clock, close_after_quit=False)
    drive(machine(scenario(tmp_path, "  - quit: {timeout: 2}\n"), clock), bounded)
    waits = [
        a.until - at
        for a, at in zip(bounded.actions, bounded.times, strict=True)
        if isinstance(a, Receive)
    ]
    assert waits[-1] == pytest.approx(2.0)


PRECONDITION = (
    "  - ehlo: a.test\n"
    "  - mail: {from: a@b.test, save: {mail: {code: true}}}\n"
    "  - rcpt: {to: '<>', when: {accepted: mail}, expect: [501, 553]}\n"
    "  - noop: {name: after refusal, when: {refused: mail}}\n"
)


@pytest.mark.parametrize(("mail", "played"), [(b"250 ok\r\n", "rcpt"), (b"550 no\r\n", "noop")])
def test_when_accepted_and_refused_follow_a_saved_reply_code(
    tmp_path: Path, mail: bytes, played: str
):
    clock = Clock()
    server = FakeServer(clock, replies={"MAIL": mail, "RCPT": b"501 bad path\r\n"})
    result = drive(machine(scenario(tmp_path, PRECONDITION), clock), server)
    rcpt, noop = result.steps[3:5]
    skipped = noop if played == "rcpt" else rcpt
    ran = rcpt if played == "rcpt" else noop
    assert ran.verdict == "pass", ran.findings
    assert skipped.verdict == "skip" and not skipped.applicable
    if played == "rcpt":
        assert skipped.reason == "not applicable: mail was accepted (250) (when: refused mail)"
    else:
        assert skipped.reason == "not applicable: mail was refused (550) (when: accepted mail)"
        assert not any(s.startswith(b"RCPT") for s in server.sent)


COMPARED = (
    "  - connect: {name: fresh session}\n"
    "  - mail: {from: a@b.test, name: fresh mail, save: {fresh: {code: true}}}\n"
    "  - quit\n"
    "  - connect\n"
    "  - ehlo: a.test\n"
    "  - rset\n"
    "  - mail: {from: a@b.test, expect: {same_class_as: fresh}}\n"
)


@pytest.mark.parametrize(("second", "verdict"), [(b"501 no\r\n", "pass"), (b"250 ok\r\n", "fail")])
def test_same_class_as_compares_with_the_class_a_fresh_session_got(
    tmp_path: Path, second: bytes, verdict: str
):
    clock = Clock()

    class Fresh(FakeServer):  # MAIL before EHLO refused with 503; later MAILs get `second`
        greeted = False

        def _answer(self, data: bytes) -> None:
            if data.startswith(b"EHLO"):
                self.greeted = True
            if data.startswith(b"MAIL"):
                self.queue += second if self.greeted else b"503 5.5.1 EHLO first\r\n"
                return
            super()._answer(data)

    server = Fresh(clock)
    result = drive(machine(scenario(tmp_path, COMPARED), clock), server)
    last = result.steps[-1]
    assert last.verdict == verdict, (last.reason, last.findings)
    if verdict == "fail":
        assert last.reason == (
            "expected the class of the code saved as fresh (5xx) (must): got 250"
        )


def test_a_pipeline_after_354_starts_with_the_message_and_its_end(tmp_path: Path):
    clock = Clock()
    steps = (
        "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n"
        "  - send: {line: DATA, expect: 354}\n"
        "  - pipeline:\n"
        "      - send: {raw: 'Subject: x\\r\\n\\r\\nbody\\r\\n.\\r\\n'}\n"
        "      - send: {line: QUIT, expect: 221}\n"
    )
    offers = b"250-mx.test\r\n250 PIPELINING\r\n"
    server = LineServer(clock, replies={"DATA": b"354 go\r\n", "EHLO": offers})
    result = drive(machine(scenario(tmp_path, steps), clock), server)
    assert result.verdict == "pass", [(s.label, s.findings) for s in result.steps]
    assert server.sent[-1] == b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"  # one write
    end, quit_ = result.steps[-2:]
    assert end.exchanges[0].command == "DATA-END" and quit_.exchanges[0].command == "QUIT"


@pytest.mark.parametrize(
    ("greeting", "verdict"),
    [
        (b"220 mx.test ESMTP\r\n", "pass"),
        (b"220 [192.0.2.1] ESMTP\r\n", "pass"),
        (b"220-mx.test hello\r\n220 more text\r\n", "pass"),
        (b"220 *** welcome ***\r\n", "fail"),
        (b"220 \r\n", "fail"),
    ],
)
def test_the_greeting_starts_with_a_domain_or_address_literal(
    tmp_path: Path, greeting: bytes, verdict: str
):
    clock = Clock()
    server = FakeServer(clock, greeting=greeting)
    result = drive(machine(scenario(tmp_path, "  - connect\n  - quit\n"), clock), server)
    connect = result.steps[0]
    assert connect.verdict == verdict, connect.findings
    if verdict == "fail":
        assert "not a domain or address literal" in connect.reason


def test_a_pipelined_command_left_unanswered_fails_when_pipelining_was_offered(tmp_path: Path):
    clock = Clock()
    steps = (
        "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n"
        "  - send: {line: DATA, expect: 354}\n"
        "  - pipeline:\n"
        "      - send: {raw: 'Subject: x\\r\\n\\r\\nbody\\r\\n.\\r\\n'}\n"
        "      - send: {line: QUIT, expect: 221}\n"
    )

    class Forgets(LineServer):  # what comes after the end of data, in the same write, is lost
        def _answer(self, data: bytes) -> None:
            if self.in_data and b"\r\n.\r\n" in data:
                data = data[: data.index(b"\r\n.\r\n") + 5]
            super()._answer(data)

    offers = b"250-mx.test\r\n250 PIPELINING\r\n"
    server = Forgets(clock, replies={"DATA": b"354 go\r\n", "EHLO": offers})
    rfc = machine(
        scenario(tmp_path, steps), clock, timeouts=Timeouts("rfc"), session_deadline=3600.0
    )
    result = drive(rfc, server)
    end, quit_ = result.steps[-2:]
    assert end.verdict == "pass"
    assert quit_.verdict == "fail"
    assert quit_.findings[-1].source == "RFC 2920 §3.2"
    assert "MUST NOT flush or otherwise lose" in quit_.reason
    # Waiting less than RFC 5321 §4.5.3.2 gives the reply (the short profile's 30 s), a lost
    # command cannot be told from a slow server: an error, not a fail.
    clock = Clock()
    server = Forgets(clock, replies={"DATA": b"354 go\r\n", "EHLO": offers})
    quit_ = drive(machine(scenario(tmp_path, steps), clock), server).steps[-1]
    assert quit_.verdict == "error", quit_
    assert not any(f.source == "RFC 2920 §3.2" for f in quit_.findings)
    assert "allows the server 5 min" in quit_.reason


def test_oversize_pads_the_message_past_the_advertised_size_in_bounded_writes(tmp_path: Path):
    clock = Clock()
    steps = (
        "  - ehlo: a.test\n  - mail: a@b.test\n  - rcpt: c@d.test\n"
        "  - data: {body: 'Subject: big', oversize: true, expect: 354, expect_end: 552}\n"
        "  - noop\n"
    )
    offers = b"250-mx.test\r\n250 SIZE 200000\r\n"
    server = LineServer(
        clock,
        replies={"DATA": b"354 go\r\n", "EHLO": offers},
        data_end=b"552 5.3.4 message too big\r\n",
    )
    result = drive(machine(scenario(tmp_path, steps), clock), server)
    data, noop = result.steps[4:]
    assert data.verdict == "pass", data.findings
    message = b"".join(server.sent[server.sent.index(b"DATA\r\n") + 1 : -1])
    assert message.startswith(b"Subject: big\r\n") and message.endswith(b"\r\n.\r\n")
    assert 200000 < len(message) - 3 <= 200000 + 80  # one line past the limit, at most
    assert max(len(chunk) for chunk in server.sent) <= 64 * 1024
    assert data.exchanges[1].size == len(message)
    assert noop.verdict == "pass"


@pytest.mark.parametrize(
    ("offers", "reason"),
    [
        (b"250 mx.test\r\n", "not applicable: the server advertised no SIZE limit to go past"),
        (b"250-mx.test\r\n250 SIZE 52428800\r\n", "not applicable: the server's SIZE is 52428800"),
    ],
)
def test_oversize_is_not_applicable_without_a_small_enough_size(
    tmp_path: Path, offers: bytes, reason: str
):
    clock = Clock()
    steps = "  - ehlo: a.test\n  - data: {body: x, oversize: true}\n"
    server = FakeServer(clock, replies={"EHLO": offers})
    result = drive(machine(scenario(tmp_path, steps), clock), server)
    assert result.steps[2].verdict == "skip" and result.steps[2].reason.startswith(reason)
    assert b"DATA\r\n" not in server.sent
