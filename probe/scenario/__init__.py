"""Scenario files: YAML in, validated `Scenario` out (validate first, run second)."""

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
