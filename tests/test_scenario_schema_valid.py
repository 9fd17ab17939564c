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


def _yaml12_number(text: str) -> float | str:
    """What a YAML 1.2 editor makes of a plain scalar: a number when it looks like one."""
    import re

    number = r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    return float(text) if re.fullmatch(number, text) else text


def test_the_schema_and_the_loader_agree_on_numbers(tmp_path: Path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from probe.scenario import ScenarioError, load_scenario

    validator = jsonschema.Draft202012Validator(json_schema())
    texts = st.one_of(
        st.integers(-5, 10**6).map(str),
        st.floats(-1e6, 1e6, allow_nan=False).map(repr),
        st.floats(1e-3, 1e6).map(lambda f: f"{f:e}"),
        st.floats(1e-3, 1e6).map(lambda f: f"{f:E}"),
        st.sampled_from(["1e3", "1E3", ".5", "5.", "+2", "0", "-0.0", "1e-2", "2.5e+1"]),
    )

    @settings(max_examples=150, deadline=None)
    @given(texts)
    def check(text: str) -> None:
        path = tmp_path / "n.yaml"
        path.write_text(f"name: n\nsteps:\n  - noop: {{timeout: {text}}}\n", encoding="utf-8")
        document = {"name": "n", "steps": [{"noop": {"timeout": _yaml12_number(text)}}]}
        schema_ok = validator.is_valid(document)
        try:
            load_scenario(path)
            loader_ok = True
        except ScenarioError:
            loader_ok = False
        assert schema_ok == loader_ok, (text, schema_ok, loader_ok)

    check()
