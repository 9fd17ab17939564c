"""Progress of a run of several sessions on stderr, when stderr is a terminal: one line, redrawn
as each session ends (`[3/10] 2 pass, 1 fail  1.2 s  2.5/s`), and wiped before the report.
Nothing when stderr is a file or a pipe (CI logs), or with --quiet."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from probe.results import ServerResult, Verdict


class Progress:
    def __init__(
        self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.counts: dict[Verdict, int] = {}
        self.done = 0
        self._width = 0
        self._draw()

    @classmethod
    def wanted(cls, total: int, stream: TextIO, quiet: bool) -> bool:
        isatty = getattr(stream, "isatty", None)
        return total > 1 and not quiet and bool(isatty and isatty())

    def __call__(self, result: ServerResult) -> None:
        self.done += 1
        self.counts[result.verdict] = self.counts.get(result.verdict, 0) + 1
        self._draw()

    def line(self) -> str:
        elapsed = self.clock() - self.started
        tally = ", ".join(f"{n} {v}" for v, n in self.counts.items() if n) or "started"
        rate = f"{self.done / elapsed:.1f}/s" if elapsed > 0 and self.done else "-/s"
        return f"[{self.done}/{self.total}] {tally}  {elapsed:.1f} s  {rate}"

    def _draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Wipe the line, so the report starts on a clean one."""
        self.stream.write("\r" + " " * self._width + "\r")
        self.stream.flush()
