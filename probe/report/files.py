"""Writing report files atomically: write a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


class ReportWriteError(Exception):
    """The report could not be written; the message says where and why."""


def report_name(started_at: str, scenario: str) -> str:
    stamp = re.sub(r"[^0-9T]", "", started_at)[:15]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario).strip("-") or "run"
    return f"smtp-probe-{stamp}-{slug}.json"


def write_atomic(directory: Path, name: str, text: str) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
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
