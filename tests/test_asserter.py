"""The verdict rules: replies parsed by the real reader, judged by the real table."""

from __future__ import annotations

import re

import pytest

from probe.asserter import SessionFacts, judge, step_verdict
from probe.codes import load_table
from probe.protocol.reader import ReplyReader
from probe.protocol.reply import Reply
from probe.results import Exchange, Verdict
from probe.scenario.model import CodePattern, Expectation, Level

TABLE = load_table()
# Most rules are judged in the middle of a transaction (a MAIL and a RCPT accepted), where every
# command is in sequence; the sequence rules have their own tests.
IN_TRANSACTION = SessionFacts(in_transaction=True, recipients=1)


def reply(data: bytes) -> Reply:
    reader = ReplyReader()
    reader.receive_data(data)
    event = reader.next_event()
    assert isinstance(event, Reply), event
    return event


def verdict_of(
    command: str,
    data: bytes,
    profile: str = "rfc5321",
    facts: SessionFacts | None = None,
    expectation: Expectation | None = None,
    has_argument: bool = False,
    strict: bool = False,
) -> tuple[Verdict, list[str]]:
    exchange = Exchange(command, b"", 0.0, reply=reply(data), has_argument=has_argument)
    findings = judge(exchange, TABLE, profile, facts or IN_TRANSACTION, expectation)
    return step_verdict(findings, strict), [
        f"{f.verdict}: {f.message} [{f.source}]" for f in findings
    ]


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("CONNECT", b"220 mx.example.test ESMTP\r\n"),
        ("EHLO", b"250-mx.example.test\r\n250 PIPELINING\r\n"),
        ("MAIL", b"250 OK\r\n"),
        ("RCPT", b"550 no such user\r\n"),
        ("DATA", b"354 go ahead\r\n"),
        ("DATA-END", b"250 queued\r\n"),
        ("VRFY", b"252 cannot verify\r\n"),
        ("QUIT", b"221 bye\r\n"),
        ("UNKNOWN", b"500 unrecognized\r\n"),
    ],
)
def test_codes_rfc5321_lists_for_the_command_pass(command, data):
    verdict, findings = verdict_of(command, data)
    assert verdict is Verdict.PASS, findings


def test_a_class_the_command_cannot_return_fails_citing_rfc5321():
    verdict, findings = verdict_of("DATA", b"250 OK\r\n")
    assert verdict is Verdict.FAIL
    assert any("DATA can never answer 2xx" in f and "RFC 5321 §4.3.2" in f for f in findings)
    assert verdict_of("MAIL", b"354 what\r\n", facts=SessionFacts())[0] is Verdict.FAIL


def test_a_legacy_only_code_warns_in_rfc5321_and_passes_in_permissive():
    # 451 to DATA itself: RFC 821/2821 list it, RFC 5321 dropped it.
    verdict, findings = verdict_of("DATA", b"451 local error\r\n")
    assert verdict is Verdict.WARN
    assert any("RFC 2821" in f for f in findings)
    assert verdict_of("DATA", b"451 local error\r\n", profile="permissive")[0] is Verdict.PASS


def test_an_unlisted_code_of_a_possible_class_warns_with_the_first_digit_rule():
    # aiosmtpd answers HELP with 250: 2xx is a class HELP can return, 250 is listed nowhere.
    verdict, findings = verdict_of("HELP", b"250 Supported commands: EHLO HELO\r\n")
    assert verdict is Verdict.WARN
    assert any("first digit" in f and "RFC 5321 §4.3.2" in f for f in findings)
    assert verdict_of("HELP", b"250 help\r\n", strict=True)[0] is Verdict.FAIL


def test_fixed_replies_fail_when_answered_otherwise_but_421_is_always_allowed():
    verdict, findings = verdict_of("QUIT", b"250 bye\r\n")
    assert verdict is Verdict.FAIL
    assert any("§4.1.1.10" in f for f in findings)
    assert verdict_of("QUIT", b"421 shutting down\r\n")[0] is Verdict.PASS


def test_rset_must_binds_only_without_arguments():
    assert verdict_of("RSET", b"501 no arguments allowed\r\n")[0] is Verdict.FAIL
    assert verdict_of("RSET", b"501 no arguments allowed\r\n", has_argument=True)[0] is Verdict.PASS


def test_503_after_a_554_greeting_is_allowed_only_after_that_greeting():
    after_554 = SessionFacts(greeting_code=554)
    assert verdict_of("NOOP", b"503 bad sequence\r\n", facts=after_554)[0] is Verdict.PASS
    # NOOP is fixed 250, by a sentence with no MUST: a warning.
    assert verdict_of("NOOP", b"503 bad sequence\r\n")[0] is Verdict.WARN


def test_size_codes_on_data_depend_on_size_being_advertised():
    with_size = SessionFacts(extensions={"SIZE": ("1000",)})
    # Standards-track (RFC 1870) row: passes in `standards` once SIZE was advertised.
    assert verdict_of("DATA", b"552 too big\r\n", "standards", with_size)[0] is Verdict.PASS
    without, findings = verdict_of("DATA", b"552 too big\r\n", "standards")
    assert without is Verdict.WARN, findings


def test_an_unobservable_condition_is_assumed_and_said():
    # 530 to MAIL: only when the server requires STARTTLS or AUTH first (RFC 3207 §4, RFC 4954).
    verdict, findings = verdict_of(
        "MAIL", b"530 5.7.0 Must issue a STARTTLS command first\r\n", "standards"
    )
    assert verdict is Verdict.PASS
    assert any("assuming" in f for f in findings)


def test_tls_insufficient_554_does_not_apply_in_the_clear():
    verdict, findings = verdict_of("RCPT", b"554 5.7.1 Relay access denied\r\n", "standards")
    assert verdict is Verdict.WARN
    assert not any("3207" in f for f in findings), findings


def test_malformed_replies_fail_with_their_section():
    assert verdict_of("NOOP", b"250-a\r\n251 b\r\n")[0] is Verdict.FAIL
    verdict, findings = verdict_of("NOOP", b"250 ok\n")
    assert verdict is Verdict.FAIL and any("§2.3.8" in f for f in findings)


def test_enhanced_code_class_must_match_the_reply():
    facts = SessionFacts(extensions={"ENHANCEDSTATUSCODES": ()})
    verdict, findings = verdict_of("MAIL", b"250 5.1.0 OK\r\n", facts=facts)
    assert verdict is Verdict.FAIL and any("RFC 2034" in f for f in findings)
    verdict, findings = verdict_of("MAIL", b"250 OK\r\n", facts=facts)
    assert verdict is Verdict.WARN and any("RFC 2034" in f for f in findings)


@pytest.mark.parametrize(
    ("level", "expected"),
    [(Level.MUST, Verdict.FAIL), (Level.SHOULD, Verdict.WARN), (Level.INFO, Verdict.PASS)],
)
def test_an_unmet_expectation_costs_what_its_level_says(level, expected):
    expectation = Expectation((CodePattern("5xx"),), (), level, "RFC 5321 §3.3")
    verdict, findings = verdict_of("RCPT", b"250 OK\r\n", expectation=expectation)
    assert verdict is expected
    assert any("expected 5xx" in f and "RFC 5321 §3.3" in f for f in findings)


def test_expectation_text_pattern_is_searched_in_the_reply_text():
    expectation = Expectation((CodePattern("250"),), (re.compile(r"(?i)queued as \w+"),))
    assert verdict_of("DATA-END", b"250 Queued as ABC123\r\n", expectation=expectation)[0] is (
        Verdict.PASS
    )
    assert verdict_of("DATA-END", b"250 OK\r\n", expectation=expectation)[0] is Verdict.FAIL


def test_no_reply_is_an_error_with_the_reason():
    exchange = Exchange("NOOP", b"NOOP\r\n", 0.0, error="no complete reply within 1 s")
    findings = judge(exchange, TABLE, "rfc5321", SessionFacts())
    assert step_verdict(findings, strict=False) is Verdict.ERROR
    assert findings[0].message == "no complete reply within 1 s"


def test_a_seed_listing_does_not_excuse_a_fixed_reply():
    # RFC 876's 200 to RSET is in a seed page, but RSET without arguments MUST get 250.
    verdict, findings = verdict_of("RSET", b"200 OK\r\n", profile="permissive")
    assert verdict is Verdict.FAIL
    assert any("§4.1.1.5" in f for f in findings)


# ---- headlines: the most important finding names the step ----------------------------------


def test_the_headline_is_a_fail_before_an_error_before_a_warning():
    from probe.results import Finding, Verdict, headline

    findings = [
        Finding(Verdict.WARN, "a warning"),
        Finding(Verdict.ERROR, "no reply"),
        Finding(Verdict.FAIL, "a failure"),
    ]
    top = headline(findings)
    assert top is not None and top.message == "a failure"
    assert headline([findings[0], findings[1]]).message == "no reply"  # type: ignore[union-attr]
    assert headline([Finding(Verdict.PASS, "fine")]) is None


def test_the_headline_is_a_rule_about_meaning_before_syntax_and_enhanced_notes():
    from probe.results import Finding, Verdict, headline

    findings = [
        Finding(Verdict.FAIL, "bare LF", topic="syntax"),
        Finding(Verdict.FAIL, "class contradicts", topic="enhanced"),
        Finding(Verdict.FAIL, "QUIT MUST be answered 221"),
    ]
    assert headline(findings).message == "QUIT MUST be answered 221"  # type: ignore[union-attr]
    assert headline(findings[:2]).message == "bare LF"  # type: ignore[union-attr]


def test_under_strict_a_promoted_warning_keeps_its_text():
    from probe.results import Finding, Verdict, headline

    findings = [Finding(Verdict.PASS, "fine"), Finding(Verdict.WARN, "a should")]
    top = headline(findings, strict=True)
    assert top is not None and top.message == "a should"
    both = [Finding(Verdict.ERROR, "timed out"), Finding(Verdict.WARN, "a should")]
    assert headline(both, strict=True).message == "a should"  # type: ignore[union-attr]


# ---- fixed replies bind only the form they are written for (RFC 5321 §4.3.2, §4.1.1.x) --------


IN_FACTS = {"in_transaction": True, "recipients": 1}


def judged(command: str, data: bytes, sent: bytes, **facts) -> tuple[Verdict, list]:
    exchange = Exchange(command, sent, 0.0, reply=reply(data))
    exchange.has_argument = b" " in sent.strip()
    findings = judge(exchange, TABLE, "rfc5321", SessionFacts(**(IN_FACTS | facts)))
    return step_verdict(findings, False), findings


@pytest.mark.parametrize("command", ["QUIT", "RSET", "DATA"])
def test_an_argumentless_command_given_arguments_should_get_501(command):
    sent = f"{command} now please\r\n".encode()
    verdict, findings = judged(command, b"501 5.5.4 no arguments allowed\r\n", sent)
    assert verdict is Verdict.PASS, findings
    verdict, findings = judged(command, b"500 5.5.2 what?\r\n", sent)
    assert verdict is Verdict.WARN, findings
    assert findings[-1].source == "RFC 5321 §4.3.2"
    assert f"{command} with arguments got 500; it SHOULD get 501" in findings[-1].message


@pytest.mark.parametrize(
    ("command", "accepting"),
    [("QUIT", b"221 bye\r\n"), ("RSET", b"250 ok\r\n"), ("DATA", b"354 go\r\n")],
)
def test_accepting_an_argumentless_command_with_arguments_is_a_warning(command, accepting):
    verdict, findings = judged(command, accepting, f"{command} x\r\n".encode())
    assert verdict is Verdict.WARN, findings
    assert findings[-1].message.startswith(f"{command} with arguments was accepted")
    assert all(f.verdict is not Verdict.FAIL for f in findings)


def test_quit_with_arguments_answered_501_is_not_held_to_the_221_must():
    verdict, findings = judged("QUIT", b"501 no arguments\r\n", b"QUIT x\r\n")
    assert verdict is Verdict.PASS, findings
    verdict, findings = judged("QUIT", b"501 no arguments\r\n", b"QUIT\r\n")
    assert verdict is Verdict.FAIL
    bad = next(f for f in findings if "MUST be answered 221" in f.message)
    assert bad.source == "RFC 5321 §4.1.1.10"
    # The expected line shows each conditional code with its condition.
    assert bad.expected == "221, 421, 500 (line over 512 octets), 501 (with arguments)"


def test_noop_with_a_parameter_refused_is_a_should_not_a_must():
    verdict, findings = judged("NOOP", b"501 no parameters\r\n", b"NOOP hello\r\n")
    assert verdict is Verdict.WARN, findings
    assert "the parameter SHOULD be ignored" in findings[-1].message
    verdict, findings = judged("NOOP", b"250 ok\r\n", b"NOOP hello\r\n")
    assert verdict is Verdict.PASS, findings


def test_a_command_line_over_512_octets_may_get_500_whatever_the_command():
    long_quit = b"QUIT" + b" " * 600 + b"\r\n"
    _, findings = judged("QUIT", b"500 5.5.2 line too long\r\n", long_quit)
    assert all("MUST be answered" not in f.message for f in findings), findings
    long_noop = b"NOOP" + b" " + b"x" * 600 + b"\r\n"
    _, findings = judged("NOOP", b"500 5.5.2 line too long\r\n", long_noop)
    assert all("SHOULD be ignored" not in f.message for f in findings), findings


def test_a_500_to_the_end_of_data_is_not_excused_by_a_line_that_was_not_long():
    short = b"Subject: hi\r\n\r\nhello\r\n.\r\n"
    verdict, findings = judged("DATA-END", b"500 5.5.2 syntax error\r\n", short)
    assert all("assuming" not in f.message for f in findings), findings
    assert verdict is not Verdict.PASS
    long_body = b"Subject: hi\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n"
    verdict, findings = judged("DATA-END", b"500 5.5.2 line too long\r\n", long_body)
    assert verdict is Verdict.PASS, findings


# ---- commands out of sequence (RFC 5321 §3.3, §4.1.4) -------------------------------------------


def test_a_rcpt_accepted_with_no_transaction_open_fails():
    verdict, findings = judged("RCPT", b"250 2.1.5 ok\r\n", b"RCPT TO:<a@b.test>\r\n",
                               in_transaction=False, recipients=0)  # fmt: skip
    assert verdict is Verdict.FAIL
    assert findings[-1].source == "RFC 5321 §3.3"
    assert "MUST return a 503" in findings[-1].message
    verdict, findings = judged("RCPT", b"503 5.5.1 need MAIL\r\n", b"RCPT TO:<a@b.test>\r\n",
                               in_transaction=False, recipients=0)  # fmt: skip
    assert verdict is Verdict.PASS, findings


def test_a_354_to_data_with_no_recipient_accepted_fails():
    verdict, findings = judged("DATA", b"354 go\r\n", b"DATA\r\n", recipients=0)
    assert verdict is Verdict.FAIL
    assert findings[-1].source == "RFC 5321 §4.1.4"
    assert "no recipient was accepted" in findings[-1].message
    for refusal in (b"503 5.5.1 need RCPT\r\n", b"554 5.5.1 no valid recipients\r\n"):
        verdict, findings = judged("DATA", refusal, b"DATA\r\n", recipients=0)
        assert verdict is Verdict.PASS, findings


def test_an_expectation_is_not_judged_when_an_earlier_refusal_left_no_transaction():
    # basic's RCPT to postmaster wants 250 (MUST); after a refused MAIL there is nothing to ask,
    # and 503 is the reply §3.3 requires: the server is not failed for the step's wish.
    wants_250 = Expectation((CodePattern("250"),), (), Level.MUST, "RFC 5321 §4.5.1")
    no_transaction = SessionFacts(in_transaction=False, recipients=0)
    verdict, findings = verdict_of(
        "RCPT", b"503 5.5.1 need MAIL\r\n", facts=no_transaction, expectation=wants_250
    )
    assert verdict is Verdict.PASS, findings
    assert any("expectation not judged: no mail transaction is open" in f for f in findings)
    for refusal in (b"503 need RCPT\r\n", b"554 no valid recipients\r\n"):
        wants_354 = Expectation((CodePattern("354"),), (), Level.MUST, "RFC 5321 §4.1.1.4")
        no_recipient = SessionFacts(in_transaction=True, recipients=0)
        verdict, findings = verdict_of("DATA", refusal, facts=no_recipient, expectation=wants_354)
        assert verdict is Verdict.PASS, findings
    # Any other reply, or a transaction open, is judged as usual.
    for data, facts in ((b"550 no\r\n", no_transaction), (b"503 hm\r\n", IN_TRANSACTION)):
        verdict, _ = verdict_of("RCPT", data, facts=facts, expectation=wants_250)
        assert verdict is Verdict.FAIL
    # A step that expects the out-of-sequence refusal gets its own judgement (sequence.yaml).
    wants_503 = Expectation((CodePattern("503"),), (), Level.MUST, "RFC 5321 §3.3")
    verdict, findings = verdict_of(
        "RCPT", b"503 need MAIL\r\n", facts=no_transaction, expectation=wants_503
    )
    assert verdict is Verdict.PASS and not any("not judged" in f for f in findings)


# ---- duties: postmaster without a domain (§4.5.1), VRFY (§3.5.3) ------------------------------


@pytest.mark.parametrize("sent", [b"RCPT TO:<postmaster>\r\n", b"RCPT TO:<PostMaster>\r\n"])
def test_refusing_rcpt_to_bare_postmaster_fails(sent):
    verdict, findings = judged("RCPT", b"550 5.1.1 no such user\r\n", sent)
    assert verdict is Verdict.FAIL
    assert findings[-1].source == "RFC 5321 §4.5.1"
    assert '"RCPT TO:<Postmaster>" (with no domain specification), MUST be supported' in (
        findings[-1].message
    )
    # A temporary refusal is not a refusal of the duty; nor is a 503 with no transaction open.
    assert judged("RCPT", b"451 4.3.0 try later\r\n", sent)[0] is Verdict.PASS
    assert (
        judged("RCPT", b"503 5.5.1 need MAIL\r\n", sent, in_transaction=False, recipients=0)[0]
        is Verdict.PASS
    )
    assert judged("RCPT", b"550 no\r\n", b"RCPT TO:<someone@b.test>\r\n")[0] is Verdict.PASS


@pytest.mark.parametrize("code", [b"500", b"502"])
def test_vrfy_answered_500_or_502_is_a_warning(code):
    verdict, findings = judged("VRFY", code + b" 5.5.1 not implemented\r\n", b"VRFY postmaster\r\n")
    assert verdict is Verdict.WARN
    assert findings[-1].source == "RFC 5321 §3.5.3"
    assert "not in full compliance" in findings[-1].message
    assert judged("VRFY", b"252 2.5.2 cannot verify\r\n", b"VRFY postmaster\r\n")[0] is (
        Verdict.PASS
    )


# ---- EHLO reply grammar (RFC 5321 §4.1.1.1, RFC 1870 §4) -----------------------------------------


@pytest.mark.parametrize(
    ("lines", "verdict", "message", "source"),
    [
        (b"250-mx.test\r\n250-PIPE_LINING\r\n250 8BITMIME\r\n", Verdict.FAIL,
         "'PIPE_LINING' is not an ehlo-keyword", "RFC 5321 §4.1.1.1 (ehlo-keyword)"),
        (b"250-mx.test\r\n250 SIZE lots\r\n", Verdict.FAIL,
         "SIZE parameter 'lots' is not a number", "RFC 1870 §4 (size-param = [1*DIGIT])"),
        (b"250-mx.test\r\n250 PIPELINING yes\r\n", Verdict.WARN,
         "PIPELINING takes no parameters", "the extension's RFC defines no parameters"),
        (b"250-mx.test\r\n250-SIZE 100\r\n250 SIZE 200\r\n", Verdict.WARN,
         "SIZE advertised again", "RFC 5321 §4.1.1.1"),
    ],
)  # fmt: skip
def test_ehlo_grammar_problems_are_reported(lines, verdict, message, source):
    got, findings = verdict_of("EHLO", lines)
    assert got is verdict, findings
    assert any(message in f and source in f for f in findings), findings


def test_a_well_formed_ehlo_reply_has_no_grammar_findings():
    got, findings = verdict_of("EHLO", b"250-mx.test Hello\r\n250-SIZE 1000\r\n250 8BITMIME\r\n")
    assert got is Verdict.PASS and findings == [], findings


def test_a_non_ascii_address_without_smtputf8_is_the_probes_breach():
    exchange = Exchange(
        "MAIL", "MAIL FROM:<café@b.test>\r\n".encode(), 0.0, reply=reply(b"553 no\r\n")
    )
    findings = judge(exchange, TABLE, "rfc5321", SessionFacts())
    assert findings[0].verdict is Verdict.INFO and "did not offer SMTPUTF8" in findings[0].message
    assert step_verdict(findings, strict=True) is Verdict.PASS  # its refusal is not counted


# ---- TLS and passwords in EHLO (RFC 3207 §4.2, RFC 4954 §4) ------------------------------------


def test_starttls_advertised_inside_tls_fails_and_outside_passes():
    data = b"250-mx.example.test\r\n250 STARTTLS\r\n"
    inside, messages = verdict_of("EHLO", data, facts=SessionFacts(tls_active=True))
    assert inside is Verdict.FAIL
    assert any("[RFC 3207 §4.2]" in m for m in messages), messages
    outside, _ = verdict_of("EHLO", data, facts=SessionFacts())
    assert outside is Verdict.PASS


@pytest.mark.parametrize(
    ("auth", "tls", "expected"),
    [
        ("AUTH PLAIN LOGIN", False, Verdict.WARN),
        ("AUTH=LOGIN", False, Verdict.WARN),
        ("AUTH CRAM-MD5 SCRAM-SHA-256", False, Verdict.PASS),  # no password on the wire
        ("AUTH PLAIN LOGIN", True, Verdict.PASS),
    ],
)
def test_a_plaintext_password_mechanism_offered_in_the_clear_is_a_warning(auth, tls, expected):
    data = f"250-mx.example.test\r\n250 {auth}\r\n".encode()
    found, messages = verdict_of("EHLO", data, facts=SessionFacts(tls_active=tls))
    assert found is expected, messages
    if expected is Verdict.WARN:
        assert any("SHOULD NOT" in m and "[RFC 4954 §4]" in m for m in messages), messages


# ---- AUTH out of sequence (RFC 4954 §4) ---------------------------------------------------------

OFFERS_AUTH = {
    "extensions": {"AUTH": ("PLAIN", "LOGIN")}
}  # else sending AUTH is the probe's breach


def test_an_auth_accepted_after_a_successful_one_fails():
    for accepted in (b"334 VXNlcm5hbWU6\r\n", b"235 2.7.0 ok\r\n"):
        facts = {"in_transaction": False, "authenticated": True, **OFFERS_AUTH}
        verdict, findings = judged("AUTH", accepted, b"AUTH LOGIN\r\n", **facts)
        assert verdict is Verdict.FAIL
        assert findings[0].source == "RFC 4954 §4" and findings[0].expected == "503"
        assert "an AUTH command already succeeded" in findings[0].message
        assert "MUST reject any further AUTH commands with a 503" in findings[0].message
    verdict, findings = judged("AUTH", b"503 5.5.1 already authenticated\r\n", b"AUTH LOGIN\r\n",
                               in_transaction=False, authenticated=True, **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.PASS, findings
    verdict, findings = judged("AUTH", b"334 VXNlcm5hbWU6\r\n", b"AUTH LOGIN\r\n",
                               in_transaction=False, **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.PASS, findings


def test_an_auth_accepted_inside_a_mail_transaction_fails():
    verdict, findings = judged("AUTH", b"235 2.7.0 ok\r\n", b"AUTH PLAIN ****\r\n", **OFFERS_AUTH)
    assert verdict is Verdict.FAIL
    assert "a mail transaction is open" in findings[0].message
    assert "MUST be rejected with a 503 reply" in findings[0].message
    verdict, findings = judged(
        "AUTH", b"503 5.5.1 not now\r\n", b"AUTH PLAIN ****\r\n", **OFFERS_AUTH
    )
    assert verdict is Verdict.PASS, findings


def test_an_auth_refused_with_another_code_than_503_out_of_sequence_fails():
    # RFC 4954 §4 names the reply: a 535 (the server looked at the credentials) breaks it too.
    for facts in ({}, {"in_transaction": False, "authenticated": True}):
        verdict, findings = judged(
            "AUTH", b"535 5.7.8 bad credentials\r\n", b"AUTH PLAIN ****\r\n", **facts, **OFFERS_AUTH
        )
        assert verdict is Verdict.FAIL, findings
        assert "refused with another code (535)" in findings[0].message
        assert findings[0].expected == "503" and findings[0].source == "RFC 4954 §4"
    # Outside a transaction and before any success, 535 is the plain answer to bad credentials.
    verdict, findings = judged("AUTH", b"535 5.7.8 bad credentials\r\n", b"AUTH PLAIN ****\r\n",
                               in_transaction=False, **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.PASS, findings


ENHANCED_AUTH = {"extensions": {"AUTH": ("PLAIN",), "ENHANCEDSTATUSCODES": ()}}


@pytest.mark.parametrize(
    ("sent", "answer", "expected", "words"),
    [
        (b"*\r\n", b"501 5.7.0 cancelled\r\n", Verdict.PASS, ""),
        (
            b"*\r\n",
            b"535 5.7.8 no\r\n",
            Verdict.FAIL,
            "it MUST reject the AUTH command by sending a 501",
        ),
        (b"!!!x\r\n", b"501 5.5.2 cannot decode\r\n", Verdict.PASS, ""),
        (b"!!!x\r\n", b"535 5.7.8 no\r\n", Verdict.FAIL, "cannot [BASE64] decode"),
        (b"!!!x\r\n", b"501 5.5.4 bad\r\n", Verdict.FAIL, "with enhanced code 5.5.4"),
        (b"!!!x\r\n", b"501 bad\r\n", Verdict.FAIL, "with no enhanced code"),
        (b"dGltIGRpZ2VzdA==\r\n", b"535 5.7.8 no\r\n", Verdict.PASS, ""),  # base64: no rule
        (b"****\r\n", b"235 2.7.0 ok\r\n", Verdict.PASS, ""),  # a masked secret is not read
    ],
)
def test_the_cancel_line_and_undecodable_responses_get_501(sent, answer, expected, words):
    verdict, findings = judged("AUTH", answer, sent, in_transaction=False, **ENHANCED_AUTH)
    assert verdict is expected, findings
    if words:
        assert any(words in f.message and f.source == "RFC 4954 §4" for f in findings), findings


def test_without_enhancedstatuscodes_a_plain_501_to_undecodable_base64_passes():
    verdict, findings = judged("AUTH", b"501 bad\r\n", b"!!!x\r\n", in_transaction=False,
                               **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.PASS, findings


def test_auth_plain_without_an_initial_response_should_get_an_empty_challenge():
    verdict, findings = judged("AUTH", b"334 \r\n", b"AUTH PLAIN\r\n", in_transaction=False,
                               **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.PASS, findings
    verdict, findings = judged("AUTH", b"334 VXNlcm5hbWU6\r\n", b"AUTH PLAIN\r\n",
                               in_transaction=False, **OFFERS_AUTH)  # fmt: skip
    assert verdict is Verdict.WARN, findings
    assert "a 334 reply with no text part" in findings[0].message
    # With an initial response, or another mechanism, the rule does not apply.
    for line in (b"AUTH PLAIN ****\r\n", b"AUTH LOGIN\r\n"):
        verdict, findings = judged("AUTH", b"334 VXNlcm5hbWU6\r\n", line, in_transaction=False,
                                   **OFFERS_AUTH)  # fmt: skip
        assert verdict is Verdict.PASS, (line, findings)


def test_a_client_response_inside_an_auth_exchange_is_no_new_auth():
    # After a 334 the client's lines (base64, or "*") are answered too: not AUTH commands (the
    # cancel line "*" has its own rule, above: a 334 to it fails that one).
    for line in (b"dGlt\r\n", b"****\r\n"):
        verdict, findings = judged(
            "AUTH", b"334 UGFzc3dvcmQ6\r\n", line, authenticated=True, **OFFERS_AUTH
        )
        assert verdict is Verdict.PASS, (line, findings)


@pytest.mark.parametrize("sent", [b"RCPT TO:<postmaster@b.test>\r\n", b"RCPT TO:<Postmaster>\r\n"])
def test_postmaster_deferred_with_a_4xx_warns_where_the_expectation_is_a_must(sent):
    # basic wants 250 to RCPT postmaster (MUST, §4.5.1); greylisting's 450 defers, refuses nothing.
    wants_250 = Expectation((CodePattern("250"),), (), Level.MUST, "RFC 5321 §4.5.1")
    exchange = Exchange("RCPT", sent, 0.0, reply=reply(b"450 4.7.1 greylisted, try again\r\n"))
    exchange.has_argument = True
    findings = judge(exchange, TABLE, "rfc5321", IN_TRANSACTION, wants_250)
    assert step_verdict(findings, False) is Verdict.WARN, findings
    assert "postmaster deferred, not refused" in findings[-1].message
    # A 5xx is still the refusal the MUST forbids; a 4xx to anyone else is judged as written.
    exchange.reply = reply(b"550 5.1.1 no such user\r\n")
    assert step_verdict(judge(exchange, TABLE, "rfc5321", IN_TRANSACTION, wants_250), False) is (
        Verdict.FAIL
    )
    other = Exchange("RCPT", b"RCPT TO:<user@b.test>\r\n", 0.0, reply=reply(b"450 later\r\n"))
    other.has_argument = True
    assert step_verdict(judge(other, TABLE, "rfc5321", IN_TRANSACTION, wants_250), False) is (
        Verdict.FAIL
    )
