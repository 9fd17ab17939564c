"""The shipped JSON Schema checked by a real validator: it is a valid 2020-12 schema, the bundled
scenarios conform to it, and files the loader refuses for their shape are refused by it too."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT

from probe.scenario.schema import json_schema

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BAD = Path(__file__).parent / "scenarios_bad"


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_scenarios_conform_to_the_schema(path: Path):
    errors = list(VALIDATOR.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(
    "name",
    [
        "unknown_step_kind.yaml",
        "unknown_top_key.yaml",
        "unknown_step_key.yaml",
        "missing_steps.yaml",
        "steps_not_list.yaml",
        "wrong_type_timeout.yaml",
        "expect_bad_level.yaml",
        "top_level_list.yaml",
    ],
)
def test_shape_errors_the_loader_refuses_are_schema_errors_too(name: str):
    document = yaml.safe_load((BAD / name).read_text(encoding="utf-8"))
    assert list(VALIDATOR.iter_errors(document)), f"the schema accepts {name}"
