"""Secrets out of everything the session keeps: what it sent, and what a server echoed back."""

from __future__ import annotations

from probe.protocol.reader import build_reply, line_problems, parse_line
from probe.protocol.reply import Reply, ReplyLine
from probe.session.commands import MASK


class Masker:
    def __init__(self, secrets: list[bytes]) -> None:
        self.secrets = secrets  # every wire form of every secret, longest first

    def add(self, forms: list[bytes]) -> None:
        new = [form for form in forms if form and form not in self.secrets]
        if new:
            self.secrets = sorted([*self.secrets, *new], key=len, reverse=True)

    def bytes(self, data: bytes) -> bytes:
        for secret in self.secrets:
            data = data.replace(secret, MASK)
        return data

    def reply(self, reply: Reply) -> Reply:
        """A server may echo a secret (a hostile one will): mask it, then judge the masked reply,
        since findings quote cut-off text that the report's redactor could not recognise."""
        if not self.secrets:
            return reply  # the common case: nothing to mask, and the lines need not be made
        if not any(secret in line.raw for line in reply.lines for secret in self.secrets):
            return reply
        lines: list[ReplyLine] = []
        problems = []
        for number, line in enumerate(reply.lines, 1):
            masked = parse_line(self.bytes(line.raw), line.ending)
            problems += line_problems(masked, number, lines[0].code if lines else None)
            lines.append(masked)
        return build_reply(lines, problems)
