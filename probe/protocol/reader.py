"""Sans-IO reply reader: bytes in, `Reply` events out (h11 style).

Usage:
    reader = ReplyReader()
    reader.receive_data(chunk)        # b"" means the peer closed the stream
    event = reader.next_event()       # Reply | NEED_DATA | Closed | CapExceeded

Call `next_event` until it returns NEED_DATA after each `receive_data`; the memory bound below
assumes the caller drains the reader between chunks.

Rules (RFC 5321 §4.2, §4.2.1, §4.5.3.1.5, §2.3.8):
- A line ends at CRLF; a bare LF or a bare CR (CR followed by anything but LF) also ends a line and
  is reported ("bare-lf" / "bare-cr", fail, RFC 5321 §2.3.8). A CR as the last byte of the buffer
  waits for more data before deciding.
- Continuation lines are `code-text`; the last is `code SP text`, or the code alone (`250` CRLF is
  legal to receive; reported as "code-only", warn, RFC 5321 §4.2 "senders SHOULD NOT send bare
  codes").
  "code-only" is reported when no line of the reply carries any text ("250", "250 ", "250-" then
  "250"); "334 " is exempt because RFC 4954 §4 defines it as an empty AUTH challenge.
- Problems reported, never raised: "mixed-codes" (lines of one reply with different codes, fail,
  §4.2.1), "no-separator" (`250OK`, fail, §4.2), "bad-code" (not [2-5][0-5][0-9], or not three
  digits - including a fourth digit as in `2500 OK`; fail, §4.2 / §4.3.2), "bad-char" (octets
  outside textstring: not HT and not 32-126, fail, §4.2 textstring), "line-too-long" (line over 512
  octets including code and CRLF, fail, §4.5.3.1.5), "no-line-end" (the stream ended inside the last
  line of a reply, which is still returned; fail, §2.3.8).
- Each kind is reported once per reply, on the first line that has it; the message counts the
  other lines with the same fault (`collapse_problems`).
- A line with no parsable code ends the reply it is in (the reply is reported with "bad-code"), so
  a garbage line never swallows the rest of the stream.
- Caps: a reply (all its lines) over `max_reply_bytes` (default 65,536) or `max_reply_lines`
  (default 1,000) yields CapExceeded and the reader stops (no further events but CapExceeded);
  buffered memory never exceeds max_reply_bytes plus one received chunk. Parsed lines are kept
  packed (4 bytes a line besides their bytes, see `Reply`), so a reply costs at most about twice
  the byte cap held, and four times while it is read, however short its lines. The lines cap
  trips as soon as line `max_reply_lines` is a continuation line (the reply is then bound to
  exceed it).
- After EOF: a complete reply still buffered is returned first. A final line cut off by EOF that
  carries a three-digit code and is not a continuation completes its reply (with "no-line-end",
  `ReplyLine.ending == b""`). Then Closed(partial=...) with the bytes of any incomplete reply
  (bounded by the byte cap); after that every call returns the same Closed.
- The events do not depend on how the stream was split into chunks (NEED_DATA aside).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable
from typing import Final

from probe.protocol.reply import (
    _CODES,
    ProblemTally,
    Reply,
    ReplyLine,
    Severity,
    SyntaxProblem,
    parse_line,
    printable,
)
from probe.record import record

DEFAULT_MAX_REPLY_BYTES: Final = 64 * 1024
DEFAULT_MAX_REPLY_LINES: Final = 1000
MAX_LINE_OCTETS: Final = 512  # RFC 5321 §4.5.3.1.5, including code and CRLF

# kind -> (severity, source). Every SyntaxProblem the reader makes has one of these kinds.
PROBLEM_KINDS: Final[dict[str, tuple[Severity, str]]] = {
    "mixed-codes": (Severity.FAIL, "RFC 5321 §4.2.1"),
    "no-separator": (Severity.FAIL, "RFC 5321 §4.2"),
    "bad-code": (Severity.FAIL, "RFC 5321 §4.2, §4.3.2"),
    "bad-char": (Severity.FAIL, "RFC 5321 §4.2 (textstring)"),
    "line-too-long": (Severity.FAIL, "RFC 5321 §4.5.3.1.5"),
    "bare-lf": (Severity.FAIL, "RFC 5321 §2.3.8"),
    "bare-cr": (Severity.FAIL, "RFC 5321 §2.3.8"),
    "no-line-end": (Severity.FAIL, "RFC 5321 §2.3.8"),
    "code-only": (Severity.WARN, "RFC 5321 §4.2"),
}

_VALID_CODE = re.compile(rb"[2-5][0-5][0-9]")
_LINE_END = re.compile(rb"[\r\n]")
_NOT_TEXTSTRING = re.compile(rb"[^\t\x20-\x7e]")
_TEXTSTRING_OCTETS: Final = bytes([0x09, *range(0x20, 0x7F)])
_SNIPPET = 40  # octets of a bad line quoted in a message


class NeedData:
    """Sentinel: no complete reply yet; feed more bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@record(frozen=True, slots=True)
class Closed:
    """The peer closed the stream. `partial` holds the bytes of an incomplete reply, if any."""

    partial: bytes = b""


@record(frozen=True, slots=True)
class CapExceeded:
    """A reply grew past a cap; the session must end with an error verdict."""

    what: str  # "bytes" or "lines"
    limit: int
    message: str


ReaderEvent = Reply | NeedData | Closed | CapExceeded


def _problem(kind: str, message: str, line: int) -> SyntaxProblem:
    severity, source = PROBLEM_KINDS[kind]
    return SyntaxProblem(kind, severity, message, source, line)


def line_problems(line: ReplyLine, number: int, first_code: str | None) -> list[SyntaxProblem]:
    """Problems that one line shows on its own (and against the reply's first code)."""
    found: list[SyntaxProblem] = []
    raw = line.raw
    if line.code is None:
        if raw:
            seen = f"line {number} does not start with a three-digit reply code: "
            seen += f"'{printable(raw, _SNIPPET)}'"
        else:
            seen = f"line {number} is empty, with no reply code"
        found.append(_problem("bad-code", seen, number))
    elif line.separator.isdigit() and line.separator.isascii():
        digits = re.match(rb"[0-9]+", raw)
        assert digits is not None
        found.append(
            _problem(
                "bad-code",
                f"line {number} starts with {len(digits.group())} digits "
                f"'{printable(digits.group(), 10)}'; a reply code has exactly three",
                number,
            )
        )
    else:
        if not _VALID_CODE.fullmatch(raw[:3]):
            found.append(
                _problem(
                    "bad-code",
                    f"line {number} has code {line.code}, outside 2xx-5xx with second digit 0-5",
                    number,
                )
            )
        if line.separator not in ("-", " ", ""):
            found.append(
                _problem(
                    "no-separator",
                    f"line {number} has '{printable(raw[3:4])}' after code {line.code}, "
                    "not a space or a hyphen",
                    number,
                )
            )
    if first_code is not None and line.code is not None and line.code != first_code:
        found.append(
            _problem(
                "mixed-codes",
                f"line {number} has code {line.code}, the reply began with {first_code}",
                number,
            )
        )
    bad = _NOT_TEXTSTRING.search(raw)
    if bad is not None:
        count = len(raw.translate(None, _TEXTSTRING_OCTETS))
        octets = "octet" if count == 1 else "octets"
        found.append(
            _problem(
                "bad-char",
                f"line {number} has {count} {octets} outside HT and 32-126, "
                f"first 0x{raw[bad.start()]:02x} at offset {bad.start()}",
                number,
            )
        )
    if len(raw) + 2 > MAX_LINE_OCTETS:
        found.append(
            _problem(
                "line-too-long",
                f"line {number} is {len(raw) + 2} octets with CRLF, over the {MAX_LINE_OCTETS} "
                "limit",
                number,
            )
        )
    if line.ending == b"\n":
        found.append(_problem("bare-lf", f"line {number} ends in a bare LF, not CRLF", number))
    elif line.ending == b"\r":
        found.append(_problem("bare-cr", f"line {number} ends in a bare CR, not CRLF", number))
    elif line.ending == b"":
        found.append(
            _problem(
                "no-line-end",
                f"the stream ended inside line {number}, which has no CRLF",
                number,
            )
        )
    return found


def build_reply(lines: list[ReplyLine], problems: list[SyntaxProblem]) -> Reply:
    """A Reply from its lines and their line problems, adding the reply-level checks."""
    pending = _Pending()
    for line in lines:
        pending.add(line, (), len(line.raw) + len(line.ending))
    for problem in problems:
        pending.tally.add(problem)
    return pending.reply(b"".join(line.raw + line.ending for line in lines))


def _bare(line: ReplyLine) -> bool:
    """A line with a code and no text ("250", "250 ", "250-")."""
    return line.code is not None and line.text == "" and line.separator in ("-", " ", "")


class _Pending:
    """The reply being read, packed: where each line ends (its bytes stay in the reader's buffer),
    the first problem of each kind and how many more, and what the reply-level checks need. It
    costs 4 bytes a line, where a list of ReplyLine objects cost about 170."""

    def __init__(self) -> None:
        self.ends = array("I")  # offset of each line's end (after its ending), from the first
        self.tally = ProblemTally()
        self.first_code: str | None = None
        self.code: int | None = None  # of the last line that has one
        self.bare = True  # every line so far is a bare code
        self.last: ReplyLine | None = None

    def add(self, line: ReplyLine, problems: Iterable[SyntaxProblem], size: int) -> None:
        """Record a line of `size` octets (ending included) and the problems it showed."""
        self.ends.append((self.ends[-1] if self.ends else 0) + size)
        for problem in problems:
            self.tally.add(problem)
        if len(self.ends) == 1:
            self.first_code = line.code
        if line.code is not None:
            self.code = int(line.code)
        self.bare = self.bare and _bare(line)
        self.last = line

    def reply(self, data: bytes) -> Reply:
        if self.bare:  # every line a bare code: `last` is set (a clean line is never bare)
            last = self.last
            assert last is not None
            if not (last.code == "334" and last.separator == " "):
                self.tally.add(
                    _problem(
                        "code-only",
                        f"reply {last.code} has no text, only the code (bare code)",
                        len(self.ends),
                    )
                )
        tally = self.tally
        problems = tally.problems() if tally.first else ()
        return Reply.packed(data, self.ends, self.code, problems)


# A line with nothing for `line_problems` to report, once it ends in CRLF and fits in
# MAX_LINE_OCTETS: a valid code, a space or a hyphen, then text (not empty: an empty one may make
# the reply a bare code) of HT and 32-126 only. Most lines are such; they are added to the reply
# without a ReplyLine (their reply makes its lines when asked).
_CLEAN = re.compile(rb"([2-5][0-5][0-9])[ -][\t\x20-\x7e]+")
_CODE_INTS = {code: int(code) for code in (f"{n:03d}" for n in range(1000))}
_COPY_SLICE = 4096  # below this many bytes a slice copies faster than a memoryview


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    """`bytes(buf[start:end])` with one copy, not two (a slice of a bytearray is a copy), for
    large spans; a small one is sliced (cheaper than a memoryview at that size)."""
    if end - start < _COPY_SLICE:
        return bytes(buf[start:end])
    with memoryview(buf) as view:
        return bytes(view[start:end])


class ReplyReader:
    def __init__(
        self,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_reply_lines: int = DEFAULT_MAX_REPLY_LINES,
    ) -> None:
        if max_reply_bytes < 1 or max_reply_lines < 1:
            raise ValueError("reply caps must be at least 1")
        self.max_reply_bytes = max_reply_bytes
        self.max_reply_lines = max_reply_lines
        # Buffer logic.
        #
        # Goals: (1) bytes in, events out, whatever the chunking - the same stream gives the same
        # events fed whole or one byte at a time; (2) memory stays bounded by the byte cap plus
        # one received chunk, even for an endless line with no line ending; (3) linear time.
        #
        # Worst cases: a server that drips an endless line one byte at a time (naive code rescans
        # the whole buffer for a line end on every byte: O(n^2)); a single chunk holding a
        # 1,000-line reply (naive code deletes each line from the front of the buffer: O(n^2)).
        #
        # Plan: `_buf[_pos:]` holds the bytes not yet parsed into lines; the lines already parsed
        # for the reply in progress are `_buf[_start:_pos]`, and `_pending` keeps where each ends
        # (4 bytes a line: parsed lines are not kept as objects, whose strings cost about 170
        # bytes a line, 34 times a five-byte line). `_scan` is where the search for the next
        # line end resumes, so a dripped byte is looked at once. Parsed lines only advance
        # `_pos`; the prefix before the reply in progress is cut off once per `receive_data`.
        # A line end is only searched for within what the byte cap still allows for this reply
        # (`_room()`); more buffered bytes than that without a line end means the cap is
        # exceeded, so the decision never depends on chunk boundaries, and the reader stops and
        # drops its buffer. A CR as the last buffered byte waits for the next byte (or EOF).
        # Memory: the buffer (at most the byte cap plus one chunk), 4 bytes a line, and, as a
        # reply completes, its bytes copied once into the Reply.
        self._buf = bytearray()
        self._start = 0
        self._pos = 0
        self._scan = 0
        self._pending = _Pending()
        self._eof = False
        self._final: Closed | CapExceeded | None = None

    def receive_data(self, data: bytes) -> None:
        """Feed bytes; b"" marks end of stream. Data after EOF or after CapExceeded is dropped."""
        if self._eof or isinstance(self._final, CapExceeded):
            return
        if not data:
            self._eof = True
            return
        if self._start:
            del self._buf[: self._start]
            self._pos -= self._start
            self._scan -= self._start
            self._start = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned in an event (used to spot unsolicited replies)."""
        if self._final is not None:
            return 0
        return len(self._buf) - self._start

    @property
    def at_eof(self) -> bool:
        """The peer closed the stream (what was buffered before may still hold replies)."""
        return self._eof

    def _room(self) -> int:
        """How many more octets the reply in progress may take before it exceeds the byte cap."""
        return self.max_reply_bytes - (self._pos - self._start)

    def _stop(self, event: Closed | CapExceeded) -> Closed | CapExceeded:
        self._final = event
        self._buf = bytearray()
        self._start = self._pos = self._scan = 0
        self._pending = _Pending()
        return event

    def _exceeded_bytes(self) -> CapExceeded:
        return CapExceeded(
            "bytes",
            self.max_reply_bytes,
            f"reply grew past {self.max_reply_bytes} bytes after {len(self._pending.ends)} "
            "complete lines without ending",
        )

    def _add_line(self, line: ReplyLine, size: int) -> Reply | CapExceeded | None:
        """Record a parsed line (its bytes end at `_pos`); return the finished reply, a cap
        event, or None to go on."""
        pending = self._pending
        number = len(pending.ends) + 1
        pending.add(line, line_problems(line, number, pending.first_code), size)
        if line.code is None or line.is_last:
            reply = pending.reply(_copy(self._buf, self._start, self._pos))
            self._pending = _Pending()
            self._start = self._pos
            return reply
        if number >= self.max_reply_lines:
            return self._too_many_lines(number)
        return None

    def _add_clean(self, code_octets: bytes, last: bool, end: int) -> ReaderEvent | None:
        """`_add_line` for a line `_CLEAN` matched (ending at `end`), which shows no problem of
        its own: only a code other than the reply's first is one (then it goes the long way)."""
        pending = self._pending
        ends = pending.ends
        code = _CODES[code_octets]
        if ends and code != pending.first_code:
            line = parse_line(_copy(self._buf, self._pos, end - 2), b"\r\n")
            size = end - self._pos
            self._pos = self._scan = end
            event = self._add_line(line, size)
            return self._stop(event) if isinstance(event, CapExceeded) else event
        ends.append((ends[-1] if ends else 0) + end - self._pos)
        self._pos = self._scan = end
        if len(ends) == 1:
            pending.first_code = code
        pending.code = _CODE_INTS[code]
        pending.bare = False
        if last:
            reply = pending.reply(_copy(self._buf, self._start, end))
            self._pending = _Pending()
            self._start = end
            return reply
        if len(ends) >= self.max_reply_lines:
            return self._stop(self._too_many_lines(len(ends)))
        return None

    def _too_many_lines(self, number: int) -> CapExceeded:
        return CapExceeded(
            "lines",
            self.max_reply_lines,
            f"reply has more than {self.max_reply_lines} lines (line {number} is marked "
            "as continued)",
        )

    def next_event(self) -> ReaderEvent:
        if self._final is not None:
            return self._final
        if self._pos == len(self._buf) and not self._eof:
            return NEED_DATA  # every byte parsed already: the common case before a read
        while True:
            buf, pos = self._buf, self._pos
            room = self._room()
            limit = min(len(buf), pos + room)
            found = _LINE_END.search(buf, self._scan, limit)
            if found is None:
                self._scan = limit
                if len(buf) - pos > room:
                    return self._stop(self._exceeded_bytes())
                if not self._eof:
                    return NEED_DATA
                return self._at_eof()
            end = found.start()
            if buf[end] == 0x0D:  # CR: CRLF, or a bare CR if the next byte is anything else
                if end + 1 < len(buf):
                    ending = b"\r\n" if buf[end + 1] == 0x0A else b"\r"
                elif self._eof:
                    ending = b"\r"
                else:
                    self._scan = end
                    return NEED_DATA
            else:
                ending = b"\n"
            size = end - pos + len(ending)
            if size > room:
                return self._stop(self._exceeded_bytes())
            if size <= MAX_LINE_OCTETS and ending == b"\r\n":
                clean = _CLEAN.fullmatch(buf, pos, end)
                if clean is not None:
                    event = self._add_clean(clean.group(1), buf[pos + 3] == 0x20, pos + size)
                    if event is not None:
                        return event
                    continue
            line = parse_line(_copy(buf, pos, end), ending)
            self._pos = self._scan = pos + size
            event = self._add_line(line, size)
            if isinstance(event, CapExceeded):
                return self._stop(event)
            if event is not None:
                return event

    def _at_eof(self) -> Reply | Closed | CapExceeded:
        """EOF and no line end left: finish a reply cut off in its last line, else close."""
        tail = bytes(self._buf[self._pos :])
        if tail:
            line = parse_line(tail, b"")
            if line.code is not None and line.is_last:
                self._pos = self._scan = len(self._buf)
                reply = self._add_line(line, len(tail))
                assert isinstance(reply, Reply)
                return reply
        return self._stop(Closed(bytes(self._buf[self._start :])))
