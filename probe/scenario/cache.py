"""A cache of parsed and validated scenarios, so that a run whose scenario file has not changed
skips the YAML parser and the validating loader (a cold start cost).

The YAML file stays the source of truth. An entry is used only when everything that went into it
is the same, compared exactly (not by a hash): the file's bytes, the path as given (positions and
the default name come from it), the Python version, and the smtp-probe package itself (its version
and the name, size and modification time of each of its files). Anything else is a miss, and the
file is loaded as if there were no cache. A corrupt, foreign or unreadable entry is ignored.

Not cached: a scenario whose steps name a message file (`data: {file: ...}`: loading checks that
file, so its answer depends on more than the scenario's bytes), a folder of scenarios, a load with
a `check` (validate), and a scenario that does not come back equal from its stored form.

Where: $SMTP_PROBE_CACHE_DIR, else $XDG_CACHE_HOME/smtp-probe, else ~/.cache/smtp-probe; a folder
of this user's, not writable by others (else the cache is not used). SMTP_PROBE_NO_CACHE=1 turns it
off. Entries are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from probe import __version__

if TYPE_CHECKING:
    from probe.scenario.model import Scenario, Step

MAGIC = b"smtp-probe scenario cache 1\n"
MAX_ENTRY = 4 * 1024 * 1024  # bytes; an entry larger than this is not read
MAX_SOURCE = 256 * 1024  # bytes, as probe.scenario.yamlnodes.MAX_BYTES: a larger file never loads
_fingerprint: str | None = None


def load_path(path: Path, check: Callable[[Scenario], object] | None = None) -> list[Scenario]:
    """`probe.scenario.loader.load_path`, through the cache where it can be."""
    path = Path(path)
    folder = cache_dir() if check is None else None
    data = _regular_bytes(path) if folder is not None else None
    if folder is not None and data is not None:
        hit = _read(folder, _header(path, data))
        if hit is not None:
            return [hit]
    from probe.scenario.loader import load_path as load

    scenarios = load(path, check)
    # Stored only if the file did not change while it was being loaded.
    if (
        folder is not None
        and data is not None
        and len(scenarios) == 1
        and _regular_bytes(path) == data
        and cacheable(scenarios[0])
    ):
        _write(folder, _header(path, data), scenarios[0])
    return scenarios


def cacheable(scenario: Scenario) -> bool:
    """Whether the scenario depends on nothing but its own file's bytes and path."""
    return not any(step.file is not None for step in _all_steps(scenario.steps))


def _all_steps(steps: Iterable[Step]) -> Iterable[Step]:
    for step in steps:
        yield step
        yield from _all_steps(step.steps)
        if step.template is not None:
            yield from _all_steps((step.template,))


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off or the folder is not safely ours."""
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
    folder = base / "scenarios"
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


def _regular_bytes(path: Path) -> bytes | None:
    """The file's bytes if it is a regular file of at most the loader's size (else None: the
    loader reports what is wrong with it)."""
    from probe.inputfile import InputFileError, read_bounded

    try:
        data = read_bounded(path, MAX_SOURCE)
    except (InputFileError, OSError, ValueError):
        return None
    return data if len(data) <= MAX_SOURCE else None


def fingerprint() -> str:
    """The Python version, and smtp-probe's version and files (name, size, mtime)."""
    global _fingerprint
    if _fingerprint is None:
        root = Path(__file__).resolve().parent.parent
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


def _header(path: Path, data: bytes) -> bytes:
    return marshal.dumps((fingerprint(), str(path), data))


def _entry_path(folder: Path, header: bytes) -> Path:
    return folder / f"{zlib.crc32(header):08x}-{len(header):x}.entry"


def _read(folder: Path, header: bytes) -> Scenario | None:
    entry = _entry_path(folder, header)
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
    try:
        import pickle

        from probe.scenario.model import Scenario

        scenario = pickle.loads(blob[size:])
    except Exception:  # a corrupt entry is a miss, whatever unpickling raised
        return None
    return scenario if isinstance(scenario, Scenario) else None


def _write(folder: Path, header: bytes, scenario: Scenario) -> None:
    import pickle
    import tempfile

    try:
        body = pickle.dumps(scenario, protocol=pickle.HIGHEST_PROTOCOL)
        if pickle.loads(body) != scenario:
            return  # something in it does not survive the round trip: never cached
    except Exception:  # not picklable (a compiled pattern, say): not cached
        return
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
            os.replace(temporary, _entry_path(folder, header))
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass  # a cache that cannot be written is no cache; the run goes on
