"""Property tests for the protocol core: no input makes it raise, chunking never changes the
events, memory and event sizes stay within the caps, and DATA encoding is transparent."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from probe.protocol.ehlo import parse_ehlo
from probe.protocol.encode import EscapeError, decode_escapes, encode_data
from probe.protocol.enhanced import check_enhanced, parse_enhanced
from probe.protocol.reader import (
    NEED_DATA,
    CapExceeded,
    Closed,
    ReaderEvent,
    ReplyReader,
)
from probe.protocol.reply import Reply

FEW = settings(max_examples=150, deadline=None)

# Pieces that make the interesting cases likely: codes, separators, every kind of line end.
_TOKENS = st.sampled_from(
    [
        *(b"250", b"251", b"220", b"354", b"199", b"2500", b"-", b" "),
        *(b"\r\n", b"\r", b"\n", b"\r\r\n", b"OK", b"2.0.0 ", b"5.1.1"),
        *(b"\x00", b"\xff", b"\t", b"AUTH PLAIN", b"x" * 40),
    ]
)
SMTPISH = st.lists(st.one_of(_TOKENS, st.binary(max_size=8)), max_size=40).map(b"".join)
STREAMS = st.one_of(SMTPISH, st.binary(max_size=300))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def feed(
    chunks: list[bytes], eof: bool, max_bytes: int, max_lines: int
) -> tuple[list[ReaderEvent], ReplyReader]:
    reader = ReplyReader(max_reply_bytes=max_bytes, max_reply_lines=max_lines)
    events: list[ReaderEvent] = []

    def drain() -> None:
        if events and isinstance(events[-1], Closed | CapExceeded):
            return  # the reader repeats its final event forever
        for _ in range(10_000):
            event = reader.next_event()
            if event is NEED_DATA:
                return
            events.append(event)
            if isinstance(event, Closed | CapExceeded):
                return
        raise AssertionError("next_event never asked for data")

    for chunk in chunks:
        if not chunk:
            continue  # b"" would mean EOF
        reader.receive_data(chunk)
        drain()
        assert reader.buffered <= max_bytes  # drained: only an incomplete reply is left
    if eof:
        reader.receive_data(b"")
        drain()
    return events, reader


def reply_size(reply: Reply) -> int:
    return sum(len(line.raw) + len(line.ending) for line in reply.lines)


caps = st.tuples(st.integers(1, 120), st.integers(1, 8))
cut_lists = st.lists(st.integers(0, 400), max_size=12)


@FEW
@given(data=STREAMS, cuts=cut_lists, eof=st.booleans(), limits=caps)
def test_reader_never_raises_and_stays_within_caps(
    data: bytes, cuts: list[int], eof: bool, limits: tuple[int, int]
) -> None:
    max_bytes, max_lines = limits
    events, reader = feed(split(data, cuts), eof, max_bytes, max_lines)
    for event in events:
        if isinstance(event, Reply):
            assert 1 <= len(event.lines) <= max_lines
            assert reply_size(event) <= max_bytes
            assert all("\n" not in p.message for p in event.problems)
        elif isinstance(event, Closed):
            assert len(event.partial) <= max_bytes
    finals = [e for e in events if isinstance(e, Closed | CapExceeded)]
    assert len(finals) <= 1 and (not finals or events[-1] is finals[0])
    if eof:
        assert finals, "EOF must end in Closed or CapExceeded"
        assert reader.next_event() == finals[0]


@FEW
@given(data=STREAMS, cuts=cut_lists, eof=st.booleans(), limits=caps)
def test_chunking_does_not_change_the_events(
    data: bytes, cuts: list[int], eof: bool, limits: tuple[int, int]
) -> None:
    whole, _ = feed([data], eof, *limits)
    dripped, _ = feed([data[i : i + 1] for i in range(len(data))], eof, *limits)
    chopped, _ = feed(split(data, cuts), eof, *limits)
    assert dripped == whole
    assert chopped == whole


@FEW
@given(data=STREAMS)
def test_reader_loses_no_bytes(data: bytes) -> None:
    """Without caps in the way, replies plus the partial give back the whole stream."""
    events, _ = feed([data], True, 1 << 20, 1 << 20)
    rebuilt = b""
    for event in events:
        if isinstance(event, Reply):
            rebuilt += b"".join(line.raw + line.ending for line in event.lines)
        else:
            assert isinstance(event, Closed)
            rebuilt += event.partial
    assert rebuilt == data


@FEW
@given(data=STREAMS, advertised=st.booleans(), command=st.sampled_from(["EHLO", "MAIL", "DATA"]))
def test_ehlo_and_enhanced_parsing_never_raise_on_any_reply(
    data: bytes, advertised: bool, command: str
) -> None:
    events, _ = feed([data], True, 1 << 20, 1 << 20)
    for event in events:
        if isinstance(event, Reply):
            caps = parse_ehlo(event)
            assert all("\n" not in problem for problem in caps.problems)
            assert all(key == key.upper() for key in caps.extensions)
            _ = (caps.size_limit, caps.auth_mechanisms)
            for problem in check_enhanced(event, advertised, command):
                assert "\n" not in problem.message
            for line in event.lines:
                parse_enhanced(line.text)


@FEW
@given(
    text=st.one_of(
        st.text(max_size=30),
        st.from_regex(r"[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}[ .a\t]?.{0,5}", fullmatch=True),
    )
)
def test_parse_enhanced_never_raises(text: str) -> None:
    parsed = parse_enhanced(text)
    assert parsed.code is None or parsed.problem is None
    if parsed.code is not None:
        assert text.startswith(parsed.code.text)
        assert parsed.code.klass in (2, 4, 5)
        assert re.fullmatch(r"[245]\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})", parsed.code.text)
    if parsed.problem is not None:
        assert "\n" not in parsed.problem


BODY_PIECES = st.sampled_from([b"\r\n", b"\r", b"\n", b".", b"..", b"\r\n.\r\n", b"x", b" "])
BODIES = st.one_of(
    st.lists(st.one_of(BODY_PIECES, st.binary(max_size=5)), max_size=30).map(b"".join),
    st.binary(max_size=100),
)


def unstuff(wire: bytes) -> bytes:
    assert wire.endswith(b".\r\n")
    content = wire[:-3]
    if not content:
        return b""
    assert content.endswith(b"\r\n")
    lines = content[:-2].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines) + b"\r\n"


@FEW
@given(body=BODIES)
def test_encoded_data_ends_only_at_its_end_and_unstuffs_to_the_body(body: bytes) -> None:
    wire = encode_data(body)
    assert wire.endswith(b".\r\n")
    assert wire == b".\r\n" or wire.find(b"\r\n.\r\n") == len(wire) - 5
    assert not wire.startswith(b".\r\n") or wire == b".\r\n"
    assert b"\r" not in wire.replace(b"\r\n", b"")
    assert b"\n" not in wire.replace(b"\r\n", b"")
    normalised = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    if normalised and not normalised.endswith(b"\r\n"):
        normalised += b"\r\n"
    assert unstuff(wire) == normalised


@FEW
@given(body=st.text(max_size=60))
def test_text_and_bytes_bodies_encode_the_same(body: str) -> None:
    assert encode_data(body) == encode_data(body.encode("utf-8", "surrogateescape"))


def escape(raw: bytes) -> str:
    out = []
    for byte in raw:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


@FEW
@given(raw=st.binary(max_size=60))
def test_escaping_then_decoding_gives_the_bytes_back(raw: bytes) -> None:
    assert decode_escapes(escape(raw)) == raw


@FEW
@given(text=st.text(alphabet=st.sampled_from("\\xrnt0aZ9fé"), max_size=20))
def test_decode_escapes_returns_bytes_or_raises_escape_error(text: str) -> None:
    try:
        result = decode_escapes(text)
    except EscapeError as error:
        assert 0 <= error.offset < len(text)
        assert text[error.offset] == "\\"
        assert text[error.offset :].startswith(error.escape)
    else:
        assert isinstance(result, bytes)
