"""What the client sends: command lines, DATA bodies (RFC 5321 §4.5.2), raw-mode escapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.protocol.encode import EscapeError, decode_escapes, encode_command, encode_data

# --- encode_command ---------------------------------------------------------------------------


def test_command_gets_crlf() -> None:
    assert encode_command("MAIL FROM:<a@example.com>") == b"MAIL FROM:<a@example.com>\r\n"


def test_non_ascii_command_is_utf8() -> None:
    assert encode_command("RCPT TO:<josé@example.com>") == "RCPT TO:<josé@example.com>\r\n".encode()


def test_empty_command_is_just_crlf() -> None:
    assert encode_command("") == b"\r\n"


# --- encode_data ------------------------------------------------------------------------------


def test_body_gets_terminator() -> None:
    assert encode_data("Subject: hi\r\n\r\nbody\r\n") == b"Subject: hi\r\n\r\nbody\r\n.\r\n"


def test_final_crlf_is_added_when_missing() -> None:
    assert encode_data("body") == b"body\r\n.\r\n"


def test_empty_body_is_only_the_terminator() -> None:
    assert encode_data("") == b".\r\n"
    assert encode_data(b"") == b".\r\n"


@pytest.mark.parametrize(
    ("body", "wire"),
    [
        ("a\nb\n", b"a\r\nb\r\n.\r\n"),
        ("a\rb\r", b"a\r\nb\r\n.\r\n"),
        ("a\r\nb\nc\rd", b"a\r\nb\r\nc\r\nd\r\n.\r\n"),
        ("a\n\r\nb", b"a\r\n\r\nb\r\n.\r\n"),  # LF then CRLF: two line ends
        ("a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),  # CR then CRLF: two line ends
        ("\n", b"\r\n.\r\n"),
    ],
)
def test_bare_lf_and_bare_cr_become_crlf(body: str, wire: bytes) -> None:
    assert encode_data(body) == wire


@pytest.mark.parametrize(
    ("body", "wire"),
    [
        (".", b"..\r\n.\r\n"),
        (".\r\n", b"..\r\n.\r\n"),
        ("a\r\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n"),
        ("..two", b"...two\r\n.\r\n"),
        ("a\n.hidden\n", b"a\r\n..hidden\r\n.\r\n"),
        ("a\r.x", b"a\r\n..x\r\n.\r\n"),
        ("a.b\r\n x.", b"a.b\r\n x.\r\n.\r\n"),  # dots not at a line start stay single
    ],
)
def test_lines_starting_with_a_dot_are_dot_stuffed(body: str, wire: bytes) -> None:
    assert encode_data(body) == wire


def test_bytes_body_is_treated_like_text() -> None:
    assert encode_data(b"\xff.\n.x\rend") == b"\xff.\r\n..x\r\nend\r\n.\r\n"
    assert encode_data(bytearray(b".")) == b"..\r\n.\r\n"


def test_non_ascii_text_body_is_utf8() -> None:
    assert encode_data("héllo") == "héllo\r\n.\r\n".encode()


# --- decode_escapes ---------------------------------------------------------------------------


def test_plain_text_is_utf8() -> None:
    assert decode_escapes("EHLO é") == "EHLO é".encode()


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("\\r", b"\r"),
        ("\\n", b"\n"),
        ("\\t", b"\t"),
        ("\\0", b"\x00"),
        ("\\\\", b"\\"),
        ("\\x41", b"A"),
        ("\\xff\\xFe", b"\xff\xfe"),
        ("\\012", b"\x0012"),  # \0 is one NUL whatever follows
        ("MAIL FROM:<>\\r\\n", b"MAIL FROM:<>\r\n"),
        ("\\\\n", b"\\n"),
    ],
)
def test_escapes_decode(text: str, raw: bytes) -> None:
    assert decode_escapes(text) == raw


@pytest.mark.parametrize(
    ("text", "offset", "escape"),
    [
        ("abc\\q", 3, "\\q"),
        ("\\a", 0, "\\a"),
        ("ok\\x4", 2, "\\x4"),
        ("ok\\xg0", 2, "\\xg0"),
        ("ok\\x", 2, "\\x"),
        ("end\\", 3, "\\"),
        ("é\\u00e9", 1, "\\u"),
    ],
)
def test_bad_escape_names_offset_and_escape(text: str, offset: int, escape: str) -> None:
    with pytest.raises(EscapeError) as caught:
        decode_escapes(text)
    assert caught.value.offset == offset
    assert caught.value.escape == escape
    message = str(caught.value)
    assert f"offset {offset}" in message
    assert escape in message
    assert isinstance(caught.value, ValueError)


def test_bad_escape_message_stays_on_one_line() -> None:
    with pytest.raises(EscapeError) as caught:
        decode_escapes("a\\\nb")
    assert "\n" not in str(caught.value)


# --- DataEncoder: encode_data a chunk at a time (message files of any size) ---------------------

_PIECES = [b"\r", b"\n", b".", b"a", b"\xe9", b"\r\n", b"\r\n.\r\n", b"x" * 40]


@given(
    st.lists(st.sampled_from(_PIECES), max_size=40),
    st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=40),
)
def test_the_data_encoder_sends_what_encode_data_sends_however_it_is_chunked(pieces, cuts):
    from probe.protocol.encode import DataEncoder

    body = b"".join(pieces)
    encoder, out, at = DataEncoder(), b"", 0
    for cut in cuts * (len(body) + 1):
        if at >= len(body):
            break
        out += encoder.feed(body[at : at + cut])
        at += cut
    out += encoder.feed(body[at:]) + encoder.close()
    whole = encode_data(body)
    assert out == whole
    assert encoder.size == len(whole)
    assert encoder.longest_line == max(len(line) for line in whole[:-3].split(b"\r\n"))
    assert encoder.eight_bit == (b"\xe9" in body)
    crlf = body.count(b"\r\n")
    assert (encoder.bare_lf, encoder.bare_cr) == (
        body.count(b"\n") - crlf,
        body.count(b"\r") - crlf,
    )
