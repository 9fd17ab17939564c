"""A validated scenario: what the runner plays. Built by `probe.scenario.loader`, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from probe.scenario.patterns import Pattern

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Position:
    """Where something is in a scenario file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Level(StrEnum):
    """What an unmet expectation costs: must -> fail, should -> warn, info -> reported only."""

    MUST = "must"
    SHOULD = "should"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class CodePattern:
    """An expected code: exact ("250"), a class ("5xx") or a class and subclass ("25x")."""

    text: str

    def matches(self, code: int) -> bool:
        digits = f"{code:03d}"
        return all(p in ("x", "X") or p == d for p, d in zip(self.text, digits, strict=True))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Expectation:
    codes: tuple[CodePattern, ...] = ()  # empty: any code
    text: Pattern | None = None  # searched in the reply's joined text lines (RE2, linear time)
    level: Level = Level.MUST
    why: str = ""
    position: Position | None = None

    def describe(self) -> str:
        parts = []
        if self.codes:
            parts.append(" or ".join(str(c) for c in self.codes))
        if self.text is not None:
            parts.append(f"text matching /{self.text.pattern}/")
        return ", ".join(parts) or "any reply"


class StepKind(StrEnum):
    CONNECT = "connect"
    EHLO = "ehlo"
    HELO = "helo"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    RSET = "rset"
    VRFY = "vrfy"
    EXPN = "expn"
    HELP = "help"
    NOOP = "noop"
    QUIT = "quit"
    SEND = "send"
    PIPELINE = "pipeline"
    STARTTLS = "starttls"
    AUTH = "auth"


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted action. Strings may hold `${var}` references until the scenario is bound.

    - ehlo/helo: `arg` is the domain. mail: `arg` the reverse-path, rcpt: the forward-path (angle
      brackets added when missing), `params` the ESMTP parameters. vrfy/expn/help/noop/rset/quit:
      optional `arg`. send: `arg` a command line (CRLF added) or `raw` bytes in escape syntax
      (sent exactly); `verb` says which command's table judges the reply (default: the line's first
      word; for raw, "UNKNOWN" unless given). data: `body` text (dot-stuffed, CRLF.CRLF added) or
      `raw` (sent exactly after 354); `expect` judges the 354 stage, `expect_end` the final reply.
      pipeline: `steps` sent in one write, each reply judged by its own command.
      auth: `mechanism` (PLAIN or LOGIN), `username`, `password` (a secret: never printed).
    """

    kind: StepKind
    position: Position
    label: str  # what the report calls the step, e.g. "rcpt <postmaster@example.test>"
    arg: str | None = None
    params: str | None = None
    raw: str | None = None
    body: str | None = None
    verb: str | None = None
    expect: Expectation | None = None
    expect_end: Expectation | None = None
    stop_on_fail: bool = False
    timeout: float | None = None
    settle: float | None = None  # a quiet window before the command: replies in it are unasked
    requires: tuple[str, ...] = ()  # EHLO keywords the step needs; not advertised -> skipped
    exact: bool = False  # mail/rcpt: the path as written, no angle brackets added
    steps: tuple[Step, ...] = ()
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None


def evolve(obj: _T, **changes: object) -> _T:
    """`dataclasses.replace`, returning `obj` itself when no value changes: binding rebuilds every
    step, most steps hold no variable, and replacing a Step costs about 7 us."""
    for key, value in changes.items():
        old = getattr(obj, key)
        if old is not value and old != value:
            return replace(obj, **changes)  # type: ignore[type-var]
    return obj


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str | None  # None: must be given with --var (or by the target, for `domain`)
    position: Position


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    path: str
    variables: dict[str, Variable] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    stop_on_fail: bool = False


@dataclass(frozen=True, slots=True)
class BoundScenario:
    """A scenario with every `${...}` expanded for one target."""

    scenario: Scenario
    values: dict[str, str]
    steps: tuple[Step, ...]
    secrets: frozenset[str] = frozenset()  # strings that must never reach a transcript or report
