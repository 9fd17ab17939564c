"""parse_ehlo: RFC 5321 §4.1.1.1 ehlo-ok-rsp into Capabilities."""

from __future__ import annotations

import pytest

from probe.protocol.ehlo import Capabilities, parse_ehlo
from probe.protocol.reader import NEED_DATA, ReplyReader
from probe.protocol.reply import Reply


def reply_of(*lines: str) -> Reply:
    """A reply from its lines' text, the reader adding 250- / 250 and CRLF."""
    wire = b"".join(
        (b"250 " if index == len(lines) - 1 else b"250-") + line.encode() + b"\r\n"
        for index, line in enumerate(lines)
    )
    return read(wire)


def read(wire: bytes) -> Reply:
    reader = ReplyReader()
    reader.receive_data(wire)
    event = reader.next_event()
    assert isinstance(event, Reply)
    assert reader.next_event() is NEED_DATA
    return event


POSTFIX = reply_of(
    "mx.example.com",
    "PIPELINING",
    "SIZE 10240000",
    "VRFY",
    "ETRN",
    "STARTTLS",
    "AUTH PLAIN LOGIN",
    "AUTH=PLAIN LOGIN",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
    "DSN",
    "SMTPUTF8",
    "CHUNKING",
)


def test_typical_ehlo_reply_gives_domain_and_every_extension() -> None:
    caps = parse_ehlo(POSTFIX)
    assert caps.domain == "mx.example.com"
    assert caps.greet == ""
    assert caps.problems == ()
    assert caps.extensions == {
        "PIPELINING": (),
        "SIZE": ("10240000",),
        "VRFY": (),
        "ETRN": (),
        "STARTTLS": (),
        "AUTH": ("PLAIN", "LOGIN"),
        "AUTH=": ("PLAIN", "LOGIN"),
        "ENHANCEDSTATUSCODES": (),
        "8BITMIME": (),
        "DSN": (),
        "SMTPUTF8": (),
        "CHUNKING": (),
    }
    assert caps.size_limit == 10240000
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN")
    for keyword in ("pipelining", "StartTLS", "8bitmime", "smtputf8", "chunking", "dsn"):
        assert caps.has(keyword)
    assert not caps.has("BINARYMIME")


def test_first_line_splits_into_domain_and_greeting() -> None:
    caps = parse_ehlo(reply_of("mx.example.com Hello client [192.0.2.1]", "SIZE"))
    assert caps.domain == "mx.example.com"
    assert caps.greet == "Hello client [192.0.2.1]"


def test_single_line_ehlo_reply_has_no_extensions() -> None:
    caps = parse_ehlo(read(b"250 mx.example.com at your service\r\n"))
    assert (caps.domain, caps.greet, caps.extensions, caps.problems) == (
        "mx.example.com",
        "at your service",
        {},
        (),
    )


def test_address_literal_is_accepted_as_the_domain() -> None:
    assert parse_ehlo(reply_of("[192.0.2.1]", "SIZE")).problems == ()


def test_bad_domain_is_reported() -> None:
    caps = parse_ehlo(reply_of("mx_1.example!", "SIZE"))
    assert caps.domain == "mx_1.example!"
    assert caps.problems == ("line 1 starts with 'mx_1.example!', not a domain or address literal",)


def test_missing_domain_is_reported() -> None:
    caps = parse_ehlo(read(b"250 \r\n"))
    assert caps.domain == ""
    assert "does not start with the server's domain" in caps.problems[0]


def test_keywords_are_upper_cased_and_parameters_kept_as_given() -> None:
    caps = parse_ehlo(reply_of("mx", "auth plain Login", "x-Custom-Ext Foo=bar baz", "size"))
    assert caps.extensions["AUTH"] == ("plain", "Login")
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN")
    assert caps.extensions["X-CUSTOM-EXT"] == ("Foo=bar", "baz")
    assert caps.has("x-custom-ext")
    assert caps.problems == ()


def test_old_auth_equals_form_alone_gives_mechanisms() -> None:
    caps = parse_ehlo(reply_of("mx", "AUTH=LOGIN CRAM-MD5"))
    assert caps.extensions == {"AUTH=": ("LOGIN", "CRAM-MD5")}
    assert caps.auth_mechanisms == ("LOGIN", "CRAM-MD5")
    assert not caps.has("AUTH")
    assert caps.problems == ()


def test_auth_mechanisms_merge_both_forms_without_repeats() -> None:
    caps = parse_ehlo(reply_of("mx", "AUTH PLAIN", "AUTH=LOGIN PLAIN"))
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN")


def test_auth_without_mechanisms_is_reported() -> None:
    caps = parse_ehlo(reply_of("mx", "AUTH"))
    assert caps.problems == ("line 2: AUTH lists no mechanisms",)
    assert caps.auth_mechanisms == ()


@pytest.mark.parametrize(
    ("line", "limit"),
    [("SIZE 1000", 1000), ("SIZE 0", 0), ("SIZE", 0), ("SIZE 052", 52)],
)
def test_size_limit(line: str, limit: int) -> None:
    caps = parse_ehlo(reply_of("mx", line))
    assert caps.size_limit == limit
    assert caps.problems == ()


@pytest.mark.parametrize("line", ["SIZE big", "SIZE -1", "SIZE 10 20", "SIZE ١٠"])
def test_invalid_size_parameter_gives_no_limit_and_a_problem(line: str) -> None:
    caps = parse_ehlo(reply_of("mx", line))
    assert caps.has("SIZE")
    assert caps.size_limit is None
    assert caps.problems and all("SIZE" in problem for problem in caps.problems)


def test_size_not_advertised_gives_none() -> None:
    assert parse_ehlo(reply_of("mx", "PIPELINING")).size_limit is None


@pytest.mark.parametrize(
    "keyword",
    ["PIPELINING", "STARTTLS", "8BITMIME", "SMTPUTF8", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES"],
)
def test_parameters_on_parameterless_extensions_are_reported(keyword: str) -> None:
    caps = parse_ehlo(reply_of("mx", f"{keyword} yes"))
    assert caps.extensions[keyword] == ("yes",)
    assert caps.problems == (f"line 2: {keyword} takes no parameters, got 'yes'",)


@pytest.mark.parametrize("head", ["-FOO", "X_FOO", "SIZE=100", "FOO.BAR", "Ünicode"])
def test_bad_keyword_is_reported_and_left_out(head: str) -> None:
    caps = parse_ehlo(reply_of("mx", f"{head} 1", "DSN"))
    assert list(caps.extensions) == ["DSN"]
    assert len(caps.problems) == 1
    assert "is not an ehlo-keyword" in caps.problems[0]
    assert caps.problems[0].startswith("line 2:")


def test_empty_extension_line_is_reported() -> None:
    caps = parse_ehlo(read(b"250-mx\r\n250-\r\n250 DSN\r\n"))
    assert caps.problems == ("line 2 is empty, with no ehlo-keyword",)
    assert caps.has("DSN")


def test_runs_of_spaces_are_reported_but_parsed() -> None:
    caps = parse_ehlo(reply_of("mx", "AUTH  PLAIN LOGIN "))
    assert caps.extensions["AUTH"] == ("PLAIN", "LOGIN")
    assert len(caps.problems) == 1 and "single spaces" in caps.problems[0]


def test_parameter_with_control_characters_is_reported() -> None:
    caps = parse_ehlo(read(b"250-mx\r\n250 X-FOO a\x01b\r\n"))
    assert caps.extensions["X-FOO"] == ("a\x01b",)
    assert "outside 33-126" in caps.problems[0]


def test_keyword_advertised_twice_keeps_the_first() -> None:
    caps = parse_ehlo(reply_of("mx", "SIZE 100", "size 200"))
    assert caps.extensions["SIZE"] == ("100",)
    assert caps.problems == ("line 3: SIZE advertised again (first on line 2); the first is kept",)


def test_error_reply_gives_no_capabilities() -> None:
    caps = parse_ehlo(read(b"502 5.5.1 EHLO not implemented\r\n"))
    assert caps == Capabilities("", "", {}, ("not a 250 EHLO reply (code 502); no extensions",))


def test_reply_without_code_gives_no_capabilities() -> None:
    caps = parse_ehlo(read(b"nonsense\r\n"))
    assert caps.extensions == {}
    assert "no code" in caps.problems[0]


def test_other_2xx_code_is_reported_but_parsed() -> None:
    caps = parse_ehlo(read(b"220-mx\r\n220 DSN\r\n"))
    assert caps.has("DSN")
    assert caps.problems == ("EHLO reply code is 220, not 250",)


def test_reply_with_no_lines_does_not_raise() -> None:
    caps = parse_ehlo(Reply((), None))
    assert caps.domain == "" and caps.problems


def test_250_line_ehlo_reply_is_parsed_in_full() -> None:
    lines = ["mx.example.com greets you"] + [f"X-EXT{n} p{n}" for n in range(1, 250)]
    reply = reply_of(*lines)
    assert len(reply.lines) == 250 and reply.problems == ()
    caps = parse_ehlo(reply)
    assert caps.problems == ()
    assert len(caps.extensions) == 249
    assert caps.extensions["X-EXT249"] == ("p249",)
    assert caps.greet == "greets you"
