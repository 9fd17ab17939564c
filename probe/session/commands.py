"""What each step sends: pure functions from a bound step to bytes (no session, no I/O).

`Line.shown` is what transcripts and reports get: secrets there are already replaced by ****.
"""

from __future__ import annotations

import base64
import re

from probe.codes import UNKNOWN, canonical_command
from probe.protocol.encode import bracketed, decode_escapes, encode_command, encode_data
from probe.record import record
from probe.scenario.model import Step, StepKind
from probe.secrets import MASK as SECRET_MASK
from probe.secrets import secret_forms

MASK = SECRET_MASK.encode()
_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


@record(frozen=True, slots=True)
class Line:
    """One thing to send, the table that judges its reply, and how a report may show it."""

    data: bytes
    table: str  # canonical code-table name: MAIL, DATA, UNKNOWN, ...
    shown: bytes
    has_argument: bool = False


# What a step sends depends on the step alone (steps are immutable, and the sessions of a fleet
# share one bound scenario's): made once per step, kept by its identity (each entry holds its
# step, so an id is never reused while it is here), a bounded number of them.
_KEPT = 4096
_KEPT_MESSAGE = 16 * 1024  # octets: larger message data is not kept
_KEPT_MESSAGES = 256  # messages kept at most (4 MiB)
_LINES: dict[int, tuple[Step, Line]] = {}
_MESSAGES: dict[int, tuple[Step, bytes]] = {}


def command_for(step: Step) -> Line:
    """The command of a simple step (or a pipeline member). Raises EscapeError for bad raw
    escapes (validated at load time, so only a safety net)."""
    kept = _LINES.get(id(step))
    if kept is not None and kept[0] is step:
        return kept[1]
    line = _command_for(step)
    if len(_LINES) >= _KEPT:
        _LINES.clear()
    _LINES[id(step)] = (step, line)
    return line


def _command_for(step: Step) -> Line:
    kind = step.kind
    if kind is StepKind.SEND:
        if step.raw is not None:
            data = decode_escapes(step.raw)
            table = canonical_command(step.verb) if step.verb else UNKNOWN
            return Line(data, table, data, has_argument=True)
        line = step.arg or ""
        verb = step.verb or (line.split(" ", 1)[0] if line else "")
        data = encode_command(line)
        return Line(data, canonical_command(verb), data, has_argument=" " in line.strip())
    if kind in (StepKind.MAIL, StepKind.RCPT):
        path = (step.arg or "") if step.exact else bracketed(step.arg or "")
        verb = kind.value.upper()
        line = f"{verb} {'FROM' if kind is StepKind.MAIL else 'TO'}:{path}"
    else:
        verb = kind.value.upper()
        line = verb + (f" {step.arg}" if step.arg and kind is not StepKind.DATA else "")
    if step.params:
        line += f" {step.params}"
    data = encode_command(line)
    return Line(data, canonical_command(verb), data, has_argument=bool(step.arg))


def message_for(step: Step) -> bytes:
    """The message data a data step sends after 354: raw bytes as given, or the body
    dot-stuffed and ended with CRLF.CRLF (RFC 5321 §4.5.2)."""
    kept = _MESSAGES.get(id(step))
    if kept is not None and kept[0] is step:
        return kept[1]
    data = decode_escapes(step.raw) if step.raw is not None else encode_data(step.body or "")
    if len(data) <= _KEPT_MESSAGE:  # a large message is made again: memory stays bounded
        if len(_MESSAGES) >= _KEPT_MESSAGES:
            _MESSAGES.clear()
        _MESSAGES[id(step)] = (step, data)
    return data


def bdat_message(step: Step) -> bytes:
    """The octets a bdat step sends (RFC 3030 §2: no dot-stuffing, no end-of-data mark): raw
    bytes as given, or the body with CRLF line ends (a final CRLF added when missing)."""
    if step.raw is not None:
        return decode_escapes(step.raw)
    data = (step.body or "").encode("utf-8", "surrogateescape")
    data = _ANY_LINE_END.sub(b"\r\n", data)
    return data + b"\r\n" if data and not data.endswith(b"\r\n") else data


class ChunkError(ValueError):
    """The chunk sizes add up to more than the message."""


def bdat_chunks(step: Step, message: bytes) -> list[tuple[bytes, bool]]:
    """The message cut as the step says: (chunk, LAST?) in order. The sizes in `chunks` first,
    what remains as one more chunk; `last` puts LAST on the final chunk, or on a BDAT 0 LAST
    after them, or nowhere."""
    total = sum(step.chunks)
    if total > len(message):
        raise ChunkError(
            f"the chunk sizes add up to {total} octets, and the message has {len(message)}"
        )
    pieces, offset = [], 0
    for size in step.chunks:
        pieces.append(message[offset : offset + size])
        offset += size
    if offset < len(message) or not pieces:
        pieces.append(message[offset:])
    marked = [(piece, False) for piece in pieces]
    if step.last == "final":
        marked[-1] = (marked[-1][0], True)
    elif step.last == "empty":
        marked.append((b"", True))
    return marked


def bdat_line(chunk: bytes, last: bool) -> bytes:
    return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode()


def auth_lines(step: Step) -> list[Line]:
    """The lines of an AUTH exchange (RFC 4954): PLAIN with an initial response, or LOGIN's
    three lines, each sent once the server answered the previous one with 334."""
    user = (step.username or "").encode()
    password = (step.password or "").encode()
    if (step.mechanism or "PLAIN").upper() == "PLAIN":
        blob = base64.b64encode(b"\0" + user + b"\0" + password)
        return [Line(b"AUTH PLAIN " + blob + b"\r\n", "AUTH", b"AUTH PLAIN ****\r\n", True)]
    login = b"AUTH LOGIN\r\n"
    user_line = base64.b64encode(user) + b"\r\n"
    return [
        Line(login, "AUTH", login, True),
        Line(user_line, "AUTH", user_line),
        Line(base64.b64encode(password) + b"\r\n", "AUTH", MASK + b"\r\n"),
    ]


def secret_bytes(secrets: frozenset[str]) -> list[bytes]:
    """The secrets' forms (probe.secrets) as bytes on the wire, longest first."""
    return [form.encode() for form in secret_forms(secrets)]
