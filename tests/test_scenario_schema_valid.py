"""The shipped JSON Schema checked by a real validator: it is a valid 2020-12 schema, the bundled
scenarios conform to it, and files the loader refuses for their shape are refused by it too."""

from __future__ import annotations

import functools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- numbers: the schema (as an editor applies it to YAML 1.2) and the loader agree -------------

# YAML 1.2's core schema, written out here independently of the loader.
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")


def _yaml12(text: str, quoted: bool) -> object:
    """What a YAML 1.2 editor makes of a scalar: a number, a boolean, or text."""
    if quoted:
        return text
    if _INT.fullmatch(text):
        return int(text)
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return float(text.replace(".", "").lower())
    if _NAN.fullmatch(text):
        return math.nan
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    return text


def _json_can_hold(value: object) -> bool:
    # JSON has no NaN or Infinity (RFC 8259 §6): a document holding one is no JSON instance, and
    # no schema accepts it (Python's jsonschema would compare NaN and let it through).
    return not isinstance(value, float) or math.isfinite(value)


_DIGITS = st.text("0123456789", min_size=1, max_size=4)
_SIGN = st.sampled_from(["", "", "+", "-"])
_EXPONENT = st.one_of(st.just(""), st.tuples(st.sampled_from("eE"), _SIGN, _DIGITS).map("".join))
NUMBER_TEXT = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.integers(150, 650).map(str),
    st.integers(10**300, 10**320).map(str),  # past the largest float
    st.tuples(_SIGN, _DIGITS).map("".join),  # leading zeros: decimal in YAML 1.2 (octal in 1.1)
    st.integers(0, 4095).map(lambda n: f"0o{n:o}"),
    st.integers(0, 4095).map(lambda n: f"0x{n:x}"),
    st.integers(0, 4095).map(lambda n: f"0x{n:X}"),
    st.tuples(
        _SIGN, _DIGITS, st.sampled_from([".", ""]), st.text("0123456789", max_size=3), _EXPONENT
    ).map("".join),  # 5, 5., 5.25, 5e3, -05.2E+1
    st.tuples(_SIGN, st.just("."), _DIGITS, _EXPONENT).map("".join),  # .5, -.5e3
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e3", "1.0e+3", "1E3", ".5", "5.", "2.5e2", "25e1", "250.0", "1e400"]),
    st.sampled_from([".inf", "-.inf", "+.INF", ".nan", ".NaN", "true", "False", "null", "~"]),
    # YAML 1.1 numbers that YAML 1.2 reads as text
    st.sampled_from(["1_000", "0b101", "1:30", "0o8", "0xg", "1e", "e3", ".", "+", "2x5", "5xx"]),
)


def _loader_accepts(tmp_path: Path, document: str) -> bool:
    from probe.scenario import ScenarioError, bind, load_scenario

    path = tmp_path / "n.yaml"
    path.write_text(document, encoding="utf-8")
    try:
        bind(load_scenario(path), {}, {}, placeholders=True)
    except ScenarioError:
        return False
    return True


@functools.cache
def _shipped() -> jsonschema.Draft202012Validator:
    """The schema as `smtp-probe schema` prints it."""
    out = subprocess.run(
        [sys.executable, "-m", "probe", "schema"], capture_output=True, text=True, check=True
    ).stdout
    return jsonschema.Draft202012Validator(json.loads(out))


_QUOTES = st.sampled_from(["", "", "'", '"'])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=NUMBER_TEXT, quote=_QUOTES, key=st.sampled_from(["timeout", "settle"]))
def test_the_schema_and_the_loader_agree_on_seconds(
    tmp_path: Path, text: str, quote: str, key: str
) -> None:
    value = _yaml12(text, bool(quote))
    document = {"name": "n", "steps": [{"noop": {key: value}}]}
    schema_ok = _json_can_hold(value) and _shipped().is_valid(document)
    yaml_text = f"name: n\nsteps:\n  - noop: {{{key}: {quote}{text}{quote}}}\n"
    assert schema_ok == _loader_accepts(tmp_path, yaml_text), (text, quote, value, schema_ok)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=NUMBER_TEXT, quote=_QUOTES, form=st.sampled_from(["{v}", "[{v}]", "{{code: {v}}}"]))
def test_the_schema_and_the_loader_agree_on_reply_codes(
    tmp_path: Path, text: str, quote: str, form: str
) -> None:
    value = _yaml12(text, bool(quote))
    # Whether a command can ever answer a class is the loader's rule, not the schema's: DATA
    # (its 354 stage) answers 3xx, NOOP the others.
    if isinstance(value, bool):
        first = ""
    elif isinstance(value, (int, float)) and _json_can_hold(value):
        first = str(value)[0]
    else:
        first = str(value)[:1]
    step = {"data": {"body": "x"}} if first == "3" else {"noop": {}}
    kind = next(iter(step))
    expect = value if form == "{v}" else [value] if form == "[{v}]" else {"code": value}
    step[kind]["expect"] = expect
    document = {"name": "n", "steps": [step]}
    schema_ok = _json_can_hold(value) and _shipped().is_valid(document)
    written = form.format(v=f"{quote}{text}{quote}")
    body = "body: x, " if kind == "data" else ""
    yaml_text = f"name: n\nsteps:\n  - {kind}: {{{body}expect: {written}}}\n"
    assert schema_ok == _loader_accepts(tmp_path, yaml_text), (text, quote, form, value)


def test_numbers_of_thousands_of_digits_are_refused_in_one_line_each(cli, tmp_path: Path) -> None:
    # Python's int() refuses more than 4,300 decimal digits: a value, not a crash.
    path = tmp_path / "digits.yaml"
    path.write_text(
        f"steps:\n  - noop: {{timeout: {'9' * 5000}}}\n  - noop: {{expect: {'2' * 5000}}}\n",
        encoding="utf-8",
    )
    result = cli("validate", str(path))
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:2:21: 'timeout' must be a positive number, got '999")
    assert lines[1].startswith(f"{path}:3:20: bad reply code '222")
    assert len(lines) == 2
