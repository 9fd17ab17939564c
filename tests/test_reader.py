"""ReplyReader: RFC 5321 §4.2 reply grammar, problems reported (never raised), caps and EOF."""

from __future__ import annotations

import pytest

from probe.protocol.reader import (
    DEFAULT_MAX_REPLY_BYTES,
    DEFAULT_MAX_REPLY_LINES,
    NEED_DATA,
    PROBLEM_KINDS,
    CapExceeded,
    Closed,
    ReaderEvent,
    ReplyReader,
)
from probe.protocol.reply import Reply, Severity, SyntaxProblem


def drain(reader: ReplyReader) -> list[ReaderEvent]:
    """Every event up to NEED_DATA, or up to the first final (Closed / CapExceeded) event."""
    out: list[ReaderEvent] = []
    while True:
        event = reader.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)
        if isinstance(event, Closed | CapExceeded):
            return out


def read_all(data: bytes, eof: bool = False, **caps: int) -> list[ReaderEvent]:
    reader = ReplyReader(**caps)
    reader.receive_data(data)
    if eof:
        reader.receive_data(b"")
    return drain(reader)


def one_reply(data: bytes) -> Reply:
    events = read_all(data)
    assert len(events) == 1, events
    assert isinstance(events[0], Reply)
    return events[0]


def kinds(reply: Reply) -> list[str]:
    return [problem.kind for problem in reply.problems]


def problem(reply: Reply, kind: str) -> SyntaxProblem:
    matches = [p for p in reply.problems if p.kind == kind]
    assert len(matches) == 1, reply.problems
    return matches[0]


# --- well-formed replies ---------------------------------------------------------------------


def test_single_line_reply_has_code_text_and_no_problems() -> None:
    reply = one_reply(b"250 2.0.0 OK\r\n")
    assert reply.code == 250
    assert reply.first_digit == 2
    assert reply.problems == ()
    assert reply.text_lines == ["2.0.0 OK"]
    (line,) = reply.lines
    assert (line.raw, line.code, line.separator, line.ending) == (
        b"250 2.0.0 OK",
        "250",
        " ",
        b"\r\n",
    )


def test_multiline_reply_is_one_event_with_all_lines() -> None:
    reply = one_reply(b"214-Commands:\r\n214-  HELO EHLO\r\n214 End\r\n")
    assert reply.code == 214
    assert reply.text_lines == ["Commands:", "  HELO EHLO", "End"]
    assert [line.is_last for line in reply.lines] == [False, False, True]
    assert reply.problems == ()


def test_consecutive_replies_in_one_chunk_come_out_in_order() -> None:
    events = read_all(b"250 a\r\n250-b\r\n250 c\r\n354 go\r\n")
    assert [e.code for e in events if isinstance(e, Reply)] == [250, 250, 354]


def test_continuation_line_without_text_is_legal() -> None:
    reply = one_reply(b"250-\r\n250 done\r\n")
    assert reply.problems == ()


def test_tab_in_text_is_part_of_textstring() -> None:
    assert one_reply(b"250 a\tb\r\n").problems == ()


def test_incomplete_reply_needs_data() -> None:
    reader = ReplyReader()
    reader.receive_data(b"250-first\r\n250 sec")
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"ond\r\n")
    event = reader.next_event()
    assert isinstance(event, Reply)
    assert event.text_lines == ["first", "second"]
    assert reader.next_event() is NEED_DATA


# --- code-only lines ---------------------------------------------------------------------------


def test_code_alone_is_accepted_with_a_code_only_warning() -> None:
    reply = one_reply(b"250\r\n")
    assert reply.code == 250
    assert reply.lines[0].separator == ""
    assert kinds(reply) == ["code-only"]
    assert problem(reply, "code-only").severity is Severity.WARN


def test_code_with_trailing_space_and_no_text_is_code_only() -> None:
    reply = one_reply(b"250 \r\n")
    assert reply.code == 250
    assert reply.lines[0].text == ""
    assert kinds(reply) == ["code-only"]


def test_empty_auth_challenge_334_space_is_not_code_only() -> None:
    # RFC 4954 §4 defines "334 " as the empty challenge.
    assert one_reply(b"334 \r\n").problems == ()


def test_bare_last_line_after_lines_with_text_is_not_code_only() -> None:
    # Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
    assert one_reply(b"220-mx.example ESMTP\r\n220\r\n").problems == ()


# --- each violation ----------------------------------------------------------------------------


def test_mixed_codes_in_multiline_reply_are_reported() -> None:
    reply = one_reply(b"250-mx.example\r\n251-PIPELINING\r\n250 SIZE\r\n")
    found = problem(reply, "mixed-codes")
    assert found.severity is Severity.FAIL
    assert found.message == "line 2 has code 251, the reply began with 250"
    assert found.source == "RFC 5321 §4.2.1"
    assert found.line == 2
    assert reply.code == 250  # taken from the last line


def test_repeated_problem_is_reported_once_with_a_count() -> None:
    reply = one_reply(b"250-a\r\n251-b\r\n252-c\r\n250 d\r\n")
    found = problem(reply, "mixed-codes")
    assert found.line == 2
    assert found.message.endswith("; also on 1 more line")


def test_missing_separator_after_code_is_reported() -> None:
    reply = one_reply(b"250OK\r\n")
    assert reply.code == 250
    assert reply.lines[0].separator == "O"
    found = problem(reply, "no-separator")
    assert found.severity is Severity.FAIL
    assert "'O' after code 250" in found.message
    assert found.source == "RFC 5321 §4.2"


@pytest.mark.parametrize("code", [b"199", b"260", b"600", b"000", b"279"])
def test_code_outside_reply_code_range_is_bad_code(code: bytes) -> None:
    reply = one_reply(code + b" text\r\n")
    found = problem(reply, "bad-code")
    assert found.severity is Severity.FAIL
    assert code.decode() in found.message
    assert reply.code == int(code)


def test_four_digit_code_is_bad_code() -> None:
    reply = one_reply(b"2500 OK\r\n")
    found = problem(reply, "bad-code")
    assert "4 digits '2500'" in found.message
    assert "no-separator" not in kinds(reply)


def test_line_without_a_code_ends_its_reply_as_bad_code() -> None:
    events = read_all(b"250-first\r\nabc\r\n250 next\r\n")
    assert len(events) == 2
    first, second = events
    assert isinstance(first, Reply) and isinstance(second, Reply)
    assert len(first.lines) == 2
    assert first.code == 250  # the last line that carried a code
    message = problem(first, "bad-code").message
    assert "does not start with a three-digit reply code: 'abc'" in message
    assert second.text_lines == ["next"] and second.problems == ()


def test_reply_of_garbage_only_has_no_code() -> None:
    reply = one_reply(b"hello\r\n")
    assert reply.code is None and reply.first_digit is None
    assert kinds(reply) == ["bad-code"]


def test_empty_line_is_bad_code() -> None:
    reply = one_reply(b"\r\n")
    assert "empty" in problem(reply, "bad-code").message


def test_bare_lf_line_ending_is_reported() -> None:
    reply = one_reply(b"250-a\n250 b\r\n")
    assert reply.text_lines == ["a", "b"]
    assert reply.lines[0].ending == b"\n"
    found = problem(reply, "bare-lf")
    assert (found.line, found.severity, found.source) == (1, Severity.FAIL, "RFC 5321 §2.3.8")


def test_bare_cr_line_ending_is_reported() -> None:
    reply = one_reply(b"250-a\r250 b\r\n")
    assert reply.text_lines == ["a", "b"]
    assert reply.lines[0].ending == b"\r"
    assert problem(reply, "bare-cr").line == 1


def test_cr_at_end_of_buffer_waits_for_the_next_byte() -> None:
    reader = ReplyReader()
    reader.receive_data(b"250 a\r")
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"\n")
    event = reader.next_event()
    assert isinstance(event, Reply)
    assert event.lines[0].ending == b"\r\n" and event.problems == ()


def test_cr_before_eof_is_a_bare_cr() -> None:
    events = read_all(b"250 a\r", eof=True)
    assert isinstance(events[0], Reply)
    assert kinds(events[0]) == ["bare-cr"]
    assert events[1] == Closed(b"")


@pytest.mark.parametrize(
    ("octet", "hex_"), [(b"\x00", "0x00"), (b"\xe9", "0xe9"), (b"\x7f", "0x7f"), (b"\x1b", "0x1b")]
)
def test_octets_outside_textstring_are_bad_char(octet: bytes, hex_: str) -> None:
    reply = one_reply(b"250 ab" + octet + b"c\r\n")
    found = problem(reply, "bad-char")
    assert found.severity is Severity.FAIL
    assert f"first {hex_} at offset 6" in found.message
    assert reply.display_lines == [f"250 ab\\x{octet[0]:02x}c"]


def test_bad_char_message_counts_the_octets() -> None:
    reply = one_reply("250 café crème\r\n".encode())
    assert "4 octets outside HT and 32-126" in problem(reply, "bad-char").message
    assert reply.text_lines == ["café crème"]


def test_line_over_512_octets_is_reported() -> None:
    ok = b"250 " + b"x" * (512 - 6) + b"\r\n"
    assert len(ok) == 512
    assert one_reply(ok).problems == ()
    reply = one_reply(b"250 " + b"x" * (512 - 5) + b"\r\n")
    found = problem(reply, "line-too-long")
    assert found.message == "line 1 is 513 octets with CRLF, over the 512 limit"
    assert found.source == "RFC 5321 §4.5.3.1.5"


def test_several_problems_on_one_line_are_all_reported() -> None:
    reply = one_reply(b"199X\x00\n")
    assert set(kinds(reply)) == {"bad-code", "no-separator", "bad-char", "bare-lf"}


def test_every_problem_kind_has_a_severity_and_source() -> None:
    assert set(PROBLEM_KINDS) == {
        "mixed-codes",
        "no-separator",
        "bad-code",
        "bad-char",
        "line-too-long",
        "bare-lf",
        "bare-cr",
        "no-line-end",
        "code-only",
    }
    for severity, source in PROBLEM_KINDS.values():
        assert isinstance(severity, Severity)
        assert source.startswith("RFC ")
    assert PROBLEM_KINDS["code-only"][0] is Severity.WARN


def test_problem_messages_are_one_line() -> None:
    for event in read_all(b"\n25\r\x00\n250-\r\r\n250 \x1b\x85\n", eof=True):
        if isinstance(event, Reply):
            assert event.problems
            assert all("\n" not in p.message and "\r" not in p.message for p in event.problems)


# --- caps -----------------------------------------------------------------------------------


def test_default_caps() -> None:
    reader = ReplyReader()
    assert (reader.max_reply_bytes, reader.max_reply_lines) == (65536, 1000)
    assert (DEFAULT_MAX_REPLY_BYTES, DEFAULT_MAX_REPLY_LINES) == (65536, 1000)


def test_reply_over_the_byte_cap_stops_the_reader() -> None:
    reader = ReplyReader(max_reply_bytes=100)
    reader.receive_data(b"250-" + b"x" * 60 + b"\r\n" + b"250-" + b"y" * 60 + b"\r\n250 z\r\n")
    event = reader.next_event()
    assert isinstance(event, CapExceeded)
    assert (event.what, event.limit) == ("bytes", 100)
    assert "100 bytes" in event.message
    reader.receive_data(b"250 more\r\n")
    assert reader.next_event() == event
    reader.receive_data(b"")
    assert reader.next_event() == event
    assert reader.buffered == 0


def test_reply_exactly_at_the_byte_cap_is_accepted() -> None:
    data = b"250 " + b"x" * 10 + b"\r\n"
    events = read_all(data, max_reply_bytes=len(data))
    assert isinstance(events[0], Reply)
    events = read_all(data, max_reply_bytes=len(data) - 1)
    assert isinstance(events[0], CapExceeded)


def test_reply_over_the_line_cap_stops_the_reader() -> None:
    data = b"".join(b"250-line %d\r\n" % n for n in range(5)) + b"250 end\r\n"
    events = read_all(data, max_reply_lines=5)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, CapExceeded)
    assert (event.what, event.limit) == ("lines", 5)


def test_reply_with_exactly_the_line_cap_is_accepted() -> None:
    data = b"".join(b"250-line %d\r\n" % n for n in range(4)) + b"250 end\r\n"
    reply = read_all(data, max_reply_lines=5)[0]
    assert isinstance(reply, Reply) and len(reply.lines) == 5


def test_default_line_cap_trips_after_1000_lines() -> None:
    events = read_all(b"250-x\r\n" * 1001 + b"250 y\r\n")
    assert isinstance(events[0], CapExceeded) and events[0].what == "lines"
    reply = read_all(b"250-x\r\n" * 999 + b"250 y\r\n")[0]
    assert isinstance(reply, Reply) and len(reply.lines) == 1000


def test_endless_line_without_line_end_keeps_memory_bounded() -> None:
    reader = ReplyReader(max_reply_bytes=1000)
    chunk = b"x" * 100
    reader.receive_data(b"250 ")
    for _ in range(9):
        reader.receive_data(chunk)
        assert reader.next_event() is NEED_DATA
        assert reader.buffered <= 1000 + len(chunk)
    reader.receive_data(chunk)
    event = reader.next_event()
    assert isinstance(event, CapExceeded) and event.what == "bytes"
    for _ in range(100):
        reader.receive_data(chunk)
        assert reader.next_event() == event
    assert reader.buffered == 0
    assert len(reader._buf) == 0  # the memory bound is the point


MAXIMAL_LINES = {
    "five-byte lines": b"250-\n",  # the shortest continuation line: code, hyphen, bare LF
    "a bad octet on each": b"250-\x00\r\n",  # a problem on every line
    "non-UTF-8 text": b"250-" + b"\xe9" * 60 + b"\r\n",  # decodes to twice its size
}


@pytest.mark.parametrize("line", MAXIMAL_LINES.values(), ids=MAXIMAL_LINES.keys())
def test_a_maximal_reply_costs_a_small_multiple_of_the_byte_cap(line: bytes) -> None:
    # What the reader holds, counted by tracemalloc, not only the bytes it keeps: 1,000 tiny
    # lines once cost 34 times their size (a ReplyLine and its strings for each).
    import gc
    import tracemalloc

    data = line * (DEFAULT_MAX_REPLY_LINES - 1) + b"250 end\r\n"
    cap = len(data)  # the reply fills both caps
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        reader = ReplyReader(max_reply_bytes=cap)
        events = []
        for start in range(0, len(data), 4096):
            reader.receive_data(data[start : start + 4096])
            events += drain(reader)
        peak = tracemalloc.get_traced_memory()[1] - base
        del reader
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    (reply,) = events
    assert isinstance(reply, Reply) and len(reply.lines) == DEFAULT_MAX_REPLY_LINES
    assert held <= 2 * cap + 2048, (held, cap)  # the reply: its bytes, 4 bytes a line
    assert peak <= 4 * cap + 8192, (peak, cap)  # and while reading: the buffer, one chunk


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReplyReader(max_reply_bytes=0)
    with pytest.raises(ValueError):
        ReplyReader(max_reply_lines=0)


# --- EOF ------------------------------------------------------------------------------------


def test_eof_with_nothing_buffered_is_closed_with_no_partial() -> None:
    assert read_all(b"", eof=True) == [Closed(b"")]


def test_complete_reply_is_returned_before_closed() -> None:
    assert [type(e) for e in read_all(b"221 bye\r\n", eof=True)] == [Reply, Closed]


def test_eof_mid_reply_gives_closed_with_the_partial_bytes() -> None:
    events = read_all(b"250 ok\r\n250-first\r\n250-sec", eof=True)
    assert len(events) == 2
    assert isinstance(events[0], Reply)
    assert events[1] == Closed(b"250-first\r\n250-sec")


def test_eof_after_a_continuation_line_is_partial() -> None:
    assert read_all(b"250-first\r\n", eof=True) == [Closed(b"250-first\r\n")]


def test_eof_inside_a_last_line_completes_the_reply_with_no_line_end() -> None:
    events = read_all(b"250-a\r\n250 bye", eof=True)
    reply = events[0]
    assert isinstance(reply, Reply)
    assert reply.text_lines == ["a", "bye"]
    assert reply.lines[-1].ending == b""
    assert kinds(reply) == ["no-line-end"]
    assert events[1] == Closed(b"")


def test_eof_inside_a_line_without_code_is_partial() -> None:
    assert read_all(b"25", eof=True) == [Closed(b"25")]


def test_closed_repeats_and_later_data_is_ignored() -> None:
    reader = ReplyReader()
    reader.receive_data(b"")
    assert reader.next_event() == Closed(b"")
    reader.receive_data(b"250 late\r\n")
    assert reader.next_event() == Closed(b"")
    assert reader.buffered == 0


# --- buffered -------------------------------------------------------------------------------


def test_buffered_counts_bytes_not_yet_returned() -> None:
    reader = ReplyReader()
    assert reader.buffered == 0
    reader.receive_data(b"250-a\r\n250 b\r\n220 x")
    assert reader.buffered == 19
    assert isinstance(reader.next_event(), Reply)
    assert reader.buffered == 5
    assert reader.next_event() is NEED_DATA
    assert reader.buffered == 5  # a partial reply is still unreturned
    reader.receive_data(b"\r\n")
    assert isinstance(reader.next_event(), Reply)
    assert reader.buffered == 0


# --- chunking -------------------------------------------------------------------------------

SAMPLE = (
    b"220-mx.example ESMTP\r\n220 ready\r\n"
    b"250-mx.example\r\n250-SIZE 1000\n250 PIPELINING\r\n"
    b"250OK\r\n199 weird\r\nnope\r\n"
    b"354 go\r250\r\n334 \r\n"
    b"550-5.1.1 a\r\n551 5.1.1 b\r\n221 bye"
)


def test_byte_by_byte_drip_feed_gives_the_same_events_as_one_chunk() -> None:
    whole = read_all(SAMPLE, eof=True)
    reader = ReplyReader()
    dripped: list[ReaderEvent] = []
    for index in range(len(SAMPLE)):
        reader.receive_data(SAMPLE[index : index + 1])
        dripped += drain(reader)
    reader.receive_data(b"")
    dripped += drain(reader)
    assert dripped == whole
    assert len(whole) == 11
    assert whole[-1] == Closed(b"")


def test_drip_fed_endless_line_hits_the_byte_cap() -> None:
    # Speed of this path is measured in bench/bench_reader.py, not asserted here.
    reader = ReplyReader()
    reader.receive_data(b"250 ")
    for _ in range(DEFAULT_MAX_REPLY_BYTES - 4):
        reader.receive_data(b"x")
        assert reader.next_event() is NEED_DATA
    reader.receive_data(b"x")
    assert isinstance(reader.next_event(), CapExceeded)


def test_drip_fed_long_reply_gives_one_reply() -> None:
    data = b"".join(b"250-%d\r\n" % n for n in range(999)) + b"250 end\r\n"
    reader = ReplyReader()
    for index in range(len(data)):
        reader.receive_data(data[index : index + 1])
        events = drain(reader)
    assert len(events) == 1 and isinstance(events[0], Reply) and len(events[0].lines) == 1000
