"""docs/peer-suite.md: every step it cites exists in the bundled scenario it names, every check it
says smtp-probe makes cites at least one, and the counts in its intro are those of its tables.

A step is cited as `SCENARIO: STEP` in backticks: a bundled scenario's name, ": ", and the step's
label as the scenario gives it (its `name:`, or the default label, `${var}` unexpanded)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from functools import cache

import pytest
from conftest import ROOT

from probe.scenario import load_scenario
from probe.scenario.model import Step

DOC = ROOT / "docs" / "peer-suite.md"
TEXT = DOC.read_text(encoding="utf-8")
SCENARIOS = {path.stem: path for path in sorted((ROOT / "scenarios").glob("*.yaml"))}
SPAN = re.compile(r"`([^`\n]+)`")
REFERENCE = re.compile(r"([a-z][a-z0-9-]*): (.+)")

# The Status column's words, and the intro's counts-table row each one is counted in.
STATUSES = {
    "made": "made: the same exchange",
    "other level": "made at another level",
    "not made: store": "not made: cannot be seen on the wire",
    "not made: feature": "not made: a feature choice",
    "not made: wire": "not made: could be seen on the wire",
}
MADE = ("made", "other level")


def _walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        yield from _walk(step.steps)


@cache
def labels(scenario: str) -> frozenset[str]:
    return frozenset(step.label for step in _walk(load_scenario(SCENARIOS[scenario]).steps))


def references(text: str) -> list[tuple[str, str]]:
    """Every `scenario: step` in `text` whose scenario is a bundled one."""
    found = (REFERENCE.fullmatch(span) for span in SPAN.findall(text))
    return [(m[1], m[2]) for m in found if m and m[1] in SCENARIOS]


def cells(line: str) -> list[str]:
    """A table row's cells; a `|` inside backticks is no cell border."""
    parts = re.split(r"\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", line.strip())
    return [part.strip() for part in parts[1:-1]]


def check_rows() -> list[tuple[str, list[str]]]:
    """(section heading, cells) of every row of the per-file tables: numbered rows under a `##`
    heading that names a peer file."""
    rows = []
    section = ""
    for line in TEXT.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif section.endswith(".cs") and re.match(r"\|\s*\d+\s*\|", line):
            rows.append((section, cells(line)))
    return rows


def intro_counts() -> dict[str, int]:
    """The counts table of the intro: first cell -> number."""
    block = TEXT[TEXT.index("## Counts") : TEXT.index("## Where the two disagree")]
    counts = {}
    for line in block.splitlines():
        row = cells(line) if line.startswith("|") else []
        if len(row) == 2 and row[1].isdigit():
            counts[row[0]] = int(row[1])
    return counts


ROWS = check_rows()
REFERENCES = sorted(set(references(TEXT)))


def test_the_doc_has_its_tables():
    assert len({section for section, _ in ROWS}) == 18
    assert len(ROWS) == 148
    assert all(len(row) == 5 for _, row in ROWS), [r for r in ROWS if len(r[1]) != 5]


def test_the_reference_syntax_is_recognised():
    found = references("`desync: NOOP<LF>NOOP<CRLF>` and `tls: required`, `basic: quit`")
    assert found == [("desync", "NOOP<LF>NOOP<CRLF>"), ("basic", "quit")]
    assert len(REFERENCES) > 100


@pytest.mark.parametrize("scenario,step", REFERENCES, ids=lambda v: v)
def test_every_cited_step_exists(scenario: str, step: str):
    assert step in labels(scenario), f"{scenario} has no step {step!r}"


def test_a_step_that_does_not_exist_is_caught():
    assert "NOOP<LF>NOOP<CRLF>" in labels("desync")
    assert "NOOP<LF>NOOP" not in labels("desync")


@pytest.mark.parametrize("section,row", ROWS, ids=lambda v: v if isinstance(v, str) else v[0])
def test_every_row_has_a_status_and_made_rows_cite_a_step(section: str, row: list[str]):
    status = row[4]
    assert status in STATUSES, f"{section} #{row[0]}: unknown status {status!r}"
    if status in MADE:
        assert references(row[3]), f"{section} #{row[0]} is {status} but cites no step"
    else:
        assert row[3].startswith("not made"), f"{section} #{row[0]}: say why it is not made"


def test_the_counts_are_the_rows_of_the_tables():
    counts = intro_counts()
    tally = Counter(row[4] for _, row in ROWS)
    for status, label in STATUSES.items():
        [given] = [n for name, n in counts.items() if name.startswith(label)]
        assert given == tally[status], f"{label}: intro {given}, tables {tally[status]}"
    assert counts["total"] == len(ROWS) == sum(tally.values())


def test_the_readme_points_here_with_the_same_counts():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/peer-suite.md" in readme
    tally = Counter(row[4] for _, row in ROWS)
    made = tally["made"] + tally["other level"]
    paragraph = readme[readme.index("A peer suite") :].split("\n\n", 1)[0]
    numbers = [int(n) for n in re.findall(r"\b(\d+)\b", paragraph)]
    kinds = ["not made: store", "not made: feature", "not made: wire"]
    wanted = [len(ROWS), made, tally["other level"], len(ROWS) - made, *(tally[k] for k in kinds)]
    assert numbers == wanted, paragraph
