"""Bad input through the CLI's own entry point: every malformed scenario in the corpus, a missing
path and an empty folder give exit 2 and only `file:line:col: message` (or `file: message`)
lines, never a traceback, and nothing is sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probe.cli import main

BAD = Path(__file__).parent / "scenarios_bad"
VALID = {  # hostile but valid (tests/test_scenario_corpus.py checks them)
    line.partition(" | ")[0]
    for line in (BAD / "expected.txt").read_text(encoding="utf-8").splitlines()
    if line.endswith(" | ok")
}
CORPUS = sorted(p for p in BAD.iterdir() if p.suffix in (".yaml", ".yml") and p.name not in VALID)
LINE = re.compile(r"^(?P<file>.+?)(:\d+:\d+)?: \S")


def _problem_lines(stderr: str, path: Path) -> list[str]:
    lines = stderr.splitlines()
    assert lines, "no message at all"
    for line in lines:
        match = LINE.match(line)
        assert match and match["file"] == str(path), f"not a file:line:col line: {line!r}"
    return lines


def test_the_corpus_has_at_least_30_files():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_each_malformed_scenario_gives_exit_2_and_positioned_lines(command, path, capsys):
    # `run` names a port nothing listens on: exit 2 proves validation stopped it first.
    args = [command, str(path)] + (["127.0.0.1:9", "--no-report"] if command == "run" else [])
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    _problem_lines(err, path)


def test_a_missing_path_and_an_empty_folder_are_clear_errors(tmp_path: Path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["validate", str(missing)]) == 2
    _problem_lines(capsys.readouterr().err, missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(empty), "127.0.0.1:9"]) == 2
    assert "no scenario files" in _problem_lines(capsys.readouterr().err, empty)[0]
