"""Enhanced status codes: RFC 3463 §2 syntax and the RFC 2034 §3-§4 rules."""

from __future__ import annotations

import pytest

from probe.protocol.enhanced import (
    ENHANCED_PROBLEM_KINDS,
    EnhancedCode,
    EnhancedParse,
    check_enhanced,
    parse_enhanced,
)
from probe.protocol.reader import NEED_DATA, ReplyReader
from probe.protocol.reply import Reply, Severity, SyntaxProblem


def reply_of(data: bytes) -> Reply:
    reader = ReplyReader()
    reader.receive_data(data)
    event = reader.next_event()
    assert isinstance(event, Reply)
    assert reader.next_event() is NEED_DATA
    return event


def kinds(problems: list[SyntaxProblem]) -> list[str]:
    return [problem.kind for problem in problems]


# --- parse_enhanced ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2.0.0 OK", EnhancedCode(2, 0, 0, "2.0.0")),
        ("5.1.1 <x@example> unknown", EnhancedCode(5, 1, 1, "5.1.1")),
        ("4.7.12", EnhancedCode(4, 7, 12, "4.7.12")),  # end of text counts as the end
        ("5.100.999   spaces", EnhancedCode(5, 100, 999, "5.100.999")),
    ],
)
def test_valid_enhanced_code_is_parsed(text: str, code: EnhancedCode) -> None:
    assert parse_enhanced(text) == EnhancedParse(code, None)
    assert str(code) == code.text


@pytest.mark.parametrize(
    "text",
    ["OK", "", "mx.example.com ESMTP", "2.0 OK", "Hello 2.0.0", " 2.0.0 OK", "2..0.0", "x2.0.0"],
)
def test_plain_text_has_no_enhanced_code_and_no_problem(text: str) -> None:
    assert parse_enhanced(text) == EnhancedParse(None, None)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("2.01.0 OK", "subject '01' has a leading zero"),
        ("2.0.00 OK", "detail '00' has a leading zero"),
        ("5.1000.1 x", "subject '1000' has more than three digits"),
        ("5.1.1000 x", "detail '1000' has more than three digits"),
        ("3.0.0 go", "class '3' is not 2, 4 or 5"),
        ("25.0.0 x", "class '25' is not 2, 4 or 5"),
        ("2.0.0OK", "followed by 'O', not a space"),
        ("2.0.0\tOK", "followed by '\\t', not a space"),
        ("2.0.0.1 x", "followed by '.', not a space"),
        ("2.0.0, done", "followed by ',', not a space"),
    ],
)
def test_broken_enhanced_code_is_a_problem_not_a_code(text: str, fault: str) -> None:
    parsed = parse_enhanced(text)
    assert parsed.code is None
    assert parsed.problem is not None
    assert fault in parsed.problem
    assert "\n" not in parsed.problem


def test_broken_code_lists_every_fault() -> None:
    parsed = parse_enhanced("7.01.0000x")
    assert parsed.problem is not None
    assert parsed.problem.count(";") == 4  # class, subject zero, detail length and zero, after


def test_non_ascii_digits_are_not_digits() -> None:
    assert parse_enhanced("٢.٠.٠ OK") == EnhancedParse(None, None)


# --- check_enhanced -------------------------------------------------------------------------


def test_enhanced_code_class_must_match_reply_code() -> None:
    problems = check_enhanced(reply_of(b"250 5.1.1 OK\r\n"), advertised=True, command="MAIL")
    assert kinds(problems) == ["enhanced-class-mismatch"]
    (found,) = problems
    assert found.severity is Severity.FAIL
    assert found.source == "RFC 2034 §4"
    assert "5.1.1" in found.message and "class must be 2" in found.message


def test_class_mismatch_is_checked_even_when_not_advertised() -> None:
    problems = check_enhanced(reply_of(b"550 2.0.0 no\r\n"), advertised=False, command="RCPT")
    assert kinds(problems) == ["enhanced-class-mismatch"]


def test_matching_code_on_every_line_is_clean() -> None:
    reply = reply_of(b"550-5.7.1 blocked\r\n550 5.7.1 see https://example\r\n")
    assert check_enhanced(reply, advertised=True, command="RCPT") == []


def test_missing_enhanced_code_when_advertised_is_a_warning() -> None:
    problems = check_enhanced(reply_of(b"250 OK\r\n"), advertised=True, command="MAIL")
    assert kinds(problems) == ["enhanced-missing"]
    (found,) = problems
    assert found.severity is Severity.WARN
    assert found.source == "RFC 2034 §3"
    assert "MAIL" in found.message and "'OK'" in found.message


def test_missing_enhanced_code_when_not_advertised_is_fine() -> None:
    assert check_enhanced(reply_of(b"250 OK\r\n"), advertised=False, command="MAIL") == []


def test_each_line_of_a_multiline_reply_is_checked() -> None:
    reply = reply_of(b"550-5.7.1 blocked\r\n550-more text\r\n550 and more\r\n")
    problems = check_enhanced(reply, advertised=True, command="DATA-END")
    assert kinds(problems) == ["enhanced-missing"]
    assert problems[0].line == 2
    assert problems[0].message.endswith("also on 1 more line")


@pytest.mark.parametrize("command", ["CONNECT", "HELO", "EHLO", "ehlo", "LHLO"])
def test_greeting_and_helo_ehlo_replies_need_no_enhanced_code(command: str) -> None:
    reply = reply_of(b"250-mx.example Hello\r\n250 PIPELINING\r\n")
    assert check_enhanced(reply, advertised=True, command=command) == []


def test_greeting_starting_with_an_address_is_not_a_malformed_code() -> None:
    reply = reply_of(b"220 10.0.0.1 ESMTP\r\n")
    assert check_enhanced(reply, advertised=True, command="CONNECT") == []


def test_greeting_with_mismatched_code_is_still_reported() -> None:
    reply = reply_of(b"220 5.0.0 ready\r\n")
    assert kinds(check_enhanced(reply, True, "CONNECT")) == ["enhanced-class-mismatch"]


@pytest.mark.parametrize("data", [b"354 End data with <CR><LF>.<CR><LF>\r\n", b"334 VXNlcg==\r\n"])
def test_3xx_replies_carry_no_enhanced_code(data: bytes) -> None:
    assert check_enhanced(reply_of(data), advertised=True, command="DATA") == []


def test_3xx_reply_is_not_checked_for_a_stray_code() -> None:
    assert check_enhanced(reply_of(b"354 2.0.0 go\r\n"), advertised=True, command="DATA") == []


def test_malformed_enhanced_code_is_a_failure() -> None:
    problems = check_enhanced(reply_of(b"250 2.01.0 OK\r\n"), advertised=True, command="RSET")
    assert kinds(problems) == ["enhanced-malformed"]
    (found,) = problems
    assert found.severity is Severity.FAIL
    assert found.source == "RFC 3463 §2"
    assert "leading zero" in found.message and found.message.startswith("line 1:")


def test_reply_with_bad_or_no_code_is_skipped() -> None:
    assert check_enhanced(reply_of(b"199 x\r\n"), True, "NOOP") == []
    assert check_enhanced(reply_of(b"garbage\r\n"), True, "NOOP") == []


def test_enhanced_problem_kinds_table() -> None:
    assert ENHANCED_PROBLEM_KINDS == {
        "enhanced-class-mismatch": (Severity.FAIL, "RFC 2034 §4"),
        "enhanced-malformed": (Severity.FAIL, "RFC 3463 §2"),
        "enhanced-missing": (Severity.WARN, "RFC 2034 §3"),
    }
