"""Scenario variables from a file (`run --var-file FILE`) and from the environment
(`SMTP_PROBE_VAR_NAME=VALUE`), as YAML test runners take them (Hurl's `--variables-file` and
`HURL_name`).

Precedence, strongest first: a target's own variables (targets file), `--var`, the environment,
`--var-file` (a later file beats an earlier one), the scenario's `vars:` default.

A file named `*.yaml`/`*.yml` is a YAML mapping of names to text (`domain: example.test`; quote
a number: `size: "1000"`); any other file has one `KEY=VALUE` a line, blank lines and lines
starting with `#` skipped, each line stripped of surrounding blanks, the value everything after
the first `=`. Values are checked as `--var` values are. Every problem is one line,
`FILE:LINE: what is wrong`, and nothing is sent when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probe.inputfile import InputFileError, read_bounded, shown
from probe.targetsfile import YAML_SUFFIXES, _variable_problem, _yaml_vars

ENV_PREFIX = "SMTP_PROBE_VAR_"
MAX_BYTES = 1024 * 1024


class VarFileError(ValueError):
    """Problems in variable files or SMTP_PROBE_VAR_* variables: one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`SMTP_PROBE_VAR_domain=example.test` gives `domain` (the name as written, case and all)."""
    variables: dict[str, str] = {}
    problems = []
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        name, value = key[len(ENV_PREFIX) :], environ[key]
        problem = _variable_problem(name, value, variables)
        if problem:
            problems.append(f"environment variable {key}: {problem}")
        else:
            variables[name] = value
    if problems:
        raise VarFileError(problems)
    return variables


def read_var_files(paths: Sequence[Path]) -> dict[str, str]:
    """The variables of every file, a later file's value beating an earlier one's."""
    variables: dict[str, str] = {}
    problems: list[str] = []
    for path in paths:
        try:
            variables.update(read_var_file(path))
        except VarFileError as exc:
            problems += exc.problems
    if problems:
        raise VarFileError(problems)
    return variables


def read_var_file(path: Path) -> dict[str, str]:
    name = shown(path)
    try:
        data = read_bounded(path, MAX_BYTES)
        if len(data) > MAX_BYTES:
            raise InputFileError(f"is over {MAX_BYTES // 1024} KiB")
        text = data.decode("utf-8").removeprefix("\ufeff")
    except InputFileError as exc:
        raise VarFileError([f"{name}: cannot read variables: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise VarFileError([f"{name}: cannot read variables: not UTF-8 ({exc.reason})"]) from None
    if path.suffix.lower() in YAML_SUFFIXES:
        return _yaml(name, text)
    variables: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            problems.append(f"{name}:{number}: expected KEY=VALUE, got {line[:60]!r}")
            continue
        problem = _variable_problem(key.strip(), value, variables)
        if problem:
            problems.append(f"{name}:{number}: {problem}")
        else:
            variables[key.strip()] = value
    if problems:
        raise VarFileError(problems)
    return variables


def _yaml(name: str, text: str) -> dict[str, str]:
    from yaml.nodes import MappingNode, ScalarNode

    from probe.scenario.yamlnodes import Problems, compose

    composed = Problems(name, text)
    root = compose(text, composed, scenario=False)
    problems = [
        f"{name}:{p.line}: {p.message}" if p.line is not None else f"{name}: {p.message}"
        for p in composed.items
    ]
    if problems:
        raise VarFileError(problems)
    if root is None or (isinstance(root, ScalarNode) and root.tag.endswith(":null")):
        return {}

    def at(node: Any) -> str:
        return f"{name}:{node.start_mark.line + 1}"

    if not isinstance(root, MappingNode):
        raise VarFileError([f"{at(root)}: expected a mapping of variables: `NAME: VALUE` lines"])
    found: list[str] = []
    variables = _yaml_vars(root, found, at, set())
    if found or variables is None:
        raise VarFileError(found or [f"{name}: cannot read variables"])
    return variables
