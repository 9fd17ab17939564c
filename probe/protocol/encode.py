"""Encoding what the client sends (RFC 5321 §2.3.8, §4.1.1, §4.5.2)."""

from __future__ import annotations

import re
from typing import Final

_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")
_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)  # after normalising, "^" follows only LF
END_OF_DATA: Final = b".\r\n"

_SIMPLE_ESCAPES: Final = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _quote(escape: str) -> str:
    return f"'{escape}'" if escape.isprintable() else ascii(escape)


class EscapeError(ValueError):
    """A raw-bytes string has a bad escape; the message says where.

    `offset` is the index in the string of the backslash that starts the bad escape, `escape` the
    escape as written (e.g. "\\\\q", "\\\\x4", or "\\\\" alone at the end).
    """

    def __init__(self, message: str, offset: int = -1, escape: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.escape = escape


def bracketed(address: str) -> str:
    """A path as MAIL/RCPT send it: angle brackets added unless the scenario wrote its own
    (then it is sent as written, malformed or not)."""
    address = address.strip()
    return address if address.startswith("<") else f"<{address}>"


def encode_command(line: str) -> bytes:
    """A command line (without line end) -> bytes ending in CRLF. UTF-8 for non-ASCII.

    The line is sent as given: CR or LF inside it is not removed (sending them is the caller's
    choice; use raw mode with `decode_escapes` for deliberate byte-level probes). Lone surrogates
    from `surrogateescape` decoding turn back into the bytes they stood for.
    """
    return line.encode("utf-8", "surrogateescape") + b"\r\n"


def encode_data(body: str | bytes) -> bytes:
    """A message body -> bytes to send after 354: line ends normalised to CRLF, lines starting with
    "." dot-stuffed (§4.5.2), a final CRLF added if missing, then ".\\r\\n".

    CRLF, bare LF and bare CR each count as one line end. A str body is encoded as UTF-8. An empty
    body gives just ".\\r\\n" (the CRLF ending the DATA command line starts the terminator).
    """
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else bytes(body)
    data = _ANY_LINE_END.sub(b"\r\n", data)
    data = _LINE_START_DOT.sub(b"..", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + END_OF_DATA


_EIGHT_BIT = re.compile(rb"[\x80-\xff]")


class DataEncoder:
    """`encode_data`, a chunk at a time: a message file of any size goes out in bounded memory,
    byte for byte what `encode_data` would send for the whole. It also counts what a report
    needs: bare LF and bare CR line ends (sent as CRLF), the longest line, 8-bit bytes.

    A CR at the end of a chunk is held back until the next one tells whether an LF follows.
    """

    def __init__(self) -> None:
        self._held_cr = False
        self._at_line_start = True
        self._line = 0  # octets of the current line so far
        self.size = 0  # octets produced
        self.bare_lf = 0
        self.bare_cr = 0
        self.longest_line = 0
        self.eight_bit = False

    def feed(self, chunk: bytes) -> bytes:
        data = (b"\r" if self._held_cr else b"") + chunk
        self._held_cr = data.endswith(b"\r")
        if self._held_cr:
            data = data[:-1]
        return self._encode(data)

    def close(self) -> bytes:
        """The rest: a held CR (a line end), a final CRLF if missing, then the final dot."""
        out = self._encode(b"\r" if self._held_cr else b"")
        self._held_cr = False
        if not self._at_line_start:
            out += self._encode(b"\r\n")
        self.size += len(END_OF_DATA)
        return out + END_OF_DATA

    def _encode(self, data: bytes) -> bytes:
        if not data:
            return b""
        crlf = data.count(b"\r\n")
        self.bare_lf += data.count(b"\n") - crlf
        self.bare_cr += data.count(b"\r") - crlf
        self.eight_bit = self.eight_bit or _EIGHT_BIT.search(data) is not None
        data = _ANY_LINE_END.sub(b"\r\n", data)
        if self._at_line_start and data.startswith(b"."):
            data = b"." + data
        data = data.replace(b"\n.", b"\n..")
        lines = data.split(b"\r\n")
        if len(lines) == 1:
            self._line += len(lines[0])
            self.longest_line = max(self.longest_line, self._line)
        else:
            longest = max(self._line + len(lines[0]), *(len(line) for line in lines[1:]))
            self.longest_line = max(self.longest_line, longest)
            self._line = len(lines[-1])
        self._at_line_start = data.endswith(b"\r\n")
        self.size += len(data)
        return data


def decode_escapes(text: str) -> bytes:
    """Raw-mode bytes from a scenario string: \\r \\n \\t \\0 \\\\ \\xHH; other characters as UTF-8.
    Raises EscapeError (with the offset) on a bad escape.

    `\\xHH` takes exactly two hex digits (either case); `\\0` is one NUL byte whatever follows.
    """
    out = bytearray()
    start = 0
    while True:
        slash = text.find("\\", start)
        if slash < 0:
            out += text[start:].encode("utf-8", "surrogateescape")
            return bytes(out)
        out += text[start:slash].encode("utf-8", "surrogateescape")
        letter = text[slash + 1 : slash + 2]
        if letter == "":
            raise EscapeError(
                f"backslash at offset {slash} ends the text; write \\\\ for a backslash",
                slash,
                "\\",
            )
        if letter in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[letter]
            start = slash + 2
        elif letter == "x":
            digits = text[slash + 2 : slash + 4]
            if len(digits) != 2 or not set(digits) <= _HEX:
                escape = "\\x" + digits
                raise EscapeError(
                    f"bad escape {_quote(escape)} at offset {slash}: \\x needs two hex digits",
                    slash,
                    escape,
                )
            out.append(int(digits, 16))
            start = slash + 4
        else:
            escape = "\\" + letter
            raise EscapeError(
                f"bad escape {_quote(escape)} at offset {slash}: use \\r \\n \\t \\0 \\\\ or \\xHH",
                slash,
                escape,
            )


# Sequences a careless server may take for the end of data instead of <CRLF>.<CRLF> (RFC 5321
# §4.1.1.4: "<LF>.<LF> ... MUST NOT be treated as equivalent to <CRLF>.<CRLF>"); the ones behind
# the SMTP smuggling attacks.
_LOOKALIKES: Final = (
    (re.compile(rb"(?<!\r)\n\.\n"), "<LF>.<LF>"),
    (re.compile(rb"(?<!\r)\n\.\r\n"), "<LF>.<CRLF>"),
    (re.compile(rb"\r\n\.\n"), "<CRLF>.<LF>"),
    (re.compile(rb"\r\.\r(?!\n)"), "<CR>.<CR>"),
    (re.compile(rb"\r\.\r\n"), "<CR>.<CRLF>"),
    (re.compile(rb"\r\n\.\r(?!\n)"), "<CRLF>.<CR>"),
    (re.compile(rb"(?<!\r)\n\.\r(?!\n)"), "<LF>.<CR>"),
    # A NUL before the dot: a server that drops NULs sees <CRLF>.<CRLF>.
    (re.compile(rb"\r\n\x00\.\r\n"), "<CRLF><NUL>.<CRLF>"),
)


def end_lookalike(data: bytes, end: int | None = None) -> tuple[str, int] | None:
    """The first sequence in `data` (up to `end`) that is not <CRLF>.<CRLF> but could be taken for
    the end of mail data, and its offset; None if there is none."""
    stop = len(data) if end is None else end
    found = [
        (m.start(), name) for pattern, name in _LOOKALIKES if (m := pattern.search(data, 0, stop))
    ]
    if not found:
        return None
    offset, name = min(found)
    return name, offset
