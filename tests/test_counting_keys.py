"""The scenario keys added for issue 19, as the loader reads them: `replies:` on send steps,
`same_class_as:` in expectations, `accepted:` and `refused:` in conditions. Mistakes are one line
each, with the place, and nothing is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.errors import ScenarioError
from probe.scenario import load_scenario
from probe.scenario.model import ReplyCount


def _load(tmp_path: Path, steps: str):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps:\n" + steps, encoding="utf-8")
    return load_scenario(path)


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("2", ReplyCount(exactly=2)),
        ("{exactly: 0, within: 1.5}", ReplyCount(exactly=0, within=1.5)),
        ("{at_most: 1, level: info, why: w}", ReplyCount(at_most=1, level="info", why="w")),
    ],
)
def test_replies_forms(tmp_path: Path, value: str, count: ReplyCount):
    scenario = _load(tmp_path, f"  - send: {{raw: 'NOOP\\r\\n', replies: {value}}}\n")
    assert scenario.steps[0].replies == count


def test_the_step_level_and_why_reach_the_count(tmp_path: Path):
    scenario = _load(
        tmp_path, "  - send: {raw: 'x', replies: 1}\n    level: should\n    why: 'RFC X'\n"
    )
    assert scenario.steps[0].replies == ReplyCount(exactly=1, level="should", why="RFC X")


def test_a_class_comparison_and_outcome_conditions_load(tmp_path: Path):
    scenario = _load(
        tmp_path,
        "  - mail: {from: a@b.test, save: {m: {code: true}}}\n"
        "  - rcpt: {to: c@d.test, when: {accepted: m}, expect: {same_class_as: m}}\n"
        "  - rset: {when: {refused: [m]}}\n",
    )
    rcpt, rset = scenario.steps[1:]
    assert rcpt.when is not None and rcpt.when.accepted == ("m",)
    assert rcpt.expect is not None and rcpt.expect.same_as == "m" and rcpt.expect.same_class
    assert rcpt.expect.describe() == "the class of the code saved as m"
    assert rset.when is not None and rset.when.refused == ("m",)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("  - send: {raw: x, replies: -1}\n",
         "3:29: 'replies' takes a number of replies (0 to 1000), got '-1'"),
        ("  - send: {raw: x, replies: {exactly: 1, at_most: 2}}\n",
         "3:29: 'replies' takes one of 'exactly' and 'at_most'"),
        ("  - send: {raw: x, replies: {exact: 1}}\n",
         "3:30: unknown key 'exact' in 'replies'; did you mean 'exactly'?"),
        ("  - send: {raw: x, replies: {at_most: 1, within: 0}}\n",
         "3:50: 'within' must be a positive number, got '0'"),
        ("  - noop: {replies: 1}\n",
         "3:12: unknown key 'replies' in noop step; did you mean 'requires'?"),
        ("  - vrfy: {save: {k: {code: true}}}\n"
         "  - vrfy: {expect: {same_as: k, same_class_as: k}}\n",
         "4:33: 'expect' takes 'same_as' or 'same_class_as', not both"),
        ("  - vrfy: {expect: {same_class_as: nothing}}\n",
         "3:5: 'same_class_as' names 'nothing', which no step saves"),
        ("  - noop: {when: {accepted: nothing}}\n",
         "3:5: 'when' tests 'nothing', which no step saves"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_each(tmp_path: Path, steps: str, message: str):
    with pytest.raises(ScenarioError) as caught:
        _load(tmp_path, steps)
    first = str(caught.value).splitlines()[0]
    assert first.endswith(message), first
