"""`data`: DATA, then (only after a 354) the message and its final dot (RFC 5321 §3.3, §4.1.1.4).

End of data is judged, not assumed. When the message holds a sequence a careless server could take
for the end of data (`<LF>.<LF>`, `<CR>.<CR>`, `<CRLF>.<LF>`...), it goes out in two writes:
everything up to the final `.<CRLF>`, a quiet window, then the final `.<CRLF>`. A server that
answers in between ended the data early and read the rest as commands (SMTP smuggling), which
§4.1.1.4's MUST NOT forbids; so does a second reply to the end of data. A plain message (CRLF line
ends only) has nothing to mistake and goes out in one write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from probe.inputfile import InputFileError, open_regular, shown
from probe.protocol.encode import DataEncoder, end_lookalike
from probe.results import Exchange, Finding, Streamed, Verdict
from probe.scenario.grammar import MAX_OVERSIZE
from probe.scenario.model import Step
from probe.session.commands import command_for, message_for
from probe.session.state import EndKind
from probe.session.timeouts import Phase

if TYPE_CHECKING:
    from probe.session.machine import Play, Session

FINAL_DOT = b".\r\n"
PROPER_END = b"\r\n.\r\n"
END_SOURCE = "RFC 5321 §4.1.1.4"
END_RULE = '"the sequence <LF>.<LF> ... MUST NOT be treated as equivalent to <CRLF>.<CRLF>"'


CHUNK = 64 * 1024  # a message file is read and sent this much at a time
KEPT = 64 * 1024  # of a streamed message, this much is kept for the report


def play(step: Step, s: Session) -> Play[None]:
    limit: int | None = None
    if step.oversize:
        limit = _size_limit(step, s)
        if limit is None:
            return
    source: int | None = None
    if step.file is not None and not step.expand:
        # Opened before DATA: a file that has gone since validation is the probe's problem,
        # found before the server waits for a message.
        try:
            source = open_regular(step.file)
        except InputFileError as exc:
            s.fail_step(step, f"message file {shown(step.file)}: {exc}; DATA was not sent")
            return
    try:
        yield from _play(step, s, source, limit)
    finally:
        if source is not None:
            os.close(source)


def _play(step: Step, s: Session, source: int | None, limit: int | None) -> Play[None]:
    start = yield from s.command(command_for(step), step)
    findings = [s.judge(start, step.expect)]
    exchanges = [start]
    if start.reply is not None and start.reply.code == 354:
        s.observe(start)
        if source is not None:
            end, end_findings = yield from stream(step, s, source)
        elif limit is not None:
            end, end_findings = yield from oversized(step, s, limit)
        elif step.hangup:
            end, end_findings = yield from hangup(step, s)
        else:
            end, end_findings = yield from message(step, s)
        exchanges.append(end)
        findings.append(end_findings)
    elif start.reply is not None:
        s.observe(start)
        # RFC 5321 §3.3: "message data MUST NOT be sent unless a 354 reply is received".
        findings[0].append(
            Finding(
                Verdict.PASS,
                f"no 354, so the message data was not sent (DATA got {start.reply.code})",
                "RFC 5321 §3.3",
            )
        )
    s.record(step, exchanges, findings)


def message(step: Step, s: Session) -> Play[tuple[Exchange, list[Finding]]]:
    """After a 354: send the message data and judge the reply to the final dot."""
    body = message_for(step)
    lookalike = _lookalike(body)
    # Nothing to mistake for the end: one write (and no copy of a large message).
    head, tail = split_final_dot(body) if lookalike is not None else (body, b"")
    end = Exchange("DATA-END", s.mask(body), s.now())
    extra: list[Finding] = []
    smuggled = False
    window, took = 0.0, ""
    if (yield from s.send(end, head, Phase.DATA_BLOCK, step.timeout)):
        if lookalike is not None:
            name, offset = lookalike
            window = s.window(step.settle) if step.settle is not None else s.end_window()
            took = (
                f"it took the {name} at offset {offset} of the message for the end of data, and "
                f"read the rest of the message as commands (SMTP smuggling; {END_RULE})"
            )
            early = yield from s.unsolicited(
                "before the final dot was sent",
                window,
                explain=f"the server answered before the final <CRLF>.<CRLF> was sent: {took}",
                source=END_SOURCE,
            )
            s.judge_later(early)
            smuggled = bool(early)
            if smuggled:
                # What the server answered is its reply to the end of data as it saw it; the
                # final dot is not sent (it would be read as a command).
                end.reply = s.take_unasked_reply()
                end.error = "the final dot was not sent: the server had already answered"
        sent = smuggled or not tail
        if not sent and s.model.usable:
            sent = yield from s.send(end, tail, Phase.DATA_BLOCK)
        if sent and not smuggled:
            yield from s.read_into(end, Phase.DATA_END, step.timeout)
            if lookalike is not None and end.reply is not None and s.model.usable:
                extra = yield from s.unsolicited(
                    "after the reply to the end of data",
                    window,
                    explain=f"more than one reply to the end of the message data: {took}",
                    source=END_SOURCE,
                )
                smuggled = smuggled or bool(extra)
    s.observe(end)  # whatever the reply, the transaction is over
    if smuggled:
        # The server reads our message as commands: what it answers next cannot be credited to
        # anything the scenario sends, so nothing more is sent.
        s.model.end(
            EndKind.OUT_OF_SYNC,
            f"out of sync: the server read part of the message in '{step.label}' as commands",
        )
    return end, s.judge(end, step.expect_end) + extra


def hangup(step: Step, s: Session) -> Play[tuple[Exchange, list[Finding]]]:
    """`hangup: true`: the message without its final dot, then the connection closed, as by a
    client that dies mid-DATA. Nothing comes back to judge; what the server does with the half
    message (RFC 5321 §4.1.1.10: it "MUST cancel any pending transaction") cannot be seen from
    here, only whether it serves the next session (a later `connect`)."""
    head, _ = split_final_dot(message_for(step))
    end = Exchange("DATA-END", s.mask(head), s.now())
    sent = yield from s.send(end, head, Phase.DATA_BLOCK, step.timeout)
    if not sent:
        return end, s.judge(end, None)
    yield from s.close()
    s.model.end(EndKind.HANGUP, "the probe hung up in the message data (hangup: true)")
    note = Finding(
        Verdict.PASS,
        f"hung up after {len(head)} octets of message data, before the final dot: the server "
        'MUST "cancel any pending transaction"',
        "RFC 5321 §4.1.1.10",
        topic="probe",
    )
    return end, [note]


def stream(step: Step, s: Session, source: int) -> Play[tuple[Exchange, list[Finding]]]:
    """After a 354: a message file, read and sent a chunk at a time (memory stays bounded by the
    chunk, whatever the file's size), line ends made CRLF and dot-stuffed on the way. A file
    with CRLF line ends only cannot hold an end-of-data lookalike, and bare ones are made CRLF:
    so there is nothing to split around the final dot."""
    encoder = DataEncoder()
    end = Exchange("DATA-END", b"", s.now())
    kept = bytearray()
    complete = False
    while True:
        try:
            chunk = os.read(source, CHUNK)
        except OSError as exc:
            end.error = f"message file {shown(step.file or '')}: {exc.strerror}"
            s.model.end(EndKind.SEND_FAILED, f"{end.error}; the message was left unfinished")
            break
        out = encoder.feed(chunk) if chunk else encoder.close()
        if len(kept) < KEPT:
            kept += out[: KEPT - len(kept)]
        if out and not (yield from s.send(end, out, Phase.DATA_BLOCK, step.timeout)):
            break
        if not chunk:
            complete = True
            break
    end.sent = s.mask(bytes(kept))
    name = Path(step.file or "").name
    end.streamed = Streamed(name, encoder.size, encoder.longest_line, encoder.eight_bit)
    if complete:
        yield from s.read_into(end, Phase.DATA_END, step.timeout)
    s.observe(end)
    findings = s.judge(end, step.expect_end)
    bare = [
        f"{n} bare {what}" for n, what in ((encoder.bare_lf, "LF"), (encoder.bare_cr, "CR")) if n
    ]
    if bare:
        findings.append(
            Finding(
                Verdict.INFO,
                f"the message file {name} has {' and '.join(bare)} line end(s); they were sent "
                "as CRLF, as SMTP requires",
                "RFC 5321 §2.3.8",
                topic="probe",
            )
        )
    return end, findings


def _size_limit(step: Step, s: Session) -> int | None:
    """`oversize: true`: the SIZE the server advertised (RFC 1870), or None when there is none
    to go past, or it is more than the probe sends (the step is then not applicable)."""
    params = s.model.facts.extensions.get("SIZE")
    limit = int(params[0]) if params and len(params) == 1 and params[0].isdigit() else 0
    if limit <= 0:
        s.not_applicable(step, "the server advertised no SIZE limit to go past (RFC 1870)")
        return None
    if limit >= MAX_OVERSIZE:
        s.not_applicable(
            step,
            f"the server's SIZE is {limit} octets; the probe sends at most "
            f"{MAX_OVERSIZE // (1024 * 1024)} MiB",
        )
        return None
    return limit


FILLER = b"x" * 78 + b"\r\n"  # a line of the padding: 80 octets, nothing to dot-stuff


def oversized(step: Step, s: Session, limit: int) -> Play[tuple[Exchange, list[Finding]]]:
    """After a 354: the body, then filler lines until the message is past `limit` octets (RFC
    1870 §3 counts the message without the dot-stuffing and the final dot), sent CHUNK octets at
    a time (memory stays flat), then the final dot; the reply to it is judged."""
    head, tail = split_final_dot(message_for(step))
    end = Exchange("DATA-END", s.mask(head[:KEPT]), s.now())
    lines = (limit - len(head)) // len(FILLER) + 1
    size = len(head) + lines * len(FILLER)
    block = FILLER * (CHUNK // len(FILLER))
    sent = yield from s.send(end, head, Phase.DATA_BLOCK, step.timeout)
    left = lines * len(FILLER)
    while sent and left > 0:
        piece = block[: min(left, len(block))]
        sent = yield from s.send(end, piece, Phase.DATA_BLOCK, step.timeout)
        left -= len(piece)
    if sent:
        sent = yield from s.send(end, tail, Phase.DATA_BLOCK, step.timeout)
    end.streamed = Streamed("the body padded past SIZE", size + len(tail), len(FILLER) - 2, False)
    if sent:
        yield from s.read_into(end, Phase.DATA_END, step.timeout)
    s.observe(end)
    note = Finding(
        Verdict.PASS,
        f"the message was padded to {size} octets, past the {limit} the server advertised in "
        "SIZE (RFC 1870)",
        topic="probe",
    )
    return end, [note, *s.judge(end, step.expect_end)]


def _lookalike(body: bytes) -> tuple[str, int] | None:
    """The end-of-data lookalike before the final dot, when the message ends properly and holds
    no proper end earlier (raw data may: then it goes out as written, in one write)."""
    global _LAST_LOOKALIKE
    last = _LAST_LOOKALIKE
    if last is not None and last[0] is body:
        return last[1]  # the same message (a step's, made once) in the session before
    found = _find_lookalike(body)
    if len(body) <= LOOKALIKE_KEPT:
        _LAST_LOOKALIKE = (body, found)
    return found


LOOKALIKE_KEPT = 16 * 1024  # octets: a larger message is not held for the next session


_LAST_LOOKALIKE: tuple[bytes, tuple[str, int] | None] | None = None


def _find_lookalike(body: bytes) -> tuple[str, int] | None:
    if not body.endswith(b"\r\n" + FINAL_DOT):
        return None
    end = len(body) - len(FINAL_DOT)  # searched in place: a large message is not copied
    if body.find(PROPER_END, 0, end) != -1:
        return None
    return end_lookalike(body, end)


def split_final_dot(body: bytes) -> tuple[bytes, bytes]:
    """(everything before the final `.<CRLF>`, the final `.<CRLF>`); raw data that does not end
    with `<CRLF>.<CRLF>` goes out whole."""
    if body.endswith(b"\r\n" + FINAL_DOT):
        return body[: -len(FINAL_DOT)], FINAL_DOT
    if body == FINAL_DOT:  # an empty message: no head to send first
        return b"", FINAL_DOT
    return body, b""
