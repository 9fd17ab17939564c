"""Problems in scenario files. The classes live in `probe.errors` so the CLI can catch them
without importing the scenario loader (and YAML) on every start."""

from probe.errors import ScenarioError, ScenarioProblem

__all__ = ["ScenarioError", "ScenarioProblem"]
