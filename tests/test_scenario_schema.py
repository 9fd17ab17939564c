"""The JSON Schema for editors says what the loader accepts: same kinds, same keys, same codes.

(Validating files against it needs the jsonschema package, which the project does not depend on;
so these tests compare the schema's structure with the loader's tables instead.)
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from probe.scenario import StepKind
from probe.scenario.expectations import CODE_RE
from probe.scenario.grammar import (
    COMMON_KEYS,
    EXPECT_KEYS,
    EXTENSION_PREFIX,
    KINDS,
    LEVELS,
    MECHANISMS,
    PIPELINE_MEMBERS,
    TOP_KEYS,
    Arg,
)
from probe.scenario.schema import json_schema

SCHEMA = json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].removeprefix("#/$defs/")]
    return schema


def objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas among a schema's alternatives."""
    schema = resolve(schema)
    if schema.get("type") == "object":
        return [schema]
    return [o for alt in schema.get("anyOf", []) for o in objects(alt)]


def test_schema_is_draft_2020_12_json() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA


def test_top_level_keys_match_the_loader() -> None:
    assert set(SCHEMA["properties"]) == set(TOP_KEYS)
    assert SCHEMA["required"] == ["steps"]
    assert SCHEMA["additionalProperties"] is False
    assert list(SCHEMA["patternProperties"]) == [f"^{EXTENSION_PREFIX}"]


def test_every_step_kind_is_described() -> None:
    assert {k.removeprefix("step_") for k in DEFS if k.startswith("step_")} == {
        k.value for k in StepKind
    }
    # One shape per kind, chosen by its key: if {required: [kind]} then step_<kind>.
    dispatch = {
        rule["if"]["required"][0]: rule["then"].get("$ref")
        for rule in DEFS["step"]["allOf"]
        if "required" in rule["if"]
    }
    assert {k: v for k, v in dispatch.items() if k not in ("use", "group")} == {
        k.value: f"#/$defs/step_{k.value}" for k in StepKind
    }


@pytest.mark.parametrize("kind", list(StepKind), ids=lambda k: k.value)
def test_each_kind_accepts_exactly_the_loaders_keys(kind: StepKind) -> None:
    spec = KINDS[kind]
    step = DEFS[f"step_{kind.value}"]
    # Beside the kind key: the kind's common keys.
    assert set(step["properties"]) == {kind.value, *spec.common}
    assert step["required"] == [kind.value] and step["additionalProperties"] is False
    # Inside the kind's mapping: its own keys and the common ones.
    (long_form,) = objects(step["properties"][kind.value])
    assert set(long_form["properties"]) == {*spec.keys, *spec.common}
    assert long_form["additionalProperties"] is False


def test_bare_words_and_short_forms_match_the_loader() -> None:
    bare = next(r["then"] for r in DEFS["step"]["allOf"] if r["if"] == {"type": "string"})
    assert set(bare["enum"]) == {
        k.value for k, spec in KINDS.items() if spec.arg in (Arg.NONE, Arg.OPTIONAL)
    }
    for kind, spec in KINDS.items():
        value = DEFS[f"step_{kind.value}"]["properties"][kind.value]
        alternatives = [resolve(a) for a in value.get("anyOf", [value])]
        takes_text = any("string" in a.get("type", ()) for a in alternatives)
        assert takes_text == (spec.arg in (Arg.REQUIRED, Arg.OPTIONAL)), kind


def test_pipeline_members_match_the_loader() -> None:
    members = DEFS["members"]["items"]["anyOf"]
    refs = {m["$ref"].removeprefix("#/$defs/step_") for m in members if "$ref" in m}
    assert refs == {k.value for k in PIPELINE_MEMBERS}
    bare = next(m for m in members if "enum" in m)
    assert set(bare["enum"]) == {
        k.value for k in PIPELINE_MEMBERS if KINDS[k].arg in (Arg.NONE, Arg.OPTIONAL)
    }


def test_expectations_match_the_loader() -> None:
    (mapping,) = objects(DEFS["expectation"])
    assert set(mapping["properties"]) == set(EXPECT_KEYS)
    assert set(DEFS["level"]["enum"]) == set(LEVELS)
    assert set(COMMON_KEYS) == set(DEFS["step_noop"]["properties"]) - {"noop"}
    auth = objects(DEFS["step_auth"]["properties"]["auth"])[0]
    written, variable = auth["properties"]["mechanism"]["anyOf"]
    assert tuple(written["enum"]) == MECHANISMS
    assert variable == {"type": "string", "pattern": r"\$\{"}  # checked when bound


@pytest.mark.parametrize(
    "code", ["250", "25x", "2xx", "5XX", "599", "2x5", "600", "199", "25", "2500", "x50", "abc"]
)
def test_code_pattern_matches_the_loader(code: str) -> None:
    string_form = next(a for a in DEFS["code"]["anyOf"] if a["type"] == "string")
    assert bool(re.search(string_form["pattern"], code)) == bool(CODE_RE.match(code))
