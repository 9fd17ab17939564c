"""Reply-text patterns (`expect: {text: ...}`): RE2 syntax, matched in time linear in the text.

The scenario supplies the pattern and the server supplies the text, so a backtracking engine
would let a hostile server stall a run for ever with a reply built against a pattern like
`(a+)+$` (no deadline or signal can interrupt a match in progress). RE2 (google-re2) has no
backtracking: constructs it cannot run in linear time (backreferences, lookaround) are refused
when the scenario is loaded, with their position.
"""

from __future__ import annotations

import re2  # type: ignore[import-untyped]

from probe.record import record

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported by us, with the file position, not on stderr
_OPTIONS.max_mem = 8 << 20  # bytes for one compiled pattern: a huge pattern is refused, not built


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


@record(frozen=True, slots=True, eq=False)
class Pattern:
    pattern: str
    _compiled: object

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None  # type: ignore[attr-defined]

    @property
    def groups(self) -> int:
        return int(self._compiled.groups)  # type: ignore[attr-defined]

    def capture(self, text: str) -> str | None:
        """The first group of the first match (the whole match without groups), or None."""
        match = self._compiled.search(text)  # type: ignore[attr-defined]
        if match is None:
            return None
        return str(match.group(1) if self.groups else match.group(0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


def compile_pattern(pattern: str) -> Pattern:
    """The pattern compiled for linear-time matching; PatternError if RE2 cannot run it."""
    try:
        return Pattern(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        raise PatternError(_message(exc)) from None


def escape(text: str) -> str:
    """`text` as a pattern matching itself (for variables expanded inside a pattern)."""
    return str(re2.escape(text))


def _message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    text = str(detail)
    if "invalid escape sequence: \\1" in text or "invalid escape sequence: \\" in text:
        hint = " (backreferences cannot be matched in linear time)"
    elif (
        "invalid perl operator: (?<" in text
        or "invalid perl operator: (?=" in text
        or ("invalid perl operator: (?!" in text)
    ):
        hint = " (lookaround cannot be matched in linear time)"
    else:
        hint = ""
    return f"{text}{hint}; patterns use RE2 syntax"
