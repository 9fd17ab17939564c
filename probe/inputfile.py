"""Reading a file the user named (a scenario, a --targets list): only a regular file, never more
than a limit, and never a wait. A FIFO with no writer would block an open() for ever, a device
can be endless, a symbolic-link loop is not "no such file": each gets its own one-line reason."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class InputFileError(Exception):
    """Why the file cannot be read (one phrase, without the file name)."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: Path | str) -> int:
    """A file descriptor of a regular file, opened for reading without waiting (blocking again
    once it is known to be a regular file); InputFileError otherwise."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputFileError(_reason(exc)) from None
    except ValueError:  # a NUL in the name
        raise InputFileError("the name holds a NUL byte") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise InputFileError(f"is {kind}, not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def regular_file_problem(path: Path | str) -> str | None:
    """Why `path` cannot be read as a regular file, or None when it can."""
    try:
        os.close(open_regular(path))
    except InputFileError as exc:
        return str(exc)
    return None


def read_bounded(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (more than `limit` means: too large)."""
    fd = open_regular(path)
    try:
        if os.fstat(fd).st_size > limit:
            return b"x" * (limit + 1)  # the caller reports the size from stat
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise InputFileError(_reason(exc)) from None
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a regular file"
    return f"cannot read: {exc.strerror or exc}"


def shown(path: Path | str) -> str:
    """A file name (or any text) for a one-line message: line breaks and other control characters
    escaped (\\n, \\r, \\t, \\xHH, \\u2028), and bytes that were not UTF-8 as \\xHH."""
    text = str(path)
    if text.isprintable():  # no control character, no surrogate: the common case, at C speed
        return text
    out = []
    for char in text:
        point = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif point < 0x20 or 0x7F <= point <= 0x9F or 0xDC80 <= point <= 0xDCFF:
            out.append(f"\\x{point & 0xFF:02x}")
        elif point in (0x2028, 0x2029):  # line and paragraph separators
            out.append(f"\\u{point:04x}")
        else:
            out.append(char)
    return "".join(out)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
