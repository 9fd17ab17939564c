"""A validated scenario: what the runner plays. Built by `probe.scenario.loader`, nothing else."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from probe.record import field, record, replace

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from probe.scenario.patterns import Pattern

_T = TypeVar("_T")


@record(frozen=True, slots=True)
class Position:
    """Where something is in a scenario file (1-based line and column)."""

    file: str
    line: int
    column: int
    used_at: Position | None = None  # a reused step (anchor, `use:`): where it was used

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}:{self.column}"
        if self.used_at is not None:
            place += f" (used at {self.used_at.line}:{self.used_at.column})"
        return place


class Level(StrEnum):
    """What an unmet expectation costs: must -> fail, should -> warn, info -> reported only."""

    MUST = "must"
    SHOULD = "should"
    INFO = "info"


@record(frozen=True, slots=True)
class CodePattern:
    """An expected code: exact ("250"), a class ("5xx") or a class and subclass ("25x")."""

    text: str

    def matches(self, code: int) -> bool:
        digits = f"{code:03d}"
        return all(p in ("x", "X") or p == d for p, d in zip(self.text, digits, strict=True))

    def __str__(self) -> str:
        return self.text


@record(frozen=True, slots=True)
class Expectation:
    codes: tuple[CodePattern, ...] = ()  # empty: any code
    # Each searched in the reply's text lines without their codes, joined by newlines (RE2,
    # linear time); all must match.
    texts: tuple[Pattern, ...] = ()
    level: Level = Level.MUST
    why: str = ""
    position: Position | None = None
    advertises: tuple[str, ...] = ()  # EHLO: keywords the reply must list
    not_advertises: tuple[str, ...] = ()  # EHLO: keywords it must not list
    # `same_as: NAME`: the code saved as NAME (save: {NAME: {code: true}}); put in `codes` when
    # the step is bound with the saved values.
    same_as: str | None = None
    # `same_class_as: NAME`: only the class (first digit) of that code is wanted (`same_as` is
    # NAME then too, and `codes` its class, e.g. 5xx).
    same_class: bool = False

    def describe(self) -> str:
        parts = []
        if self.same_as is not None:
            saved = f" ({self.codes[0]})" if self.codes else ""
            what = "the class of the code" if self.same_class else "the code"
            parts.append(f"{what} saved as {self.same_as}{saved}")
        elif self.codes:
            parts.append(" or ".join(str(c) for c in self.codes))
        parts += [f"text matching /{text.pattern}/" for text in self.texts]
        if self.advertises:
            parts.append(f"advertising {' '.join(self.advertises)}")
        if self.not_advertises:
            parts.append(f"not advertising {' '.join(self.not_advertises)}")
        return ", ".join(parts) or "any reply"


@record(frozen=True, slots=True)
class ReplyCount:
    """`replies:` on a send step: how many replies the bytes it sends must get, counted over a
    quiet window after the first (`within` seconds; None: the default window). One write may
    hold several command lines, or a command and data that must not be read as commands."""

    exactly: int | None = None
    at_most: int | None = None
    within: float | None = None
    level: Level = Level.MUST
    why: str = ""

    @property
    def least(self) -> int:
        """Replies that must come (the first is then awaited as any command's reply)."""
        if self.exactly is not None:
            return self.exactly
        return 1 if self.at_most else 0

    def allows(self, count: int) -> bool:
        if self.exactly is not None:
            return count == self.exactly
        return self.at_most is not None and count <= self.at_most

    def describe(self) -> str:
        number = self.exactly if self.exactly is not None else self.at_most
        word = "exactly" if self.exactly is not None else "at most"
        return f"{word} {number} repl{'y' if number == 1 else 'ies'}"


@record(frozen=True, slots=True)
class Save:
    """`save: {name: SOURCE}`: a value from a step's reply, for `${name}` in later steps."""

    name: str
    keyword: str | None = None  # from the EHLO reply: this keyword's parameters, space-joined
    pattern: Pattern | None = None  # from the reply text: the first group, or the whole match
    position: Position | None = None
    code: bool = False  # the reply's code (250)
    address: bool = False  # (connect) the server's address, as an address literal: [192.0.2.1]

    def describe(self) -> str:
        if self.keyword is not None:
            return f"{self.name} = the parameters of {self.keyword} in the EHLO reply"
        if self.code:
            return f"{self.name} = the reply code"
        if self.address:
            return f"{self.name} = the server's address literal"
        pattern = self.pattern.pattern if self.pattern is not None else ""
        return f"{self.name} = /{pattern}/ in the reply text"


@record(frozen=True, slots=True)
class Condition:
    """`when:`: the step plays only if all of these hold (else it is skipped, with the reason)."""

    advertised: tuple[str, ...] = ()
    not_advertised: tuple[str, ...] = ()
    saved: tuple[str, ...] = ()
    not_saved: tuple[str, ...] = ()
    tls: bool | None = None  # True: only inside TLS (after STARTTLS, or implicit); False: outside
    given: tuple[str, ...] = ()  # variables with a value that is not empty (credentials given)
    # Names of reply codes saved with `save: {NAME: {code: true}}`: the step plays only if that
    # reply accepted (2xx or 3xx), or refused (4xx or 5xx), what it answered.
    accepted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    def __and__(self, other: Condition) -> Condition:
        return Condition(
            self.advertised + other.advertised,
            self.not_advertised + other.not_advertised,
            self.saved + other.saved,
            self.not_saved + other.not_saved,
            self.tls if other.tls is None else other.tls,
            self.given + other.given,
            self.accepted + other.accepted,
            self.refused + other.refused,
        )

    @property
    def compared(self) -> tuple[str, ...]:
        """The saved names the condition reads (a step must have saved each before it)."""
        return self.saved + self.not_saved + self.accepted + self.refused

    def describe(self) -> str:
        parts = [
            f"{key} {' '.join(values)}"
            for key, values in (
                ("advertised", self.advertised),
                ("not advertised", self.not_advertised),
                ("saved", self.saved),
                ("not saved", self.not_saved),
                ("given", self.given),
                ("accepted", self.accepted),
                ("refused", self.refused),
            )
            if values
        ]
        if self.tls is not None:
            parts.append(f"tls {str(self.tls).lower()}")
        return " and ".join(parts)


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
    BDAT = "bdat"
    IDLE = "idle"


@record(frozen=True, slots=True)
class Step:
    """One scripted action. Strings may hold `${var}` references until the scenario is bound.

    - ehlo/helo: `arg` is the domain. mail: `arg` the reverse-path, rcpt: the forward-path (angle
      brackets added when missing), `params` the ESMTP parameters. vrfy/expn/help/noop/rset/quit:
      optional `arg`. send: `arg` a command line (CRLF added) or `raw` bytes in escape syntax
      (sent exactly); `verb` says which command's table judges the reply (default: the line's first
      word; for raw, "UNKNOWN" unless given). data: `body` text (dot-stuffed, CRLF.CRLF added) or
      `raw` (sent exactly after 354); `expect` judges the 354 stage, `expect_end` the final reply.
      pipeline: `steps` sent in one write, each reply judged by its own command.
      auth: `mechanism` (PLAIN or LOGIN), `username`, `password` (a secret: never printed);
      `respond`, the line answering the first 334 instead of the mechanism's; `initial_response`
      False: the AUTH line without the initial response.
      starttls: `inject`, a command line sent in the same write as STARTTLS (the plaintext
      injection test, CVE-2011-0411): a server that answers it inside TLS fails. `legacy_tls`
      (also on connect, with implicit TLS): the handshake offers only TLS 1.0 and 1.1.
      bdat: `body` text (CRLF line ends, not dot-stuffed, no final dot) or `raw`, sent in chunks
      (RFC 3030), `chunks` and `last` say how; `expect` judges the reply that ends the step.
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
    file: str | None = None  # data: the message from this file (absolute path), streamed
    expand: bool = False  # data with file: `${...}` expanded in it (read whole, at bind time)
    hangup: bool = False  # data: the message without its final dot, then the probe hangs up
    # connect: in the clear even to an implicit-TLS target, wanting no greeting (RFC 8314 §3.3)
    no_greeting: bool = False
    # data: the body padded with filler lines past the SIZE the server advertised (RFC 1870)
    oversize: bool = False
    drip: float | None = None  # send: seconds between the octets of the line, sent one by one
    replies: ReplyCount | None = None  # send: how many replies the write must get
    save: tuple[Save, ...] = ()  # values taken from the reply, for later steps
    when: Condition | None = None  # play only if this holds
    # Set on a bound step that uses saved values: the unbound step, bound again when it plays.
    template: Step | None = None
    steps: tuple[Step, ...] = ()
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    inject: str | None = None  # starttls: a command sent with STARTTLS in one write
    # auth: the line that answers the server's first 334 instead of the mechanism's own ("*"
    # cancels, RFC 4954 §4); initial_response False: the AUTH line without it (PLAIN's empty
    # challenge)
    respond: str | None = None
    initial_response: bool = True
    # starttls (and connect, with implicit TLS): a handshake offering only TLS 1.0 and 1.1
    # (RFC 8996), after which the connection is closed
    legacy_tls: bool = False
    # bdat: the sizes of the first chunks (the rest of the message is one more chunk), and where
    # LAST goes: "final" (on the final chunk), "empty" (a BDAT 0 LAST after them), "none".
    chunks: tuple[int, ...] = ()
    last: str = "final"


def evolve(obj: _T, **changes: object) -> _T:
    """`replace`, returning `obj` itself when no value changes: binding rebuilds every
    step, most steps hold no variable, and replacing a Step costs about 7 us."""
    for key, value in changes.items():
        old = getattr(obj, key)
        if old is not value and old != value:
            return replace(obj, **changes)
    return obj


@record(frozen=True, slots=True)
class Variable:
    name: str
    default: str | None  # None: must be given with --var (or by the target, for `domain`)
    position: Position


@record(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    path: str
    variables: dict[str, Variable] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    stop_on_fail: bool = False
    saves: dict[str, Position] = field(default_factory=dict)  # saved names, where each is saved
    tls: str | None = None  # "implicit" (RFC 8314) or "required" (TLS before MAIL)
    auth: str | None = None  # "required": AUTH before MAIL (RFC 6409 §4.3)


@record(frozen=True, slots=True)
class BoundScenario:
    """A scenario with every `${...}` expanded for one target."""

    scenario: Scenario
    values: dict[str, str]
    steps: tuple[Step, ...]
    secrets: frozenset[str] = frozenset()  # strings that must never reach a transcript or report
    # Binds a step that uses saved values (`Step.template`) with the values saved so far.
    rebind: Callable[[Step, Mapping[str, str]], Step] | None = None
