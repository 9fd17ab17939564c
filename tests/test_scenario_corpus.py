"""The malformed-file corpus (tests/scenarios_bad/), huge files, and arbitrary input.

Each corpus file must be refused with exactly the problems tests/scenarios_bad/expected.txt lists
for it, except the few listed as "ok" (hostile but valid: they must load); whatever bytes a file
holds, loading raises ScenarioError or returns a Scenario, nothing else.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.scenario import Scenario, ScenarioError, bind, load_path, load_scenario
from probe.scenario.grammar import COMMON_KEYS, KIND_NAMES, TOP_KEYS
from probe.scenario.yamlnodes import MAX_BYTES

CORPUS = Path(__file__).resolve().parent / "scenarios_bad"


def _expected() -> list[tuple[str, str]]:
    entries = []
    for line in (CORPUS / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, fragment = line.partition(" | ")
            entries.append((name.strip(), fragment.strip()))
    return entries


EXPECTED = _expected()
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.txt")
VALID = sorted(name for name, fragment in EXPECTED if fragment == "ok")


def reported(path: Path) -> list[str]:
    """The problems for one file, each without the leading "PATH:" (so "3:1: ..." or "...")."""
    with pytest.raises(ScenarioError) as info:
        # What `validate` does, and `run` before it connects: load, then bind (with placeholders
        # for values a file leaves to --var or the environment).
        bind(load_scenario(path), {}, {}, placeholders=True)
    out = []
    for problem in info.value.problems:
        text = str(problem)
        assert text.startswith(str(path)), text
        out.append(text[len(str(path)) :].lstrip(":").strip())
    return out


def test_the_corpus_is_big_enough_and_fully_listed() -> None:
    assert len(FILES) >= 30
    assert sorted({name for name, _ in EXPECTED}) == FILES


@pytest.mark.parametrize(
    ("name", "fragment"), EXPECTED, ids=[f"{n}@{f.split(':')[0]}" for n, f in EXPECTED]
)
def test_corpus_file_reports_the_expected_problem(name: str, fragment: str) -> None:
    if fragment == "ok":
        bind(load_scenario(CORPUS / name), {}, {}, placeholders=True)
        return
    problems = reported(CORPUS / name)
    assert any(p.startswith(fragment) for p in problems), problems


@pytest.mark.parametrize("name", sorted(set(FILES) - set(VALID)))
def test_corpus_file_reports_nothing_unlisted(name: str) -> None:
    listed = Counter(n for n, _ in EXPECTED)[name]
    assert len(reported(CORPUS / name)) == listed


@pytest.mark.parametrize("name", VALID)
def test_a_hostile_valid_file_validates_and_gets_a_safe_report_name(
    cli, tmp_path: Path, name: str
) -> None:
    path = CORPUS / name
    scenario = load_scenario(path)
    assert cli("validate", str(path)).stdout == f"{path}: ok, {len(scenario.steps)} steps\n"
    # A session that cannot connect still writes its report (nothing listens on port 9).
    result = cli("run", str(path), "127.0.0.1:9", "--report-dir", "reports", timeout=60)
    assert result.code == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (report,) = (tmp_path / "reports").iterdir()  # the CLI runs in tmp_path
    assert re.fullmatch(
        r"smtp-probe-\d{8}T\d{6}-[A-Za-z0-9_.-]{1,60}-[0-9a-f]{8}\.json", report.name
    )
    assert json.loads(report.read_text(encoding="utf-8"))["results"][0]["scenario"] == (
        scenario.name
    )


def test_validating_the_corpus_folder_reports_every_file(cli) -> None:
    # What `validate FOLDER` does: load each file and bind it with placeholders.
    with pytest.raises(ScenarioError) as info:
        load_path(CORPUS, lambda s: bind(s, {}, {}, placeholders=True))
    assert {Path(p.file).name for p in info.value.problems} == set(FILES) - set(VALID)
    # The CLI prints the first 50 problems and counts the rest.
    result = cli("validate", str(CORPUS), timeout=60)
    assert result.code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 51 and lines[-1].startswith("… and ")


def test_a_very_large_file_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("steps:\n" + "  - noop\n" * 600_000)  # about 5 MB
    size = path.stat().st_size
    started = time.monotonic()
    assert reported(path) == [
        f"file is {size} bytes, the limit is {MAX_BYTES} (256 KiB); a scenario this large is "
        "probably not a scenario"
    ]
    assert time.monotonic() - started < 1


def test_a_file_just_under_the_limit_loads(tmp_path: Path) -> None:
    step = '  - rcpt: {to: "postmaster@example.test", expect: 250, why: "RFC 5321 §4.5.1"}\n'
    count = (MAX_BYTES - 100) // len(step.encode())
    path = tmp_path / "big.yaml"
    path.write_text("steps:\n" + step * count, encoding="utf-8")
    assert path.stat().st_size <= MAX_BYTES
    started = time.monotonic()
    assert len(load_scenario(path).steps) == count
    assert time.monotonic() - started < 20


def test_an_alias_bomb_is_cheap(tmp_path: Path) -> None:
    lines = ["x-0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"x-{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nsteps:\n  - noop: {name: *a8}\n")
    started = time.monotonic()
    assert reported(path) == ["11:18: 'name' must be text, got a list"]
    assert time.monotonic() - started < 2


# --- arbitrary input ---------------------------------------------------------------------------

_WORDS = [*KIND_NAMES, *COMMON_KEYS, *TOP_KEYS, "to", "from", "body", "raw", "code", "text"]
_PIECES = st.sampled_from(
    [
        *_WORDS,
        ":",
        ": ",
        "- ",
        "\n",
        "\n  ",
        "\n    ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "#",
        "&a",
        "*a",
        "'",
        '"',
        "|",
        "${",
        "}",
        "${x}",
        "$${",
        "\\",
        "\t",
        "250",
        "5xx",
        "2x5",
        "\x00",
        "é",
        "-1",
    ]
)
# tmp_path is shared by a test's examples: each example rewrites the same file.
_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load_quietly(path: Path) -> None:
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        assert exc.problems
        return
    assert isinstance(scenario, Scenario)
    try:
        bind(scenario, {}, {"X": "secret"})
    except ScenarioError as exc:
        assert exc.problems


@_FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_scenario_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "text.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load_quietly(path)


@_FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_scenario_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bytes.yaml"
    path.write_bytes(data)
    _load_quietly(path)


@_FUZZ
@given(st.lists(_PIECES, max_size=50).map("".join))
def test_scenario_shaped_text_raises_only_scenario_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "shaped.yaml"
    path.write_text("steps:\n  - " + text, encoding="utf-8")
    _load_quietly(path)
