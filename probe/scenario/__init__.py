"""Scenario files: YAML in, validated `Scenario` out (validate first, run second).

The names below are imported when first used (PEP 562): a run whose scenario comes from the
cache (`probe.scenario.cache`) needs the model and binding, not the YAML loader.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probe.scenario.errors import ScenarioError, ScenarioProblem
    from probe.scenario.loader import bind, load_path, load_scenario
    from probe.scenario.model import (
        BoundScenario,
        CodePattern,
        Expectation,
        Level,
        Position,
        Scenario,
        Step,
        StepKind,
        Variable,
    )

_WHERE = {
    "ScenarioError": "probe.scenario.errors",
    "ScenarioProblem": "probe.scenario.errors",
    "bind": "probe.scenario.binding",
    "load_path": "probe.scenario.loader",
    "load_scenario": "probe.scenario.loader",
    **dict.fromkeys(
        (
            "BoundScenario",
            "CodePattern",
            "Expectation",
            "Level",
            "Position",
            "Scenario",
            "Step",
            "StepKind",
            "Variable",
        ),
        "probe.scenario.model",
    ),
}

__all__ = [
    "BoundScenario",
    "CodePattern",
    "Expectation",
    "Level",
    "Position",
    "Scenario",
    "ScenarioError",
    "ScenarioProblem",
    "Step",
    "StepKind",
    "Variable",
    "bind",
    "load_path",
    "load_scenario",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'probe.scenario' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
