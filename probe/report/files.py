"""Writing report files atomically: write a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import re
from pathlib import Path


class ReportWriteError(Exception):
    """The report could not be written; the message says where and why."""


SLUG_MAX = 60  # characters of the scenario name kept in a report file name


def report_name(started_at: str, scenario: str) -> str:
    """smtp-probe-STAMP-NAME.json: the name reduced to [A-Za-z0-9_.-] and at most SLUG_MAX
    characters, with a short hash of the whole name when anything was cut or replaced."""
    stamp = re.sub(r"[^0-9T]", "", started_at)[:15]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario).strip("-.") or "run"
    if slug != scenario or len(slug) > SLUG_MAX:
        import hashlib

        digest = hashlib.sha256(scenario.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        slug = f"{slug[:SLUG_MAX].rstrip('-.')}-{digest}"
    return f"smtp-probe-{stamp}-{slug}.json"


def write_atomic(directory: Path, name: str, text: str) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        import tempfile  # here: a run that writes no report file does not pay for it

        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
        try:
            # Server text is decoded with replacement, scenario text checked before sending:
            # should anything still have no UTF-8 form, it is escaped, never a lost report.
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            final = directory / name
            os.replace(temp, final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReportWriteError(
            f"cannot write the report to {directory}: {exc.strerror or exc}"
        ) from None
    return final
