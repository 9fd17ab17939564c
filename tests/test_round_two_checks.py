"""Issue 19's checks, groups 2, 4, 7 and 8, and issue 17's leftovers: each shown passing against a
real server (aiosmtpd, Postfix, Exim) and failing, or warning at its level, against a scripted
server of our own that breaks it (tests/servers.py).

The bundled scenarios are run as a user runs them (`python -m probe run SCENARIO TARGET`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from postfix_server import DOMAIN
from servers import Action, Behaviour, ScriptedServer, ehlo

from probe.scenario import ScenarioError, load_scenario
from probe.session.machine import address_literal

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def run(cli, scenario: str, target: str, *args: str) -> dict[str, Any]:
    result = cli(
        "run", str(SCENARIOS / f"{scenario}.yaml"), target, "--format", "json", "--no-report",
        "--timeout", "5", *args, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.code in (0, 1), result.stdout + result.stderr
    return result.json()["results"][0]


def step(session: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in session["steps"] if s["name"] == name]
    assert len(found) == 1, [s["name"] for s in session["steps"]]
    return found[0]


def code(step_: dict[str, Any]) -> int:
    return step_["exchanges"][-1]["reply"]["code"]


def expectation_unmet(step_: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in step_["findings"] if f["message"].startswith("expected ")]


def by_line(holder: list[ScriptedServer], answer: Callable[[bytes], bytes]) -> Action:
    """A reply chosen from the command line itself (the scripted server keys on the verb)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        writer.write(answer(holder[0].received[-1]))
        await writer.drain()

    return act


# ---- group 2: MAIL/RCPT parameters -----------------------------------------------------------

PARAM_CHECKS = (
    "MAIL with an unknown parameter",
    "RCPT with an unknown parameter",
    "MAIL with BODY=9BITMIME",
    "MAIL with RET=BODY",
    "RCPT with NOTIFY=NEVER,SUCCESS",
)


def test_params_postfix_refuses_every_bad_parameter(cli, postfix_target: str):
    session = run(cli, "params", postfix_target, "--var", f"domain={DOMAIN}")
    for name in PARAM_CHECKS:
        checked = step(session, name)
        assert checked["verdict"] == "pass", checked
        assert code(checked) in (501, 555)
    assert code(step(session, "MAIL with an unknown parameter")) == 555


def test_params_aiosmtpd_refuses_a_bad_body_value(cli, aiosmtpd_server: str):
    session = run(cli, "params", aiosmtpd_server, "--var", "domain=example.test")
    body = step(session, "MAIL with BODY=9BITMIME")
    assert body["verdict"] == "pass" and code(body) == 501
    # No DSN offered: its checks are not applicable, not failed.
    assert step(session, "MAIL with RET=BODY")["verdict"] == "skip"
    # aiosmtpd answers an unknown parameter 501, not the 555 of RFC 5321 §4.1.1.11; §4.1.4's 501
    # for an unacceptable MAIL argument covers it too: a pass.
    unknown = step(session, "MAIL with an unknown parameter")
    assert unknown["verdict"] == "pass" and code(unknown) == 501


def test_params_a_server_accepting_anything_gets_a_warning_for_each(cli):
    behaviour = Behaviour(replies={"EHLO": ehlo("8BITMIME", "DSN")})
    with ScriptedServer(behaviour) as server:
        session = run(cli, "params", server.target, "--var", "domain=example.test")
    for name in PARAM_CHECKS:
        checked = step(session, name)
        assert checked["verdict"] == "warn" and code(checked) == 250, checked
        assert expectation_unmet(checked)[0]["verdict"] == "warn"
    assert session["counts"]["fail"] == 0  # a 'will' and an implied rule: never a fail


# ---- group 7: SMTPUTF8 refusals --------------------------------------------------------------

UTF8_MAIL = "MAIL with a UTF-8 address without SMTPUTF8"
UTF8_RCPT = "RCPT with a UTF-8 address without SMTPUTF8"


def utf8_refusing(mail: bytes, rcpt: bytes, *keywords: str) -> tuple[Behaviour, list[Any]]:
    """A server offering SMTPUTF8 that refuses a UTF-8 address in a transaction whose MAIL did not
    carry the parameter (one client at a time)."""
    holder: list[ScriptedServer] = []
    utf8 = [False]  # the open transaction's MAIL carried SMTPUTF8

    def eight_bit(line: bytes) -> bool:
        return any(b > 0x7F for b in line)

    def on_mail(line: bytes) -> bytes:
        utf8[0] = b"SMTPUTF8" in line
        return mail if eight_bit(line) and not utf8[0] else b"250 2.1.0 OK\r\n"

    def on_rcpt(line: bytes) -> bytes:
        return rcpt if eight_bit(line) and not utf8[0] else b"250 2.1.5 OK\r\n"

    replies = {
        "EHLO": ehlo("8BITMIME", "SMTPUTF8", *keywords),
        "MAIL": by_line(holder, on_mail),
        "RCPT": by_line(holder, on_rcpt),
    }
    return Behaviour(replies=replies), holder


@pytest.mark.parametrize(
    ("mail", "rcpt", "keywords", "verdict"),
    [
        (b"550 no\r\n", b"553 no\r\n", (), "pass"),
        (b"501 no\r\n", b"550 no\r\n", (), "warn"),
        (b"550 5.6.7 ascii\r\n", b"553 5.6.7 ascii\r\n", ("ENHANCEDSTATUSCODES",), "pass"),
        (b"550 5.1.7 bad\r\n", b"553 5.1.3 bad\r\n", ("ENHANCEDSTATUSCODES",), "warn"),
    ],
    ids=["550-553", "501-550", "x.6.7", "other-enhanced-codes"],
)
def test_utf8_refusals(cli, mail: bytes, rcpt: bytes, keywords: tuple[str, ...], verdict: str):
    behaviour, holder = utf8_refusing(mail, rcpt, *keywords)
    suffix = " (enhanced codes)" if keywords else ""
    with ScriptedServer(behaviour) as server:
        holder.append(server)
        session = run(
            cli, "esmtp", server.target, "--var", "domain=example.test",
            "--var", "utf8_recipient=prüfer@example.test",
        )  # fmt: skip
    for name in (UTF8_MAIL + suffix, UTF8_RCPT + suffix):
        checked = step(session, name)
        assert checked["verdict"] == verdict, checked
        assert (expectation_unmet(checked) == []) == (verdict == "pass")
    assert session["counts"]["fail"] == 0


def test_utf8_aiosmtpd_accepts_a_utf8_address_with_or_without_the_parameter(
    cli, aiosmtpd_server: str
):
    session = run(
        cli, "esmtp", aiosmtpd_server, "--var", "domain=example.test",
        "--var", "utf8_recipient=prüfer@example.test",
    )  # fmt: skip
    for name in ("MAIL with a UTF-8 address and SMTPUTF8", UTF8_MAIL, UTF8_RCPT,
                 "RCPT with a UTF-8 address and SMTPUTF8"):  # fmt: skip
        checked = step(session, name)
        assert checked["verdict"] == "pass" and code(checked) == 250, checked


def test_utf8_without_a_given_recipient_the_rcpt_check_is_not_applicable(cli, postfix_target):
    session = run(cli, "esmtp", postfix_target, "--var", f"domain={DOMAIN}")
    checked = step(session, UTF8_RCPT + " (enhanced codes)")
    assert checked["verdict"] == "skip"
    assert "no value was given for utf8_recipient" in checked["reason"]
    assert step(session, UTF8_MAIL + " (enhanced codes)")["verdict"] == "pass"


def test_utf8_a_mailbox_refused_even_with_smtputf8_makes_the_refusal_check_not_applicable(cli):
    # The server has no such mailbox: 550 with the parameter too. Its refusal without the
    # parameter says nothing about ASCII, so it is not judged.
    behaviour, holder = utf8_refusing(b"550 no\r\n", b"550 no such user\r\n")
    behaviour.replies["RCPT"] = b"550 no such user\r\n"
    with ScriptedServer(behaviour) as server:
        holder.append(server)
        session = run(
            cli, "esmtp", server.target, "--var", "domain=example.test",
            "--var", "utf8_recipient=nobody-ü@example.test",
        )  # fmt: skip
    assert step(session, "RCPT with a UTF-8 address and SMTPUTF8")["verdict"] == "warn"
    checked = step(session, UTF8_RCPT)
    assert checked["verdict"] == "skip" and "utf8_rcpt was refused" in checked["reason"]


# ---- issue 17: relaying through the server's address literal, DATA with an argument ----------

LITERAL_VARIANTS = (
    "rcpt (sender at the server address) relaytest@{o}",
    "rcpt (percent hack at the server address) relaytest%{o}@[127.0.0.1]",
    'rcpt (quoted address at the server address) "relaytest@{o}"@[127.0.0.1]',
    "rcpt (double @ at the server address) relaytest@{o}@[127.0.0.1]",
    "rcpt (source route via the server address) @[127.0.0.1]:relaytest@{o}",
    "rcpt (bang path at the server address) {o}!relaytest@[127.0.0.1]",
)
OUTSIDE = "smtp-probe-relay-test.example.net"


def test_address_literal():
    assert address_literal("192.0.2.1") == "[192.0.2.1]"
    assert address_literal("2001:db8::1") == "[IPv6:2001:db8::1]"
    assert address_literal("fe80::1%eth0") == "[IPv6:fe80::1]"


def test_the_address_is_saved_by_a_connect_step_only(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n  - noop: {save: {ip: {address: true}}}\n", "utf-8")
    with pytest.raises(ScenarioError, match="saved by a connect step"):
        load_scenario(path)


def test_relay_through_the_address_literal_exim_refuses_each(cli, exim_target: str):
    session = run(cli, "relay", exim_target, "--var", f"domain={DOMAIN}")
    assert session["verdict"] == "pass", session["reason"]
    sender = step(session, "mail (sender at the server address)")
    assert sender["exchanges"][0]["sent"] == "MAIL FROM:<relaytest@[127.0.0.1]>\r\n"
    for name in LITERAL_VARIANTS:
        checked = step(session, name.format(o=OUTSIDE))
        assert checked["verdict"] == "pass" and code(checked) >= 500, checked


def test_relay_through_the_address_literal_an_open_relay_gets_warnings(cli, aiosmtpd_server):
    # aiosmtpd's demo sink takes every recipient: what an open relay answers.
    session = run(cli, "relay", aiosmtpd_server, "--var", "domain=example.test")
    verdicts = {n: step(session, n.format(o=OUTSIDE))["verdict"] for n in LITERAL_VARIANTS}
    warned = [n for n, verdict in verdicts.items() if verdict == "warn"]
    assert len(warned) == 5, verdicts  # the double @ is refused by its address parser (553)
    assert session["counts"]["fail"] == 0  # relaying is a SHOULD (RFC 5321 §7.9)


def test_data_with_an_argument_real_servers_answer_501(cli, aiosmtpd_server, postfix_target):
    for target, domain in ((aiosmtpd_server, None), (postfix_target, DOMAIN)):
        session = run(cli, "syntax", target)
        checked = step(session, "DATA with an argument")
        assert checked["verdict"] == "pass" and code(checked) == 501, (domain, checked)


def test_data_with_an_argument_a_354_is_a_warning_and_nothing_is_delivered(cli):
    behaviour = Behaviour(replies={"EHLO": ehlo("PIPELINING")})
    with ScriptedServer(behaviour) as server:
        session = run(cli, "syntax", server.target)
        received = list(server.received)
    checked = step(session, "DATA with an argument")
    assert checked["verdict"] == "warn" and code(checked) == 354
    # The probe hung up in the message data and started a new session: no final dot was sent.
    assert b".\r\n" not in received
    assert session["verdict"] != "error"
    after = session["steps"][session["steps"].index(checked) + 1]
    assert after["kind"] == "connect" and after["verdict"] == "pass"


# ---- group 4: STARTTLS and TLS policy --------------------------------------------------------

TLS_530 = ("MAIL before STARTTLS", "RSET before STARTTLS", "VRFY before STARTTLS",
           "AUTH before STARTTLS (an empty initial response, no credentials)",
           "HELO before STARTTLS")  # fmt: skip
TLS_EXEMPT = ("NOOP before STARTTLS", "EHLO before STARTTLS")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """A server context for 127.0.0.1, and the authority's certificate (for --cafile)."""
    from certs import Authority
    from tls_servers import server_context

    authority = Authority(tmp_path_factory.mktemp("ca"))
    chain = authority.issue("mx", "mx.probe.test", ip="127.0.0.1")
    return server_context(*chain), str(authority.ca_path)


def test_tls_policy_postfix_refuses_a_starttls_argument_and_a_second_starttls(
    cli, postfix_target: str
):
    session = run(cli, "tls-policy", postfix_target)
    argument = step(session, "STARTTLS with an argument")
    assert argument["verdict"] == "pass" and code(argument) == 501
    again = step(session, "STARTTLS again inside TLS")
    assert again["verdict"] == "pass" and code(again) >= 500
    # Without --var tls_required the 530 checks are not applicable: Postfix here is an MX.
    session = run(cli, "tls-required", postfix_target)
    assert session["verdict"] == "pass"
    assert all(step(session, n)["verdict"] == "skip" for n in TLS_530)


def starttls_anywhere(context: Any) -> Behaviour:
    """Starts TLS after any STARTTLS line (with an argument, or inside TLS too); offers STARTTLS
    only in the clear; answers every other command 250."""
    from tls_servers import upgrade

    async def answer_ehlo(writer: asyncio.StreamWriter) -> None:
        inside = writer.get_extra_info("ssl_object") is not None
        writer.write(ehlo("PIPELINING") if inside else ehlo("PIPELINING", "STARTTLS"))
        await writer.drain()

    async def starttls(writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 2.0.0 ready to start TLS\r\n")
        await writer.drain()
        await upgrade(context)(writer)  # type: ignore[operator]

    return Behaviour(replies={"EHLO": answer_ehlo, "STARTTLS": starttls})


def test_tls_policy_a_220_to_starttls_with_an_argument_is_a_warning(cli, tls):
    context, cafile = tls
    # The scripted server starts TLS whatever follows STARTTLS, and again inside TLS.
    with ScriptedServer(starttls_anywhere(context)) as server:
        session = run(cli, "tls-policy", server.target, "--cafile", cafile)
    argument = step(session, "STARTTLS with an argument")
    assert argument["verdict"] == "warn" and code(argument) == 220
    # STARTTLS inside TLS is the probe's own act outside the protocol: a 220 is reported only.
    again = step(session, "STARTTLS again inside TLS")
    assert again["verdict"] == "pass" and code(again) == 220
    assert [f["verdict"] for f in expectation_unmet(again)] == ["info"]
    assert session["counts"]["fail"] == 0


def test_tls_required_aiosmtpd_answers_530_except_to_noop_ehlo_quit(cli, tls):
    from tls_servers import aiosmtpd_tls

    context, cafile = tls
    with aiosmtpd_tls(context, require_starttls=True) as target:
        session = run(cli, "tls-required", target, "--cafile", cafile, "--var", "tls_required=yes")
    assert session["verdict"] == "pass", session["reason"]
    for name in TLS_530:
        checked = step(session, name)
        assert checked["verdict"] == "pass" and code(checked) == 530, checked
    for name in TLS_EXEMPT:
        checked = step(session, name)
        assert checked["verdict"] == "pass" and code(checked) == 250, checked
    inside = step(session, "MAIL inside TLS")
    assert inside["verdict"] == "pass" and code(inside) == 250


def test_tls_required_a_server_serving_before_starttls_gets_warnings(cli, tls):
    context, cafile = tls
    with ScriptedServer(starttls_anywhere(context)) as server:
        session = run(
            cli, "tls-required", server.target, "--cafile", cafile, "--var", "tls_required=yes"
        )
    # MAIL accepted before STARTTLS: the scenario declares TLS required (tls: required), a fail;
    # the others are RFC 3207 §4's SHOULD, warnings.
    mail = step(session, TLS_530[0])
    assert mail["verdict"] == "fail" and code(mail) == 250
    assert any(f["source"].startswith("scenario tls: required") for f in mail["findings"])
    for name in TLS_530[1:]:
        checked = step(session, name)
        if name.startswith("AUTH"):
            # AUTH was not offered: sending it is the probe's own act, its answer only reported.
            assert checked["verdict"] == "pass" and code(checked) == 250
            assert any("probe's own breach" in f["message"] for f in checked["findings"])
            continue
        if name.startswith("RSET"):
            # RFC 3207 §4's 530 collides with RFC 5321 §4.1.1.5's MUST 250: reported, not judged.
            assert checked["verdict"] == "pass" and code(checked) == 250, checked
            continue
        assert checked["verdict"] == "warn" and code(checked) == 250, checked
    for name in TLS_EXEMPT:
        assert step(session, name)["verdict"] == "pass"


PRE_TLS = "MAIL straight after the handshake, with no new EHLO"


def test_pre_tls_state_aiosmtpd_forgets_the_ehlo(cli, tls):
    from tls_servers import aiosmtpd_tls

    context, cafile = tls
    with aiosmtpd_tls(context) as target:
        session = run(cli, "tls-policy", target, "--cafile", cafile)
    fresh = step(session, "MAIL with no EHLO on a fresh connection")
    after = step(session, PRE_TLS)
    assert after["verdict"] == "pass" and code(after) // 100 == code(fresh) // 100 == 5


def test_pre_tls_state_a_server_remembering_the_ehlo_fails(cli, tls):
    context, cafile = tls
    behaviour = starttls_anywhere(context)
    # The writers themselves, not their ids: a connection's writer freed once it closed could
    # give the next connection's the same id, and the fresh connection would pass for greeted.
    greeted: list[asyncio.StreamWriter] = []
    answer_ehlo = behaviour.replies["EHLO"]

    async def remember(writer: asyncio.StreamWriter) -> None:
        greeted.append(writer)  # the same writer before and after the handshake
        await answer_ehlo(writer)  # type: ignore[operator]

    async def mail(writer: asyncio.StreamWriter) -> None:
        known = any(w is writer for w in greeted)
        writer.write(b"250 OK\r\n" if known else b"503 EHLO first\r\n")
        await writer.drain()

    behaviour.replies.update(EHLO=remember, MAIL=mail)
    with ScriptedServer(behaviour) as server:
        session = run(cli, "tls-policy", server.target, "--cafile", cafile)
    assert code(step(session, "MAIL with no EHLO on a fresh connection")) == 503
    after = step(session, PRE_TLS)
    assert after["verdict"] == "fail" and code(after) == 250
    assert session["verdict"] == "fail"


def test_pre_tls_state_is_not_judged_on_a_server_that_requires_tls(cli, tls):
    # A server requiring TLS (Postfix's smtpd_tls_security_level=encrypt, no HELO required):
    # MAIL in the clear gets 530 with or without EHLO, MAIL inside TLS 250 with or without it.
    # The fresh 530 says nothing of the EHLO, so the comparison is not applicable: no fail.
    context, cafile = tls
    behaviour = starttls_anywhere(context)

    async def mail(writer: asyncio.StreamWriter) -> None:
        inside = writer.get_extra_info("ssl_object") is not None
        writer.write(
            b"250 OK\r\n" if inside else b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        )
        await writer.drain()

    behaviour.replies.update(MAIL=mail)
    with ScriptedServer(behaviour) as server:
        session = run(cli, "tls-policy", server.target, "--cafile", cafile)
    clear = step(session, "MAIL after EHLO in the clear (refused where the server requires TLS)")
    assert code(clear) == 530
    after = step(session, PRE_TLS)
    assert after["verdict"] == "skip", after
    assert "clear_mail was refused (530)" in after["reason"]
    assert session["verdict"] != "fail"


# ---- group 8: the idle client ----------------------------------------------------------------


class IdleTimeoutServer(ScriptedServer):
    """The scripted server, giving up on a client silent for `after` seconds: `farewell` (a 421,
    or nothing), then the close."""

    def __init__(self, behaviour: Behaviour, after: float, farewell: bytes) -> None:
        super().__init__(behaviour)
        self.after, self.farewell = after, farewell

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        original = reader.readline

        async def readline() -> bytes:
            try:
                return await asyncio.wait_for(original(), self.after)
            except TimeoutError:
                writer.write(self.farewell)
                await writer.drain()
                return b""  # the end of the session: the caller closes

        reader.readline = readline  # type: ignore[method-assign]
        await super()._serve(reader, writer)


IDLE = "name: idle\nsteps:\n  - ehlo: client.test\n  - idle: {seconds: 3, name: idle}\n  - noop\n"


def idle_session(cli, tmp_path: Path, target: str) -> dict[str, Any]:
    path = tmp_path / "idle.yaml"
    path.write_text(IDLE, encoding="utf-8")
    result = cli("run", str(path), target, "--format", "json", "--no-report", timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result.json()["results"][0]


@pytest.mark.parametrize(
    ("farewell", "how"),
    [(b"421 4.4.2 idle too long\r\n", "with 421 4.4.2 idle too long first"), (b"", "silently")],
    ids=["421", "silent"],
)
def test_idle_a_server_giving_up_early_is_reported_and_warned(cli, tmp_path, farewell, how):
    with IdleTimeoutServer(Behaviour(replies={"EHLO": ehlo("PIPELINING")}), 1, farewell) as s:
        session = idle_session(cli, tmp_path, s.target)
    idle = step(session, "idle")
    messages = [f["message"] for f in idle["findings"]]
    assert any(f"closed the idle connection after 1 s, {how}" in m for m in messages), messages
    # One second is far below the 5 minutes RFC 5321 §4.5.3.2.7 asks for: a warning, no fail.
    assert idle["verdict"] == "warn"
    assert [f["source"] for f in idle["findings"] if f["verdict"] == "warn"] == [
        "RFC 5321 §4.5.3.2.7"
    ]
    # The session is over: the NOOP after it is not sent, and nothing is blamed for the close.
    assert step(session, "noop")["verdict"] == "skip"
    assert session["counts"]["fail"] == 0


def test_idle_aiosmtpd_with_a_short_timeout_closes_silently(cli, tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from probe.demo import LOOPBACK, free_port

    port = free_port()
    controller = Controller(Sink(), hostname=LOOPBACK, port=port, timeout=1)
    controller.start()
    try:
        session = idle_session(cli, tmp_path, f"{LOOPBACK}:{port}")
    finally:
        controller.stop()
    idle = step(session, "idle")
    assert any("silently (no 421)" in f["message"] for f in idle["findings"]), idle
    assert idle["verdict"] == "warn"


def test_idle_timeouts_opt_in_aiosmtpd_keeps_an_idle_client(cli, aiosmtpd_server):
    # aiosmtpd's default timeout is 5 minutes: a 2-second wait sees the connection still open.
    args = ("--var", "domain=example.test", "--var", "idle_wait=2")
    session = run(cli, "timeouts", aiosmtpd_server, *args)
    idle = step(session, "idle until the server gives up")
    assert idle["verdict"] == "pass"
    assert any("still open after 2 s idle" in f["message"] for f in idle["findings"]), idle


def test_idle_timeouts_without_the_variable_waits_for_nothing(cli, aiosmtpd_server):
    session = run(cli, "timeouts", aiosmtpd_server, "--var", "domain=example.test")
    connect = step(session, "connect for the idle wait")
    assert connect["verdict"] == "skip" and "idle_wait" in connect["reason"]
    assert step(session, "idle until the server gives up")["verdict"] == "skip"


# ---- group 4: implicit TLS -------------------------------------------------------------------

PLAINTEXT_CLIENT = "a client that does not start TLS"


def test_implicit_tls_aiosmtpd_waits_for_the_handshake(cli, tls):
    from tls_servers import aiosmtpd_tls

    context, cafile = tls
    with aiosmtpd_tls(context, implicit=True) as target:
        session = run(cli, "implicit-tls", f"smtps://{target}", "--cafile", cafile)
    assert session["verdict"] == "pass", session["reason"]
    plaintext = step(session, PLAINTEXT_CLIENT)
    assert plaintext["verdict"] == "pass" and plaintext["exchanges"][0]["reply"] is None
    inside = [s for s in session["steps"] if s["kind"] == "ehlo" and s["verdict"] == "pass"]
    assert len(inside) == 1 and "STARTTLS" not in inside[0]["reply"]["lines"][-1]


def test_implicit_tls_a_cleartext_greeting_on_the_port_warns(cli):
    # A plain server where the target says implicit TLS: its greeting comes in the clear.
    with ScriptedServer(Behaviour()) as server:
        result = cli(
            "run", str(SCENARIOS / "implicit-tls.yaml"), f"smtps://{server.target}",
            "--format", "json", "--no-report", "--timeout", "5", timeout=60,
        )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    session = result.json()["results"][0]
    plaintext = step(session, PLAINTEXT_CLIENT)
    assert plaintext["verdict"] == "warn"
    assert plaintext["findings"][0]["source"] == "RFC 8314 §3.3"
    assert plaintext["exchanges"][0]["reply"]["code"] == 220


@pytest.mark.parametrize("in_clear", [False, True], ids=["inside-tls-only", "also-in-clear"])
def test_requiretls_offered_and_accepted_only_inside_tls_is_reported(cli, tls, in_clear: bool):
    context, cafile = tls
    behaviour = starttls_anywhere(context)

    async def answer_ehlo(writer: asyncio.StreamWriter) -> None:
        inside = writer.get_extra_info("ssl_object") is not None
        keywords = ["PIPELINING"] if inside else ["PIPELINING", "STARTTLS"]
        if inside or in_clear:
            keywords.append("REQUIRETLS")
        writer.write(ehlo(*keywords))
        await writer.drain()

    async def mail(writer: asyncio.StreamWriter) -> None:
        inside = writer.get_extra_info("ssl_object") is not None
        writer.write(
            b"250 OK\r\n" if inside or in_clear else b"550 5.7.10 REQUIRETLS needs TLS\r\n"
        )
        await writer.drain()

    behaviour.replies.update(EHLO=answer_ehlo, MAIL=mail)
    with ScriptedServer(behaviour) as server:
        session = run(cli, "tls-policy", server.target, "--cafile", cafile)
    offered = step(session, "REQUIRETLS not offered in the clear")
    accepted = step(session, "MAIL with REQUIRETLS in the clear")
    # RFC 8689 puts the TLS precondition on the client: what the server does is information.
    for checked in (offered, accepted):
        assert checked["verdict"] == "pass", checked
        unmet = [f["verdict"] for f in checked["findings"] if "expected" in f["message"]]
        assert unmet == (["info"] if in_clear else []), checked
    assert code(accepted) == (250 if in_clear else 550)
