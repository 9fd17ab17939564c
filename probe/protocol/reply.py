"""Value types for what a server sends: reply lines, replies, and the syntax problems found in them.

Nothing here does I/O. `probe.protocol.reader` builds these from bytes.
"""

from __future__ import annotations

import contextlib
import re
from array import array
from collections.abc import Iterable
from enum import StrEnum

from probe.record import record, replace


class Severity(StrEnum):
    """How bad a syntax problem is: `fail` breaks a MUST, `warn` a SHOULD."""

    FAIL = "fail"
    WARN = "warn"


@record(frozen=True, slots=True)
class SyntaxProblem:
    """One way a reply breaks RFC 5321's reply grammar (a finding about the server, not a crash)."""

    kind: str  # stable identifier, e.g. "mixed-codes", "bare-lf"; see reader.PROBLEM_KINDS
    severity: Severity
    message: str  # one line, human readable
    source: str  # e.g. "RFC 5321 §4.2.1"
    line: int | None = None  # 1-based index of the reply line concerned, if any


@record(frozen=True, slots=True)
class ReplyLine:
    """One line of a reply as received.

    `raw` is the line without its line ending. `code` is the first three characters when they are
    three ASCII digits (whatever their range), else None. `separator` is the character after the
    code: "-" (more lines follow), " " (last line), "" (code alone), or whatever else was there.
    `text` is everything after the separator, decoded as UTF-8 with errors replaced (for display).
    `ending` is the line terminator actually seen: b"\\r\\n", b"\\n", b"\\r", or b"" at end of
    stream.
    """

    raw: bytes
    code: str | None
    separator: str
    text: str
    ending: bytes

    @property
    def is_last(self) -> bool:
        return self.separator != "-"


class Reply:
    """A complete reply: one or more lines, the last not marked as continued.

    `code` is the reply code as an int taken from the last line (None if no line carried a
    three-digit code). `problems` lists every grammar violation found while parsing.

    The lines are kept packed: the bytes as received and where each line ends (4 bytes a line).
    `lines` makes ReplyLine objects when asked, and they are not kept: a ReplyLine with its
    strings costs about 170 bytes, so a reply of 1,000 five-byte lines held 34 times its size,
    where packed it holds under twice. Immutable, compared and hashed by its contents.
    """

    __slots__ = ("_data", "_ends", "code", "problems")
    _data: bytes
    _ends: array[int]
    code: int | None
    problems: tuple[SyntaxProblem, ...]

    def __init__(
        self,
        lines: Iterable[ReplyLine],
        code: int | None,
        problems: tuple[SyntaxProblem, ...] = (),
    ) -> None:
        data = bytearray()
        ends = array("I")
        for line in lines:
            data += line.raw + line.ending
            ends.append(len(data))
        self._set(bytes(data), ends, code, tuple(problems))

    @classmethod
    def packed(
        cls, data: bytes, ends: array[int], code: int | None, problems: tuple[SyntaxProblem, ...]
    ) -> Reply:
        """A reply from its bytes and the offset where each line ends (after its line ending)."""
        reply = cls.__new__(cls)
        reply._set(data, ends, code, problems)
        return reply

    def _set(
        self, data: bytes, ends: array[int], code: int | None, problems: tuple[SyntaxProblem, ...]
    ) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_ends", ends)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "problems", problems)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reply is immutable: cannot set {name!r}")

    @property
    def lines(self) -> tuple[ReplyLine, ...]:
        recent = _RECENT.get(id(self))
        if recent is not None and recent[0] is self:
            return recent[1]
        out = []
        start = 0
        data = self._data
        for end in self._ends:
            line = data[start:end]
            # A line holds no CR or LF but its ending: CRLF, LF, CR, or nothing (end of stream).
            cut = 2 if line.endswith(b"\r\n") else 1 if line.endswith((b"\n", b"\r")) else 0
            out.append(parse_line(line[: len(line) - cut], line[len(line) - cut :]))
            start = end
        lines = tuple(out)
        if len(data) <= _RECENT_BYTES:
            if len(_RECENT) >= _RECENT_COUNT:
                # The oldest goes (another thread may be at it too: then nothing is lost but
                # a cache entry).
                with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                    del _RECENT[next(iter(_RECENT))]
            _RECENT[id(self)] = (self, lines)
        return lines

    @property
    def size(self) -> int:
        """Octets received for this reply, line endings included."""
        return len(self._data)

    @property
    def text_lines(self) -> list[str]:
        """The text of each line, without code and separator."""
        return [_text(raw) for raw in self._raw_lines()]

    @property
    def display_lines(self) -> list[str]:
        """Each line as received, decoded for display (control characters escaped)."""
        return [_printable(raw) for raw in self._raw_lines()]

    @property
    def raw_lines(self) -> list[bytes]:
        """Each line's bytes without its ending (`ReplyLine.raw`), without making ReplyLines."""
        return self._raw_lines()

    def _raw_lines(self) -> list[bytes]:
        data, ends = self._data, self._ends
        if data.count(b"\r\n") == len(ends) and data.endswith(b"\r\n"):
            # Every line ends in CRLF (a line holds no CR or LF but its ending, so each CRLF
            # ends one): the common case, split at once.
            return data.split(b"\r\n")[:-1]
        out = []
        start = 0
        for end in ends:
            line = data[start:end]
            cut = 2 if line.endswith(b"\r\n") else 1 if line.endswith((b"\n", b"\r")) else 0
            out.append(line[: len(line) - cut])
            start = end
        return out

    @property
    def first_digit(self) -> int | None:
        return None if self.code is None else self.code // 100

    def _key(self) -> tuple[bytes, bytes, int | None, tuple[SyntaxProblem, ...]]:
        return self._data, self._ends.tobytes(), self.code, self.problems

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reply) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Reply(lines={self.lines!r}, code={self.code!r}, problems={self.problems!r})"


# The lines of the replies parsed last: a reply is judged, masked, recorded and reported, and each
# asks for its lines (about six times a reply in a fleet run). Only small replies, and a few of
# them, so memory stays bounded (at most _RECENT_COUNT x _RECENT_BYTES of reply, plus its lines)
# and replies held in results stay packed. Keyed by id(); the entry holds the reply itself, so
# that id cannot be reused while it is there.
_RECENT_COUNT = 64
_RECENT_BYTES = 1024
_RECENT: dict[int, tuple[Reply, tuple[ReplyLine, ...]]] = {}


def parse_line(raw: bytes, ending: bytes) -> ReplyLine:
    """Split one received line (without its ending) into code, separator and text."""
    if len(raw) >= 3 and raw[:3].isdigit():
        code = _CODES.get(raw[:3]) or raw[:3].decode("ascii")
        if len(raw) > 3 and raw[3] < 0x80:  # an ASCII separator: one copy of the text, not two
            return ReplyLine(raw, code, chr(raw[3]), raw[4:].decode("utf-8", "replace"), ending)
        rest = raw[3:].decode("utf-8", "replace")
        return ReplyLine(raw, code, rest[:1], rest[1:], ending)
    return ReplyLine(raw, None, "", raw.decode("utf-8", "replace"), ending)


_CODES = {f"{n:03d}".encode(): f"{n:03d}" for n in range(1000)}  # one str per code, shared


def line_text(raw: bytes) -> str:
    """`parse_line(raw, ...).text`, without the rest of the ReplyLine."""
    return _text(raw)


def _text(raw: bytes) -> str:
    if len(raw) >= 3 and raw[:3].isdigit():
        if len(raw) > 3 and raw[3] < 0x80:
            return raw[4:].decode("utf-8", "replace")
        return raw[3:].decode("utf-8", "replace")[1:]
    return raw.decode("utf-8", "replace")


class ProblemTally:
    """The first problem of each kind, in order of first appearance, and how many more of each
    kind followed (memory by kind, not by line)."""

    def __init__(self) -> None:
        self.first: dict[str, SyntaxProblem] = {}
        self.more: dict[str, int] = {}

    def add(self, problem: SyntaxProblem) -> None:
        if problem.kind in self.first:
            self.more[problem.kind] += 1
        else:
            self.first[problem.kind] = problem
            self.more[problem.kind] = 0

    def problems(self) -> tuple[SyntaxProblem, ...]:
        out = []
        for kind, problem in self.first.items():
            more = self.more[kind]
            if more:
                plural = "line" if more == 1 else "lines"
                problem = replace(
                    problem, message=f"{problem.message}; also on {more} more {plural}"
                )
            out.append(problem)
        return tuple(out)


def collapse_problems(problems: Iterable[SyntaxProblem]) -> tuple[SyntaxProblem, ...]:
    """Keep the first problem of each kind, in order of first appearance.

    When later lines had the same kind of problem, the kept message ends with
    "; also on N more line(s)", so a 1,000-line reply with the same fault yields one finding.
    """
    tally = ProblemTally()
    for problem in problems:
        tally.add(problem)
    return tally.problems()


_PLAIN = re.compile(rb"[\x20-\x7e]*")


def printable(raw: bytes, limit: int | None = None) -> str:
    """`raw` for a one-line message: HT and 32-126 as is, other octets as \\xHH; cut at `limit`."""
    if limit is not None and len(raw) > limit:
        return _printable(raw[:limit]) + "..."
    return _printable(raw)


def _printable(raw: bytes) -> str:
    if _PLAIN.fullmatch(raw):  # the common case, a line of printable ASCII, without a loop
        return raw.decode("ascii")
    out = []
    for byte in raw:
        if 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        elif byte == 0x09:
            out.append("\\t")  # legal in a reply, but a raw TAB shifts what a report shows
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)
