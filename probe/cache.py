"""The cache folder: entries of parsed input (scenarios, the code table) that a cold run
reads instead of parsing again, each used only when everything that went into it is the same.

An entry is MAGIC, a header, then a pickle. The header is compared exactly (not by a hash) and
always carries `fingerprint()`: the Python version and the smtp-probe package itself (its version
and the name, size and modification time of each of its files), so that any change to the code or
to its data files is a miss. A corrupt, foreign or unreadable entry is a miss too.

Where: $SMTP_PROBE_CACHE_DIR, else $XDG_CACHE_HOME/smtp-probe, else ~/.cache/smtp-probe; a folder
of this user's, not writable by others (else the cache is not used: entries are unpickled).
SMTP_PROBE_NO_CACHE=1 turns it off. Entries are written atomically (a temporary file, then a
rename).
"""

from __future__ import annotations

import os
import stat
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from probe import __version__

T = TypeVar("T")

MAGIC = b"smtp-probe scenario cache 1\n"
MAX_ENTRY = 4 * 1024 * 1024  # bytes; an entry larger than this is not read
_fingerprint: str | None = None


def cache_dir(kind: str) -> Path | None:
    """The folder for entries of one kind ("scenarios", "tables"), or None when the cache is off
    or the folder is not safely ours."""
    if os.environ.get("SMTP_PROBE_NO_CACHE", "") not in ("", "0"):
        return None
    given = os.environ.get("SMTP_PROBE_CACHE_DIR")
    if given:
        base = Path(given)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        home = os.path.expanduser("~")
        if not xdg and home == "~":
            return None
        base = Path(xdg) if xdg else Path(home) / ".cache"
        base = base / "smtp-probe"
    folder = base / kind
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return folder  # made when the first entry is written
    except OSError:
        return None
    return folder if _private(info) else None


def _private(info: os.stat_result) -> bool:
    """A folder of this user's that no one else may write to (entries are unpickled)."""
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def fingerprint() -> str:
    """The Python version, and smtp-probe's version and files (name, size, mtime)."""
    global _fingerprint
    if _fingerprint is None:
        root = Path(__file__).resolve().parent
        parts = [sys.version, __version__, str(root)]
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".yaml")):
                    try:
                        info = os.stat(os.path.join(folder, name))
                    except OSError:
                        continue
                    parts.append(f"{folder}/{name} {info.st_size} {info.st_mtime_ns}")
        _fingerprint = "\n".join(parts)
    return _fingerprint


def entry_path(folder: Path, header: bytes) -> Path:
    return folder / f"{zlib.crc32(header):08x}-{len(header):x}.entry"


def read_entry(folder: Path, header: bytes, kind: type[T]) -> T | None:
    """The object stored under `header`, if it is there, intact, ours, and a `kind`."""
    body = read_blob(folder, header)
    if body is None:
        return None
    try:
        import pickle

        value = pickle.loads(body)
    except Exception:  # a corrupt entry is a miss, whatever unpickling raised
        return None
    return value if isinstance(value, kind) else None


def read_blob(folder: Path, header: bytes) -> bytes | None:
    """The bytes stored under `header`, if the entry is there, ours, and made with that header."""
    entry = entry_path(folder, header)
    try:
        with open(entry, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                return None
            if info.st_size > MAX_ENTRY:
                return None
            blob = handle.read(MAX_ENTRY + 1)
    except OSError:
        return None
    size = len(MAGIC) + len(header)
    if blob[: len(MAGIC)] != MAGIC or blob[len(MAGIC) : size] != header:
        return None  # another file's entry, an older smtp-probe's, or corrupt
    return blob[size:]


def write_entry(folder: Path, header: bytes, value: Any, same: Callable[[Any, Any], bool]) -> None:
    """Store `value` under `header`, unless it does not come back `same` from its pickle."""
    import pickle

    try:
        body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if not same(pickle.loads(body), value):
            return  # something in it does not survive the round trip: never cached
    except Exception:  # not picklable (a compiled pattern, say): not cached
        return
    write_blob(folder, header, body)


def write_blob(folder: Path, header: bytes, body: bytes) -> None:
    """Store `body` under `header`, atomically; a folder that cannot be written is no cache."""
    import tempfile

    blob = MAGIC + header + body
    if len(blob) > MAX_ENTRY:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(os.stat(folder)):
            return
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".entry-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(temporary, entry_path(folder, header))
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass  # a cache that cannot be written is no cache; the run goes on
