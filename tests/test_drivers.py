"""Both drivers give identical results (timings aside).

The session machine (probe.session.machine) is played by two drivers: `blocking` (sockets and
select) and `aio` (asyncio). Whatever the server does, both must reach the same verdicts for the
same reasons and record the same exchanges. Every session here is played once through each
driver and the two results are compared field by field: every field of the ServerResult and of
what it holds (steps, findings, exchanges, replies, syntax problems), walked rather than listed,
so that a field added later is compared too. Reply lines are compared as the bytes received,
line ending included.

Dropped: the timings (ServerResult.started_at, .duration, .waited; Exchange.started, .elapsed).
Rewritten, because they differ between two runs by nature rather than by driver: the port of the
scripted server (a fresh one per run), Postfix's queue ids, and Exim's message ids and the date
in its greeting (the two runs may fall in different seconds). Nothing else.

Sessions: every bundled scenario against aiosmtpd, against a private Postfix and against a private
Exim (each skipped where it cannot run, failed instead with SMTP_PROBE_REQUIRE_SERVERS=1, as in
test_golden.py; one instance for this module), and
every hostile-server case of test_hostile.py and test_hostile_more.py (the table HOSTILE below,
with the options those tests give the CLI), each against a fresh ScriptedServer per driver.
A difference fails with a unified diff of the two results. test_the_table_covers_every_hostile_test
fails when a hostile test (or a parametrized variant) is added there without a case here.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import functools
import importlib
import json
import re
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from certs import write_tls_pair
from exim_server import DOMAIN as EXIM_DOMAIN
from postfix_server import DOMAIN
from servers import (
    Behaviour,
    ScriptedServer,
    close,
    drip,
    ehlo,
    endless,
    pause,
    reset,
    sequence,
    slow,
)
from test_hostile import SHORT, TLS
from tls_servers import PASSWORD as AUTH_PASSWORD
from tls_servers import USER as AUTH_USER

from probe.codes import CodeTable, load_table
from probe.protocol.reply import Reply, ReplyLine
from probe.record import fields_of, is_record
from probe.results import ServerResult
from probe.scenario import BoundScenario, bind, load_scenario
from probe.session.drivers import aio, blocking
from probe.session.machine import RunOptions, Session
from probe.session.timeouts import Timeouts

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
DRIVERS = ("blocking", "aio")
# Given to the scenarios that declare them (the domain Postfix and Exim receive mail for).
VARS = {"domain": DOMAIN}
assert EXIM_DOMAIN == DOMAIN, "one domain variable serves both Postfix and Exim"
# The AUTH scenarios' credentials (auth, submission): a user name, the password from the
# environment. These servers offer no AUTH, so the AUTH steps are skipped and nothing is sent.
VARS["username"] = AUTH_USER
ENVIRON = {"SMTP_PROBE_PASSWORD": AUTH_PASSWORD}
# Real servers answer in milliseconds: a short reply timeout and deadline bound a hang.
REAL_SERVER_OPTIONS = RunOptions(timeouts=Timeouts("short", 5.0), session_deadline=60.0)
# Timings: ServerResult.started_at, .duration, .waited; Exchange.started, .elapsed.
TIMINGS = frozenset({"started_at", "duration", "waited", "started", "elapsed"})
PORT = "<PORT>"
# Postfix: "250 2.0.0 Ok: queued as 4XyZ1q2w3e": a new id for every message.
_QUEUE_ID = re.compile(r"\b(queued as) [0-9A-Za-z]+\b")
# Exim: "250 OK id=1xZ401-0004j7-1q" (6-6-2 base-62 characters up to 4.96, 6-11-4 from 4.97).
_EXIM_MESSAGE_ID = re.compile(r"\b(id=)[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\b")
# Exim's greeting: "220 mx.example.test ESMTP Exim 4.96 Thu, 03 Dec 2026 10:25:13 +0000".
_EXIM_DATE = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
)


# ---- playing a session through one driver --------------------------------------------------


@functools.cache
def _table() -> CodeTable:
    return load_table()


def play(driver: str, bound: BoundScenario, target: str, options: RunOptions) -> ServerResult:
    host, _, port = target.rpartition(":")
    session = Session(bound, host, int(port), options, _table())
    if driver == "blocking":
        return blocking.play(session, target)
    return asyncio.run(aio.play(session, target))


# ---- comparing two results -----------------------------------------------------------------


def view(result: ServerResult, rewrite: Callable[[str], str] = str) -> dict[str, Any]:
    """Every field of `result`, its steps, findings, exchanges and replies, but the timings, as
    JSON-able data; `rewrite` is applied to every string (for what differs between two runs by
    nature). Fields are walked, not listed, so a field added later is compared too."""
    return _walk(_plain(result), rewrite)


def _plain(value: Any) -> Any:
    if isinstance(value, ReplyLine):
        # The line as received: its code, separator and text are parsed from these bytes.
        return repr(value.raw + value.ending)
    if isinstance(value, Reply):  # its lines are packed: walk what it shows
        return {
            "lines": _plain(value.lines),
            "code": value.code,
            "problems": _plain(value.problems),
        }
    if is_record(value):
        return {
            name: _plain(getattr(value, name)) for name in fields_of(value) if name not in TIMINGS
        }
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bytes):
        return repr(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _walk(value: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    if isinstance(value, dict):
        return {fix(k): _walk(v, fix) for k, v in value.items()}
    return value


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def assert_same(views: Mapping[str, dict[str, Any]]) -> None:
    """The drivers' results (their `view`s) agree; else fail with a unified diff."""
    texts = {driver: _dump(views[driver]) for driver in DRIVERS}
    first, second = DRIVERS
    if texts[first] == texts[second]:
        return
    diff = difflib.unified_diff(
        texts[first].splitlines(keepends=True),
        texts[second].splitlines(keepends=True),
        fromfile=f"{first} driver",
        tofile=f"{second} driver",
        n=6,
    )
    pytest.fail(
        f"the {first} and {second} drivers disagree (timings aside):\n\n" + "".join(diff),
        pytrace=False,
    )


def without_port(target: str) -> Callable[[str], str]:
    """Rewrites HOST:PORT of `target` (a server started for one run) to HOST:<PORT>."""
    host, _, port = target.rpartition(":")
    pattern = re.compile(rf"(?<![\w.-]){re.escape(host)}:{port}(?!\d)")
    return lambda text: pattern.sub(f"{host}:{PORT}", text)


def without_queue_ids(text: str) -> str:
    return _QUEUE_ID.sub(r"\1 <QUEUE-ID>", text)


def without_exim_ids_and_dates(text: str) -> str:
    return _EXIM_DATE.sub("<DATE>", _EXIM_MESSAGE_ID.sub(r"\1<MESSAGE-ID>", text))


# What differs between two sessions with the same server, by server (see the module docstring).
REWRITES: dict[str, Callable[[str], str]] = {
    "aiosmtpd": str,
    "postfix": without_queue_ids,
    "exim": without_exim_ids_and_dates,
}
FIXTURES = {"aiosmtpd": "aiosmtpd_server", "postfix": "postfix_target", "exim": "exim_target"}


# ---- 1. the bundled scenarios against real servers -------------------------------------------


def _bind_bundled(path: Path) -> BoundScenario:
    scenario = load_scenario(path)
    return bind(scenario, {k: v for k, v in VARS.items() if k in scenario.variables}, ENVIRON)


@pytest.mark.parametrize("server", tuple(FIXTURES))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenario_same_through_both_drivers(
    scenario: Path, server: str, request: pytest.FixtureRequest
):
    target: str = request.getfixturevalue(FIXTURES[server])
    results = {
        driver: play(driver, _bind_bundled(scenario), target, REAL_SERVER_OPTIONS)
        for driver in DRIVERS
    }
    # The same server both times, so the port stays; only Postfix's queue ids and Exim's message
    # ids and greeting date change.
    assert_same({driver: view(results[driver], REWRITES[server]) for driver in DRIVERS})
    # A judged session: the scenarios are played through (no connection trouble).
    assert str(results["blocking"].verdict) in ("pass", "fail"), results["blocking"].reason


# ---- 2. hostile servers ----------------------------------------------------------------------

# The scenarios and replies of tests/test_hostile.py and tests/test_hostile_more.py (SHORT and TLS
# are imported from there).

SETTLE_MAIL = SHORT.replace("  - mail: a@probe.test\n", "  - mail: a@probe.test\n    settle: 0.3\n")
LONG = "name: long\nsteps:\n  - connect\n  - ehlo: probe.test\n" + "  - noop\n" * 18
LATE = "name: late\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - rset\n  - quit\n"
SECRET = "correct-horse-battery"
AUTH_SCENARIO = """\
name: auth-echo
steps:
  - connect
  - ehlo: probe.test
  - auth: {mechanism: PLAIN, username: alice, password: "${env:PROBE_PASS}"}
  - quit
"""
MAIL_OK = b"250 2.1.0 sender ok\r\n"
RCPT_OK = b"250 2.1.5 recipient ok\r\n"
EXTRA = b"250 2.0.0 extra\r\n"


def options(
    timeout: float | None = None,
    deadline: float | None = None,
    max_reply_bytes: int = 64 * 1024,
    max_reply_lines: int = 1000,
    timeouts: str = "short",
) -> RunOptions:
    """RunOptions as the CLI builds them from --timeout, --deadline, --max-reply-bytes/-lines and
    --timeouts (every other option at the CLI's default)."""
    profile = Timeouts(timeouts, timeout)
    return RunOptions(
        timeouts=profile,
        session_deadline=deadline or profile.default_deadline,
        max_reply_bytes=max_reply_bytes,
        max_reply_lines=max_reply_lines,
    )


@functools.cache
def _server_tls() -> ssl.SSLContext:
    """A server context with a freshly generated self-signed certificate for localhost (as
    test_hostile_more.py makes one); the files are needed only while loading them."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="smtp-probe-drivers-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        write_tls_pair(cert, key, "localhost")
        context.load_cert_chain(cert, key)
    return context


def _echo_credentials() -> Behaviour:
    blob = base64.b64encode(b"\0alice\0" + SECRET.encode())
    echo = b"535 5.7.8 rejected " + blob + b" and " + SECRET.encode() + b"\r\n"
    return Behaviour(replies={"EHLO": ehlo("AUTH PLAIN", "ENHANCEDSTATUSCODES"), "AUTH": echo})


def _inject_after_starttls_220(size: int = 20) -> Behaviour:
    from test_hostile_more import reply_220

    context = _server_tls()

    async def upgrade(writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(context)

    greeting = reply_220(size) if size > 20 else b"220 2.0.0 go ahead\r\n"
    return Behaviour(
        replies={
            "EHLO": ehlo("STARTTLS"),
            "STARTTLS": sequence(greeting + b"250 2.0.0 INJECTED\r\n", upgrade),
        }
    )


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # the test it comes from: "FILE::FUNCTION" or "FILE::FUNCTION[PARAM-ID]"
    behaviour: Callable[[], Behaviour]  # a fresh one per run (its callables hold no state)
    scenario: str
    options: RunOptions
    environ: Mapping[str, str] = field(default_factory=dict)


H = "test_hostile.py::"
M = "test_hostile_more.py::"
LATE_EXTRA = {
    "EHLO": sequence(ehlo("PIPELINING"), pause(0.05), EXTRA),
    "MAIL": MAIL_OK,
    "RCPT": RCPT_OK,
}
# The extra sent when MAIL arrives: late whatever the machine's speed (test_hostile.py says why).
EXTRA_WITH_MAIL = {
    "EHLO": ehlo("PIPELINING"),
    "MAIL": EXTRA + MAIL_OK,
    "RCPT": RCPT_OK,
}

HOSTILE: list[Case] = [
    Case(
        "silence-after-accepting",
        H + "test_silence_after_accepting",
        lambda: Behaviour(greeting=None),
        SHORT,
        options(timeout=1),
    ),
    Case(
        "silence-after-mail-rfc-timeouts-short-deadline",
        H + "test_silence_after_mail_under_the_rfc_timeouts_with_a_short_deadline",
        lambda: Behaviour(replies={"MAIL": None}),
        SHORT,
        options(timeouts="rfc", deadline=1.5),
    ),
    Case(
        "greeting-dripped-slower-than-the-timeout",
        H + "test_a_greeting_dripped_slower_than_the_timeout",
        lambda: Behaviour(greeting=drip(b"220 slow.test ESMTP drip\r\n", 0.3)),
        SHORT,
        options(timeout=1),
    ),
    Case(
        "endless-line-byte-cap",
        H + "test_an_endless_line_stops_at_the_byte_cap",
        lambda: Behaviour(replies={"EHLO": endless(b"250 ", b"x")}),
        SHORT,
        options(timeout=5, max_reply_bytes=4096),
    ),
    Case(
        "endless-multiline-lines-cap",
        H + "test_an_endless_multiline_reply_stops_at_the_lines_cap",
        lambda: Behaviour(replies={"EHLO": endless(b"250-broken.test\r\n", b"250-MORE\r\n")}),
        SHORT,
        options(timeout=5, max_reply_lines=50),
    ),
    Case(
        "close-halfway-through-a-reply",
        H + "test_a_close_halfway_through_a_reply",
        lambda: Behaviour(replies={"EHLO": close(b"250-broken.test\r\n250-PIPELI")}),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "connection-reset",
        H + "test_a_connection_reset",
        lambda: Behaviour(replies={"EHLO": reset()}),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "connection-reset-between-replies",
        H + "test_a_connection_reset_between_replies",
        lambda: Behaviour(replies={"EHLO": sequence(ehlo("PIPELINING"), pause(0.03), reset())}),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "starttls-220-then-garbage",
        H + "test_starttls_answered_220_then_garbage_instead_of_a_handshake",
        lambda: Behaviour(
            replies={
                "EHLO": ehlo("STARTTLS"),
                "STARTTLS": sequence(
                    b"220 2.0.0 go ahead\r\n",
                    pause(0.05),
                    b"this is not a TLS handshake\r\n" * 20,
                ),
            }
        ),
        TLS,
        options(timeout=1),
    ),
    Case(
        "starttls-220-then-silence",
        H + "test_starttls_answered_220_then_silence_is_bounded_by_the_timeout",
        lambda: Behaviour(
            replies={
                "EHLO": ehlo("STARTTLS"),
                "STARTTLS": sequence(b"220 2.0.0 go ahead\r\n", pause(30)),
            }
        ),
        TLS,
        options(timeout=1),
    ),
    Case(
        "nul-bytes-and-invalid-utf8",
        H + "test_nul_bytes_and_invalid_utf8_fail_and_the_reports_stay_printable",
        lambda: Behaviour(
            replies={"EHLO": b"250-broken.test\x00\xff\xfe\r\n250 OK \xc3\x28 \x1b[31m\r\n"}
        ),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "bare-lf-line-ends",
        H + "test_bare_lf_line_ends_fail",
        lambda: Behaviour(replies={"EHLO": b"250-broken.test\n250 PIPELINING\n"}),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "different-codes-in-one-reply",
        H + "test_different_codes_on_the_lines_of_one_reply_fail",
        lambda: Behaviour(greeting=b"220-broken.test ESMTP\r\n554 5.3.2 go away\r\n"),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "extra-unsolicited-reply-with-the-reply",
        H + "test_extra_unsolicited_replies_are_reported_and_attribution_stays_right"
        "[with-the-reply]",
        lambda: Behaviour(
            replies={"EHLO": ehlo("PIPELINING") + EXTRA, "MAIL": MAIL_OK, "RCPT": RCPT_OK}
        ),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "extra-unsolicited-replies-a-hundred",
        H + "test_extra_unsolicited_replies_are_reported_and_attribution_stays_right[a-hundred]",
        lambda: Behaviour(
            replies={"EHLO": ehlo("PIPELINING") + EXTRA * 100, "MAIL": MAIL_OK, "RCPT": RCPT_OK}
        ),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "late-extra-reply-out-of-sync",
        H + "test_a_late_extra_reply_is_caught_as_out_of_sync_without_a_timer",
        lambda: Behaviour(replies=dict(EXTRA_WITH_MAIL)),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "late-extra-reply-within-a-settle-window",
        H + "test_a_late_extra_reply_within_a_steps_settle_window_is_credited_to_no_command",
        lambda: Behaviour(replies=dict(LATE_EXTRA)),
        SETTLE_MAIL,
        options(timeout=5),
    ),
    Case(
        "reply-sent-before-its-command",
        H + "test_a_reply_sent_before_its_command_is_not_credited_to_it",
        lambda: Behaviour(replies={"EHLO": ehlo("PIPELINING") + MAIL_OK, "MAIL": None}),
        SHORT,
        options(timeout=1),
    ),
    Case(
        "reply-after-the-reply-to-quit",
        H + "test_a_reply_after_the_reply_to_quit_is_reported",
        lambda: Behaviour(
            replies={"MAIL": MAIL_OK, "RCPT": RCPT_OK},
            quit=sequence(b"221 2.0.0 bye\r\n", pause(0.03), b"250 2.0.0 one more thing\r\n"),
        ),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "421-mid-session-then-close",
        H + "test_421_mid_session_then_close",
        lambda: Behaviour(
            replies={"MAIL": b"421 4.3.2 shutting down\r\n"}, close_after={"MAIL", "QUIT"}
        ),
        SHORT,
        options(timeout=5),
    ),
    Case(
        "slow-but-valid-inside-the-timeout",
        H + "test_a_slow_but_valid_server_just_inside_the_timeout_passes",
        lambda: Behaviour(
            greeting=slow(b"220 slow.test ESMTP\r\n", 1.2),
            replies={"EHLO": slow(ehlo("PIPELINING"), 1.2)},
            quit=slow(b"221 2.0.0 bye\r\n", 1.2),
        ),
        SHORT,
        options(timeout=2),
    ),
    Case(
        "session-deadline",
        H + "test_no_session_outlives_its_deadline",
        lambda: Behaviour(
            greeting=slow(b"220 slow.test ESMTP\r\n", 0.6),
            default=slow(b"250 2.0.0 OK\r\n", 0.6),
        ),
        LONG,
        options(timeout=1, deadline=2),
    ),
    Case(
        "server-echoing-the-credentials",
        M + "test_a_server_echoing_the_credentials_never_gets_them_printed",
        _echo_credentials,
        AUTH_SCENARIO,
        options(),  # that test gives no --timeout
        environ={"PROBE_PASS": SECRET},
    ),
    Case(
        "plaintext-injected-after-the-starttls-220",
        M + "test_plaintext_injected_after_the_starttls_220_is_a_failure[short-220]",
        _inject_after_starttls_220,
        TLS,
        options(timeout=5),
    ),
    Case(
        "plaintext-injected-after-a-4096-byte-starttls-220",
        M
        + "test_plaintext_injected_after_the_starttls_220_is_a_failure"
        + "[220-ending-at-a-read-boundary]",
        lambda: _inject_after_starttls_220(4096),
        TLS,
        options(timeout=5),
    ),
    Case(
        "half-a-reply-left-pending",
        M + "test_half_a_reply_left_pending_ends_the_session_as_out_of_sync",
        lambda: Behaviour(replies={"NOOP": b"250 2.0.0 OK\r\n250 2.0.0 LATE-par"}),
        LATE,
        options(timeout=2),
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.id)
def test_hostile_server_same_through_both_drivers(case: Case, tmp_path: Path):
    path = tmp_path / "scenario.yaml"
    path.write_text(case.scenario, encoding="utf-8")
    views: dict[str, dict[str, Any]] = {}
    for driver in DRIVERS:
        bound = bind(load_scenario(path), {}, case.environ)
        with ScriptedServer(case.behaviour()) as server:
            result = play(driver, bound, server.target, case.options)
        # A fresh server per run, on a port of its own: its port is rewritten.
        views[driver] = view(result, without_port(server.target))
    assert_same(views)


def test_the_table_covers_every_hostile_test():
    """Each test of test_hostile.py and test_hostile_more.py (each parametrized variant) has a
    case in HOSTILE, and each case names a test that exists."""
    expected: set[str] = set()
    for module_name in ("test_hostile", "test_hostile_more"):
        module = importlib.import_module(module_name)
        for name, function in vars(module).items():
            if not (name.startswith("test_") and callable(function)):
                continue
            ids = [
                param.id
                for mark in getattr(function, "pytestmark", [])
                if mark.name == "parametrize"
                for param in mark.args[1]
            ]
            prefix = f"{module_name}.py::{name}"
            expected |= {f"{prefix}[{i}]" for i in ids} if ids else {prefix}
    covered = [case.source for case in HOSTILE]
    assert len(set(covered)) == len(covered), "two cases name the same test"
    assert len({case.id for case in HOSTILE}) == len(HOSTILE), "two cases share an id"
    assert not expected - set(covered), (
        f"hostile tests with no case: {sorted(expected - set(covered))}"
    )
    assert not set(covered) - expected, f"cases naming no test: {sorted(set(covered) - expected)}"


def test_a_zero_time_poll_takes_what_the_kernel_holds_on_both_drivers():
    # The greeting is in the client's socket buffer before the poll: both drivers return it
    # (asyncio's loop would otherwise move it into its reader only after the timeout fired).
    import socket
    import time as time_

    from probe.session.actions import Connect, Connected, Data, Receive
    from probe.session.drivers.aio import AsyncConnection
    from probe.session.drivers.blocking import BlockingConnection

    def served() -> tuple[socket.socket, int]:
        listener = socket.create_server(("127.0.0.1", 0))
        return listener, listener.getsockname()[1]

    listener, port = served()
    with listener:
        blocking = BlockingConnection()
        assert isinstance(
            blocking.perform(Connect("127.0.0.1", port, time_.monotonic() + 5)), Connected
        )
        peer, _ = listener.accept()
        peer.sendall(b"220 hi\r\n")
        time_.sleep(0.05)
        assert blocking.perform(Receive(time_.monotonic())) == Data(b"220 hi\r\n")
        blocking.close()
        peer.close()

        async def aio_poll() -> object:
            connection = AsyncConnection()
            connected = await connection.perform(Connect("127.0.0.1", port, time_.monotonic() + 5))
            assert isinstance(connected, Connected)
            peer, _ = await asyncio.get_running_loop().run_in_executor(None, listener.accept)
            peer.sendall(b"220 hi\r\n")
            time_.sleep(0.05)  # blocking the loop: the bytes stay in the kernel until the poll
            got = await connection.perform(Receive(time_.monotonic()))
            await connection.close(abort=True)
            peer.close()
            return got

        assert asyncio.run(aio_poll()) == Data(b"220 hi\r\n")
