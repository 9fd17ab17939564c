"""The shipped JSON Schema and the loader agree: generated scenarios are accepted by both or
refused by both (hypothesis). Rules only the loader can check are left out of the generated
space, and named here: variables (`${...}`), message files (`file:` must exist), `save:` of an
EHLO keyword outside an ehlo step, `when: {saved: ...}` naming a value some step saves, a keyword
in both `advertises` and `not_advertises`, `level`
and `why` only beside an expectation, RE2-only pattern syntax (the schema's `regex` format is
ECMA 262's), and what a `send` line's own verb can answer. Plain scalars that YAML 1.1 (PyYAML,
read here for the schema) and YAML 1.2 (the loader, and editors) read differently, such as
`2.5e2`, are checked by tests/test_scenario_yaml.py instead."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.scenario import ScenarioError, bind, load_path
from probe.scenario.grammar import KINDS, PIPELINE_MEMBERS
from probe.scenario.model import StepKind
from probe.scenario.schema import json_schema

# Formats checked as an editor checks them (`regex`: a pattern that compiles).
VALIDATOR = jsonschema.Draft202012Validator(
    json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Nine times in ten a value the loader takes, so accepted scenarios are common too."""
    return st.integers(0, 9).flatmap(lambda n: good if n else bad)


TEXTS = st.sampled_from(["a@b.test", "mx.example.test", "x", "two words"])
BAD_TEXTS = st.sampled_from(["", "line\nbreak"])
VALUES = mostly(
    st.one_of(TEXTS, st.integers(1, 700), st.booleans()),
    st.one_of(BAD_TEXTS, st.sampled_from([1.5, 1e3]), st.none(), st.lists(TEXTS, max_size=2),
              st.just({"k": "v"})),
)  # fmt: skip
CODES = mostly(
    st.sampled_from([250, 221, 354, 550, "5xx", "25x", "2XX", 250.0, [250, 550]]),
    st.sampled_from([600, 199, "abc", [], 2.5]),
)


@st.composite
def expectations(draw):
    form = draw(st.sampled_from(["code", "mapping"]))
    if form == "code":
        return draw(CODES)
    out = {}
    if draw(st.booleans()):
        out["code"] = draw(CODES)
    if draw(st.booleans()):
        out["text"] = draw(st.sampled_from(["ESMTP", ["a", "b"], [], "(unclosed", 5]))
    if draw(st.booleans()):
        out["level"] = draw(st.sampled_from(["must", "should", "info", "often"]))
    if draw(st.booleans()):
        out[draw(st.sampled_from(["why", "bogus"]))] = "because"
    return out


def common_keys(kind: StepKind, draw) -> dict:
    out: dict = {}
    spec = KINDS[kind]
    choices = [k for k in spec.common if k not in ("save", "when", "level", "why")]
    for key in draw(st.lists(st.sampled_from(choices), max_size=3, unique=True)):
        if key == "expect":
            if kind is StepKind.SEND:
                continue
            out["expect"] = draw(expectations())
            if draw(st.booleans()):
                out["level"] = draw(st.sampled_from(["should", "bad"]))
        elif key in ("timeout", "settle"):
            out[key] = draw(
                mostly(st.sampled_from([1, 2.5, 1e3]), st.sampled_from([0, -1, "a", True]))
            )
        elif key == "stop_on_fail":
            out[key] = draw(mostly(st.booleans(), st.sampled_from(["yes", 1])))
        elif key == "requires":
            out[key] = draw(
                mostly(
                    st.sampled_from(["PIPELINING", ["SIZE", "8BITMIME"], 5]),
                    st.sampled_from([[], "A B"]),
                )
            )
        else:
            out[key] = draw(VALUES)
    return out


@st.composite
def steps(draw, member: bool = False):
    kinds = (
        list(PIPELINE_MEMBERS) if member else [k for k in StepKind if k is not StepKind.PIPELINE]
    )
    kind = draw(st.sampled_from(kinds))
    spec = KINDS[kind]
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(["qiut", "rset", "mail", "connect", 42]))
    form = draw(st.sampled_from(["bare", "short", "long"]))
    if form == "bare":
        return kind.value
    step: dict = {}
    if form == "short":
        step[kind.value] = draw(mostly(st.one_of(TEXTS, st.integers(1, 9)), st.none()))
    else:
        own = [k for k in spec.keys if k not in ("file", "expand", "raw")]
        mapping = {}
        keys = st.sampled_from([*own, *own, *own, "bogus"])
        for key in draw(st.lists(keys, max_size=3, unique=True)):
            if key in ("expect_end",):
                mapping[key] = draw(expectations())
            elif key == "advertises":  # never the same keyword as not_advertises (loader-only)
                mapping[key] = draw(mostly(st.sampled_from(["SIZE", ["8BITMIME"]]), st.just([])))
            elif key == "not_advertises":
                mapping[key] = draw(mostly(st.sampled_from(["STARTTLS"]), st.just("bad word")))
            elif key == "exact":
                mapping[key] = draw(st.sampled_from([True, False, "no"]))
            elif key == "mechanism":
                mapping[key] = draw(st.sampled_from(["PLAIN", "LOGIN", "XOAUTH9"]))
            elif key == "as":
                mapping[key] = draw(st.sampled_from(["MAIL", "!!"]))
            elif key == "chunks":
                mapping[key] = draw(st.sampled_from([[10, 0], [], [1.0], [-1], [1.5], 5, ["a"]]))
            elif key == "last":
                mapping[key] = draw(st.sampled_from([True, False, "empty", "full"]))
            else:
                mapping[key] = draw(VALUES)
        step[kind.value] = mapping
    step.update(common_keys(kind, draw))
    return step


@st.composite
def scenarios(draw):
    doc: dict = {}
    if draw(st.booleans()):
        doc["name"] = draw(
            mostly(st.sampled_from(["basic", 42, True]), st.sampled_from(["", ["x"]]))
        )
    if draw(st.booleans()):
        doc["stop_on_fail"] = draw(st.sampled_from([True, "maybe"]))
    if draw(st.booleans()):
        doc["vars"] = draw(
            st.sampled_from(
                [{"domain": "x.test"}, {"domain": None}, {"1bad": "x"}, [1], {"d": {"k": 1}}]
            )
        )
    if draw(st.integers(0, 19)) == 0:
        doc["bogus"] = 1
    if draw(st.integers(0, 19)) > 0:
        doc["steps"] = draw(st.lists(steps(), max_size=3))
    return doc


def loader_accepts(tmp: Path, text: str) -> tuple[bool, str]:
    path = tmp / "s.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_path(path, lambda s: bind(s, {}, {}, placeholders=True))
    except ScenarioError as exc:
        return False, "; ".join(str(p) for p in exc.problems[:3])
    return True, ""


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=scenarios())
def test_the_schema_and_the_loader_agree(tmp_path: Path, doc: dict) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    loaded, why = loader_accepts(tmp_path, text)
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]
    assert loaded == (not errors), f"\n{text}\nloader: {why or 'ok'}\nschema: {errors[:3] or 'ok'}"
