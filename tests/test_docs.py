"""docs/scenarios.md: its key tables are the ones the schema's descriptions come from, and every
example in it is a complete scenario that validates and passes against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from probe.scenario.keydocs import markdown

DOC = ROOT / "docs" / "scenarios.md"
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```yaml\n(.*?)```", TEXT, flags=re.S)
MESSAGE = b"Subject: from a file\r\n\r\nA message file, as it is.\r\n"


def test_the_key_tables_are_generated_from_the_schema_descriptions():
    begin = "<!-- BEGIN generated: python -m probe.scenario.keydocs -->\n\n"
    end = "\n<!-- END generated -->"
    generated = TEXT[TEXT.index(begin) + len(begin) : TEXT.index(end)]
    assert generated == markdown(), "run: python -m probe.scenario.keydocs, paste into the doc"


def test_the_doc_has_examples():
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split("\n", 1)[0])
def test_every_example_validates_and_passes_against_aiosmtpd(
    cli, aiosmtpd_server: str, tmp_path: Path, example: str
):
    (tmp_path / "msg.eml").write_bytes(MESSAGE)
    scenario = tmp_path / "example.yaml"
    scenario.write_text(example, encoding="utf-8")
    checked = cli("validate", str(scenario))
    assert checked.code == 0, checked.stderr
    result = cli("run", str(scenario), aiosmtpd_server, "--var", "domain=example.test", "-v")
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS"), result.stdout
