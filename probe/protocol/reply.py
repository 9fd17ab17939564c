"""Value types for what a server sends: reply lines, replies, and the syntax problems found in them.

Nothing here does I/O. `probe.protocol.reader` builds these from bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Severity(StrEnum):
    """How bad a syntax problem is: `fail` breaks a MUST, `warn` a SHOULD."""

    FAIL = "fail"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """One way a reply breaks RFC 5321's reply grammar (a finding about the server, not a crash)."""

    kind: str  # stable identifier, e.g. "mixed-codes", "bare-lf"; see reader.PROBLEM_KINDS
    severity: Severity
    message: str  # one line, human readable
    source: str  # e.g. "RFC 5321 §4.2.1"
    line: int | None = None  # 1-based index of the reply line concerned, if any


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete reply: one or more lines, the last not marked as continued.

    `code` is the reply code as an int taken from the last line (None if no line carried a
    three-digit code). `problems` lists every grammar violation found while parsing.
    """

    lines: tuple[ReplyLine, ...]
    code: int | None
    problems: tuple[SyntaxProblem, ...] = field(default=())

    @property
    def text_lines(self) -> list[str]:
        """The text of each line, without code and separator."""
        return [line.text for line in self.lines]

    @property
    def display_lines(self) -> list[str]:
        """Each line as received, decoded for display (control characters escaped)."""
        return [_printable(line.raw) for line in self.lines]

    @property
    def first_digit(self) -> int | None:
        return None if self.code is None else self.code // 100


def collapse_problems(problems: Iterable[SyntaxProblem]) -> tuple[SyntaxProblem, ...]:
    """Keep the first problem of each kind, in order of first appearance.

    When later lines had the same kind of problem, the kept message ends with
    "; also on N more line(s)", so a 1,000-line reply with the same fault yields one finding.
    """
    first: dict[str, SyntaxProblem] = {}
    extra: dict[str, int] = {}
    for problem in problems:
        if problem.kind in first:
            extra[problem.kind] += 1
        else:
            first[problem.kind] = problem
            extra[problem.kind] = 0
    out = []
    for kind, problem in first.items():
        more = extra[kind]
        if more:
            plural = "line" if more == 1 else "lines"
            problem = replace(problem, message=f"{problem.message}; also on {more} more {plural}")
        out.append(problem)
    return tuple(out)


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
