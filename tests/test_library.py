"""The scenario library: every bundled scenario says what it checks (`smtp-probe list`) and is
documented in the README; the end-of-data lookalikes the smuggling scenario relies on are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.protocol.encode import end_lookalike
from probe.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_each_scenario_has_a_description_and_a_readme_section(path: Path):
    scenario = load_scenario(path)
    assert scenario.description.strip(), f"{path.name}: no description"
    assert f"### `{scenario.name}`" in README, f"README has no section for {scenario.name}"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"a\n.\nb", "<LF>.<LF>"),
        (b"a\r.\rb", "<CR>.<CR>"),
        (b"a\r\n\x00.\r\nb", "<CRLF><NUL>.<CRLF>"),
    ],
)
def test_end_lookalikes(data: bytes, name: str):
    found = end_lookalike(data)
    assert found is not None and found[0] == name


def test_a_nul_inside_a_line_is_no_lookalike():
    assert end_lookalike(b"a\r\nb\x00.\r\nc") is None
