"""The scenario format's vocabulary: top-level keys, step kinds and the keys each accepts.

The loader reads these tables; `schema.py` describes the same format for editors, and a test
checks the two agree.
"""

from __future__ import annotations

from enum import Enum

from probe.record import record
from probe.scenario.model import Level, StepKind

TOP_KEYS = ("name", "description", "vars", "stop_on_fail", "tls", "auth", "steps")
# `tls:` at the top: `implicit` connects with TLS (RFC 8314, port 465); `required` says the
# server must require TLS before a mail transaction (MAIL accepted in the clear then fails).
TLS_MODES = ("implicit", "required")
# `auth: required`: the server must require AUTH before a mail transaction (RFC 6409 §4.3, a
# submission server): MAIL accepted before AUTH, on a server that offers AUTH, then fails.
AUTH_MODES = ("required",)
EXTENSION_PREFIX = "x-"  # top-level keys starting with this are ignored: a home for anchors

# Keys any step may carry, inside its mapping or beside its kind key.
COMMON_KEYS = (
    "expect",
    "level",
    "why",
    "name",
    "stop_on_fail",
    "timeout",
    "settle",
    "requires",
    "save",
    "when",
)

# `when:` keys: what a condition may test (all given must hold).
WHEN_KEYS = (
    "advertised",
    "not_advertised",
    "saved",
    "not_saved",
    "given",
    "tls",
    "accepted",
    "refused",
)

# Keys of the mapping form of `replies` (send): one of exactly and at_most, and the window.
REPLIES_KEYS = ("exactly", "at_most", "within", "level", "why")
MAX_REPLIES = 1000  # a count of replies a send step may ask for
# data `oversize: true` sends at most this much: a server advertising a larger SIZE is not
# sent a message past it (the step is not applicable).
MAX_OVERSIZE = 16 * 1024 * 1024

# Keys of the mapping form of `expect` (`level` and `why` there override the step's).
EXPECT_KEYS = ("code", "text", "same_as", "same_class_as", "level", "why")

LEVELS = tuple(level.value for level in Level)
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-1", "SCRAM-SHA-256")


class Arg(Enum):
    NONE = "none"  # `- connect`, or a mapping of common keys
    OPTIONAL = "optional"  # `- rset` or `- rset: ARG`
    REQUIRED = "required"  # `- mail: ADDRESS` or the long form with the main key
    MAPPING = "mapping"  # only the long form (auth)
    LIST = "list"  # pipeline: a list of steps, or {steps: [...]}


@record(frozen=True, slots=True)
class KindSpec:
    main: str | None  # the key the short form fills
    keys: tuple[str, ...]  # the kind's own keys in the long form
    arg: Arg
    common: tuple[str, ...] = COMMON_KEYS
    command: str | None = None  # the code-table command judging `expect` (None: per step)
    one_line: tuple[str, ...] = ()  # keys sent inside a command line: no line breaks


KINDS: dict[StepKind, KindSpec] = {
    StepKind.CONNECT: KindSpec(None, ("legacy_tls", "greeting"), Arg.NONE, command="CONNECT"),
    StepKind.EHLO: KindSpec(
        "domain",
        ("domain", "advertises", "not_advertises"),
        Arg.REQUIRED,
        command="EHLO",
        one_line=("domain",),
    ),
    StepKind.HELO: KindSpec(
        "domain", ("domain",), Arg.REQUIRED, command="HELO", one_line=("domain",)
    ),
    StepKind.MAIL: KindSpec(
        "from",
        ("from", "params", "exact"),
        Arg.REQUIRED,
        command="MAIL",
        one_line=("from", "params"),
    ),
    StepKind.RCPT: KindSpec(
        "to", ("to", "params", "exact"), Arg.REQUIRED, command="RCPT", one_line=("to", "params")
    ),
    StepKind.DATA: KindSpec(
        "body",
        ("body", "raw", "file", "expand", "hangup", "oversize", "expect_end"),
        Arg.REQUIRED,
        command="DATA",
    ),
    StepKind.RSET: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="RSET", one_line=("arg",)),
    StepKind.VRFY: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="VRFY", one_line=("arg",)),
    StepKind.EXPN: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="EXPN", one_line=("arg",)),
    StepKind.HELP: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="HELP", one_line=("arg",)),
    StepKind.NOOP: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="NOOP", one_line=("arg",)),
    StepKind.QUIT: KindSpec("arg", ("arg",), Arg.OPTIONAL, command="QUIT", one_line=("arg",)),
    StepKind.SEND: KindSpec(
        "line", ("line", "raw", "as", "drip", "replies"), Arg.REQUIRED, one_line=("line",)
    ),
    StepKind.PIPELINE: KindSpec(
        "steps",
        ("steps",),
        Arg.LIST,
        common=("name", "stop_on_fail", "timeout", "requires", "when"),
    ),
    StepKind.STARTTLS: KindSpec(
        None, ("inject", "legacy_tls"), Arg.NONE, command="STARTTLS", one_line=("inject",)
    ),
    StepKind.AUTH: KindSpec(
        None,
        ("mechanism", "username", "password", "respond", "initial_response"),
        Arg.MAPPING,
        command="AUTH",
        one_line=("respond",),
    ),
    StepKind.BDAT: KindSpec(
        "body", ("body", "raw", "chunks", "last"), Arg.REQUIRED, command="BDAT"
    ),
    # Nothing is sent: no reply to expect, no timeout of its own.
    StepKind.IDLE: KindSpec(
        "seconds", ("seconds",), Arg.REQUIRED, common=("name", "stop_on_fail", "requires", "when")
    ),
}

MAX_IDLE = 3600.0  # seconds an idle step may wait (the session deadline bounds it too)

# bdat `last:` values -> Step.last: LAST on the final chunk, a BDAT 0 LAST after the chunks, none.
BDAT_LAST = {True: "final", "empty": "empty", False: "none"}

# What a pipeline may hold (RFC 2920 §3.1: DATA only as the last command of a group).
PIPELINE_MEMBERS = (
    StepKind.MAIL,
    StepKind.RCPT,
    StepKind.RSET,
    StepKind.NOOP,
    StepKind.SEND,
    StepKind.DATA,
)

# The end of DATA (after CRLF.CRLF) is judged by this table command.
DATA_END = "DATA-END"

KIND_NAMES = tuple(kind.value for kind in StepKind)
