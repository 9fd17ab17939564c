"""Load and validate scenario files: every problem is found before anything is sent.

The format, in short (see scenarios/basic.yaml, and `schema.json_schema()` for editors):

    name: basic                       # optional, default: the file name without extension
    description: ...                  # optional
    vars: {helo: probe.invalid, domain: , recipient: "postmaster@${domain}"}
    x-anything: &ok {code: 250}       # ignored: a place for anchors (`expect: *ok`)
    stop_on_fail: false               # optional; a step's own value wins
    steps:
      - connect                       # bare word: no argument
      - ehlo: ${helo}                 # short form: the main argument
      - rcpt: {to: "${recipient}", expect: 250, why: "RFC 5321 §4.5.1"}   # long form
      - quit                          # common keys may also sit beside the kind key

Problems are collected (not just the first) and raised together as one `ScenarioError`, each with
file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from probe.scenario import binding
from probe.scenario.errors import ScenarioError, ScenarioProblem
from probe.scenario.fields import Fields, Suggester, did_you_mean
from probe.scenario.grammar import AUTH_MODES, EXTENSION_PREFIX, TLS_MODES, TOP_KEYS
from probe.scenario.model import BoundScenario, Position, Scenario, Step, Variable
from probe.scenario.steps import StepReader
from probe.scenario.variables import NAME_RE, find_cycles, references
from probe.scenario.yamlnodes import (
    Problems,
    check_keys,
    compose,
    describe,
    is_null,
    items,
    read_text,
    shorten,
    sorted_problems,
)

SUFFIXES = (".yaml", ".yml")


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one file; raises ScenarioError listing every problem found."""
    problems = Problems(str(path))
    scenario = _load(Path(path), problems)
    problems.raise_if_any()
    if scenario is None:  # every path to None reports why; this is a safety net
        raise ScenarioError([ScenarioProblem(str(path), "not a valid scenario")])
    return scenario


def load_path(path: Path, check: Callable[[Scenario], object] | None = None) -> list[Scenario]:
    """A file, or a folder of *.yaml / *.yml files (sorted by name); ScenarioError on any problem,
    including a missing path or a folder with no scenarios. `check` runs on each scenario that
    loaded (validate binds it), and its ScenarioError problems are reported with the others."""
    path = Path(path)
    try:
        if not path.is_dir():
            if not path.exists() and not path.is_symlink():
                raise ScenarioError([ScenarioProblem(str(path), "no such file or folder")])
            files = [path]
        else:
            # A link is read like a file, so that one that is broken or loops is reported,
            # not skipped.
            files = sorted(
                (
                    p
                    for p in path.iterdir()
                    if p.suffix.lower() in SUFFIXES and (p.is_file() or p.is_symlink())
                ),
                key=lambda p: p.name,
            )
    except (OSError, ValueError) as exc:
        raise ScenarioError(
            [ScenarioProblem(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}")]
        ) from None
    if not files:
        raise ScenarioError(
            [ScenarioProblem(str(path), "no scenario files (*.yaml, *.yml) in this folder")]
        )
    scenarios: list[Scenario] = []
    problems: list[ScenarioProblem] = []
    by_name: dict[str, Scenario] = {}
    for file in files:
        try:
            scenario = load_scenario(file)
            if check is not None:
                check(scenario)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if scenario.name in by_name:
            problems.append(
                ScenarioProblem(
                    scenario.path,
                    f"scenario name '{scenario.name}' is also used by "
                    f"{by_name[scenario.name].path}",
                )
            )
        by_name.setdefault(scenario.name, scenario)
        scenarios.append(scenario)
    if problems:
        raise ScenarioError(sorted_problems(problems))
    return scenarios


def bind(
    scenario: Scenario,
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    placeholders: bool = False,
) -> BoundScenario:
    """Expand every ${name} and ${env:NAME}; ScenarioError if a variable has no value or an
    expansion is too large.

    `overrides` (from --var) must name declared variables and are taken literally. `secrets`
    holds every value read from the environment and each auth password (with its base64 forms).
    `placeholders` (validate): values not given stand in as "x".
    """
    return binding.bind(scenario, overrides, environ, placeholders)


# --- one file ------------------------------------------------------------------------------


def _load(path: Path, problems: Problems) -> Scenario | None:
    text = read_text(path, problems)
    if text is None:
        return None
    problems.text = text
    root = compose(text, problems)
    if problems:
        return None
    if root is None:
        if text.strip():
            problems.add(None, "file has only comments; a scenario needs at least 'steps'")
        else:
            problems.add(None, "file is empty; a scenario needs at least 'steps'")
        return None
    check_keys(root, problems)
    return _scenario(root, path, problems)


def _scenario(root: Node, path: Path, problems: Problems) -> Scenario | None:
    if not isinstance(root, MappingNode):
        problems.add(
            root,
            f"the top level must be a mapping (name:, vars:, steps:), got {describe(root)}",
        )
        return None
    fields = Fields(problems)
    entries = {key: (key_node, value) for key, key_node, value in items(root, problems)}
    for key, (key_node, _) in entries.items():
        if key not in TOP_KEYS and not key.startswith(EXTENSION_PREFIX):
            problems.add(
                key_node,
                f"unknown top-level key '{key}'"
                + did_you_mean(
                    key, TOP_KEYS, f"the keys are {', '.join(TOP_KEYS)} (and x-... for anchors)"
                ),
            )

    name = path.stem
    if "name" in entries:
        node = entries["name"][1]
        name = fields.text(node, "name", template=False) or name
        if isinstance(node, ScalarNode) and not str(node.value).strip():
            problems.add(node, "'name' is empty")
    description = ""
    if "description" in entries:
        description = fields.text(entries["description"][1], "description", template=False) or ""
    stop_on_fail = False
    if "stop_on_fail" in entries:
        stop_on_fail = bool(fields.boolean(entries["stop_on_fail"][1], "stop_on_fail"))
    tls = None
    if "tls" in entries:
        tls = _tls_mode(entries["tls"][1], fields)
    auth = None
    if "auth" in entries:
        auth = _auth_mode(entries["auth"][1], fields)
    variables: dict[str, Variable] = {}
    if "vars" in entries:
        variables = _variables(entries["vars"][1], fields)

    steps: tuple[Step, ...] | None = None
    blocks = {
        key.removeprefix(EXTENSION_PREFIX): value
        for key, (_, value) in entries.items()
        if key.startswith(EXTENSION_PREFIX)
    }
    if "steps" in entries:
        reader = StepReader(fields, blocks)
        steps = reader.steps(entries["steps"][1], stop_on_fail=stop_on_fail)
    else:
        problems.add(root, "missing 'steps' (the list of steps to play)")

    saves = _saves(steps or (), variables, problems)
    _check_references(fields, variables, saves)
    if steps is not None and not problems:
        _check_save_order(steps, saves, problems)
        _check_given(steps, variables, problems)
    if problems or steps is None:
        return None
    return Scenario(
        name=name,
        description=description,
        path=str(path),
        variables=variables,
        steps=steps,
        stop_on_fail=stop_on_fail,
        saves=saves,
        tls=tls,
        auth=auth,
    )


def _all_steps(steps: tuple[Step, ...]) -> list[Step]:
    return [s for step in steps for s in (step, *step.steps)]


def _saves(
    steps: tuple[Step, ...], variables: dict[str, Variable], problems: Problems
) -> dict[str, Position]:
    """Every name a `save:` fills, and where it is first saved."""
    saves: dict[str, Position] = {}
    for step in _all_steps(steps):
        for save in step.save:
            assert save.position is not None
            if save.name in variables:
                problems.add(
                    save.position,
                    f"'{save.name}' is a variable (vars:); a saved value needs a name of its own",
                )
            saves.setdefault(save.name, save.position)
    return saves


def _check_given(
    steps: tuple[Step, ...], variables: dict[str, Variable], problems: Problems
) -> None:
    """`when: {given: NAME}` names a variable of the scenario."""
    for step in _all_steps(steps):
        for name in step.when.given if step.when else ():
            if name not in variables:
                declared = ", ".join(variables) or "none"
                problems.add(
                    step.position,
                    f"'when' tests whether '{name}' is given, and the scenario declares no such "
                    f"variable (vars: {declared})",
                )


def _check_save_order(
    steps: tuple[Step, ...], saves: dict[str, Position], problems: Problems
) -> None:
    """A saved value is used only by steps after one that saves it (in playing order)."""
    saved: set[str] = set()
    for step in steps:
        names = {r.name for t in binding.step_templates(step) for r in references(t) if not r.env}
        compared = {
            e.same_as: "same_class_as" if e.same_class else "same_as"
            for m in (step, *step.steps)
            for e in (m.expect, m.expect_end)
            if e is not None and e.same_as is not None
        }
        wanted = (
            {n for n in names if n in saves}
            | set(compared)
            | {n for n in (step.when.compared if step.when else ())}
        )
        for name in sorted(wanted - saved):
            if name not in saves:
                what = f"'{compared[name]}' names" if name in compared else "'when' tests"
                problems.add(step.position, f"{what} '{name}', which no step saves")
                continue
            where = saves[name]
            problems.add(
                step.position,
                f"uses the saved value '{name}' before a step saves it (saved at line "
                f"{where.line}, column {where.column})",
            )
        saved |= {s.name for m in (step, *step.steps) for s in m.save}


def _auth_mode(node: Node, fields: Fields) -> str | None:
    given = fields.text(node, "auth", template=False, one_line=True)
    if given is None:
        return None
    if given.strip().lower() in AUTH_MODES:
        return given.strip().lower()
    fields.problems.add(node, f"'auth' must be {' or '.join(AUTH_MODES)}, got '{shorten(given)}'")
    return None


def _tls_mode(node: Node, fields: Fields) -> str | None:
    given = fields.text(node, "tls", template=False, one_line=True)
    if given is None:
        return None
    if given.strip().lower() in TLS_MODES:
        return given.strip().lower()
    fields.problems.add(node, f"'tls' must be {' or '.join(TLS_MODES)}, got '{shorten(given)}'")
    return None


def _variables(node: Node, fields: Fields) -> dict[str, Variable]:
    problems = fields.problems
    if is_null(node):
        return {}
    if not isinstance(node, MappingNode):
        problems.add(node, f"'vars' must be a mapping of name: default, got {describe(node)}")
        return {}
    out: dict[str, Variable] = {}
    for name, key_node, value in items(node, problems):
        if not NAME_RE.match(name):
            problems.add(
                key_node,
                f"bad variable name '{name}'; use letters, digits, '_' and '-' "
                "(not starting with a digit or '-')",
            )
            continue
        default: str | None = None
        if not is_null(value):
            if not isinstance(value, ScalarNode):
                problems.add(
                    value,
                    f"variable '{name}' must be text (or empty for no default), "
                    f"got {describe(value)}",
                )
                continue
            default = fields.text(value, f"vars.{name}")
        out[name] = Variable(name, default, problems.position(key_node))
    return out


LISTED = 10  # names listed in one message, at most


def _check_references(
    fields: Fields, variables: dict[str, Variable], saves: dict[str, Position]
) -> None:
    problems = fields.problems
    declared = list(variables)
    shown = ", ".join(declared[:LISTED])
    if len(declared) > LISTED:
        shown += f", … ({len(declared) - LISTED} more)"
    listing = f" (scenario declares: {shown})" if declared else " (scenario has no 'vars')"
    suggester = Suggester(declared)
    for node, ref in fields.templates:
        if ref.env or ref.name in variables or ref.name in saves:
            continue
        if problems.full:
            problems.stop(problems.position_in(node, ref.offset))
            break
        best = suggester.best(ref.name)
        hint = f"; did you mean '{best}'?" if best else listing
        problems.add(
            problems.position_in(node, ref.offset), f"undefined variable '{ref.name}'{hint}"
        )
    graph = {
        name: [r.name for r in references(var.default or "") if not r.env]
        for name, var in variables.items()
    }
    for cycle in find_cycles(graph):
        problems.add(variables[cycle[0]].position, f"variable cycle: {' -> '.join(cycle)}")
