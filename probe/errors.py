"""Problems found in scenario input, each printed as `file:line:column: message`."""

from __future__ import annotations

from probe.inputfile import shown
from probe.record import record


@record(frozen=True, slots=True)
class ScenarioProblem:
    file: str
    message: str
    line: int | None = None  # None when no position exists (empty file, missing path)
    column: int | None = None

    def __str__(self) -> str:
        # A newline or TAB in a file name, or in text a message quotes (a pattern RE2 refused),
        # must not break the line.
        file, message = shown(self.file), shown(self.message)
        if self.line is None:
            return f"{file}: {message}"
        return f"{file}:{self.line}:{self.column or 1}: {message}"


class ScenarioError(Exception):
    """One or more problems in scenario input; nothing was sent."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:  # built when asked for: a file may have thousands of problems
        return "\n".join(str(p) for p in self.problems)
