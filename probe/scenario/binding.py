"""Binding: a validated scenario + --var overrides + the environment -> every `${...}` expanded.

Values are inserted as they are, except: in `raw` text a backslash in a value is doubled (a
value is sent as written, never read as an escape), and in a `text:` regex a value matches
literally (re.escape). Overrides are literal too. Labels and `why` texts are expanded with every
secret replaced by `****`, so reports built from them never show one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from probe.scenario.errors import ScenarioError, ScenarioProblem
from probe.scenario.model import (
    BoundScenario,
    Expectation,
    Position,
    Scenario,
    Step,
    StepKind,
    evolve,
)
from probe.scenario.patterns import PatternError, compile_pattern, escape
from probe.scenario.variables import Ref, expand, references
from probe.scenario.yamlnodes import sorted_problems
from probe.secrets import MASK
from probe.wire import no_wire_form


def step_templates(step: Step) -> list[str]:
    """Every string of a step (and its members) that may hold references."""
    texts = [
        t
        for t in (
            step.label,
            step.arg,
            step.params,
            step.raw,
            step.body,
            step.username,
            step.password,
            step.mechanism,
        )
        if t
    ]
    for expectation in (step.expect, step.expect_end):
        if expectation is not None:
            texts.append(expectation.why)
            if expectation.text is not None:
                texts.append(expectation.text.pattern)
    for member in step.steps:
        texts.extend(step_templates(member))
    return texts


def needed_variables(scenario: Scenario) -> set[str]:
    """Variables the steps use, directly or through other variables' defaults."""
    todo = [r.name for s in scenario.steps for t in step_templates(s) for r in references(t)]
    needed: set[str] = set()
    while todo:
        name = todo.pop()
        var = scenario.variables.get(name)
        if name in needed or var is None:
            continue
        needed.add(name)
        todo.extend(r.name for r in references(var.default or "") if not r.env)
    return needed


def dependency_order(names: list[str], scenario: Scenario) -> list[str]:
    """`names` and the variables their defaults use, each after the ones it uses (so resolving
    them in this order never nests: a chain of thousands of variables is no deeper than one).
    Cycles, refused by the loader, are cut anywhere."""
    out: list[str] = []
    state: dict[str, int] = {}  # 1: its dependencies are being placed, 2: placed
    for root in names:
        stack = [root]
        while stack:
            name = stack[-1]
            var = scenario.variables.get(name)
            if state.get(name) is None and var is not None:
                state[name] = 1
                stack += [
                    r.name
                    for r in reversed(references(var.default or ""))
                    if not r.env and r.name not in state
                ]
                continue
            stack.pop()
            if state.get(name) == 1:
                state[name] = 2
                out.append(name)
    return out


# Expansion caps: nested references multiply (nine levels of ten `${v}` in a 692-byte file make
# ten gigabytes), so sizes are counted before any string is joined, per value and in total.
MAX_EXPANDED_VALUE = 16 * 1024 * 1024  # one expanded value or step field, in characters
MAX_EXPANDED_TOTAL = 64 * 1024 * 1024  # everything a binding expands


@dataclass
class _Binder:
    scenario: Scenario
    overrides: Mapping[str, str]
    environ: Mapping[str, str]
    problems: list[ScenarioProblem] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    reporting: bool = True
    # `validate`: values not given (no --var, no environment variable) stand in as "x", so that
    # everything `run` would expand is expanded and checked, with nothing to be supplied.
    placeholders: bool = False
    expanded: int = 0  # characters expanded so far (MAX_EXPANDED_TOTAL)
    _resolving: set[str] = field(default_factory=set)

    def problem(self, where: Position | None, message: str) -> None:
        if not self.reporting:
            return
        file = self.scenario.path
        if where is None:
            self.problems.append(ScenarioProblem(file, message))
        else:
            self.problems.append(ScenarioProblem(file, message, where.line, where.column))

    # --- variables --------------------------------------------------------------------------

    def resolve(self, name: str) -> str | None:
        if name in self.values:
            return self.values[name]
        var = self.scenario.variables.get(name)
        value: str | None
        if name in self.overrides:
            value = str(self.overrides[name])
        elif var is None or name in self._resolving:
            value = None  # undeclared or cyclic: the loader rejects both; stay safe anyway
        elif var.default is None:
            value = "x" if self.placeholders else None
            if value is None:
                self.problem(
                    var.position, f"variable '{name}' has no value; give --var {name}=VALUE"
                )
        else:
            self._resolving.add(name)
            value = self.expand(var.default, var.position)
            self._resolving.discard(name)
        self.values[name] = value
        return value

    def lookup(self, ref: Ref, where: Position) -> str | None:
        if not ref.env:
            return self.resolve(ref.name)
        value = self.environ.get(ref.name)
        if value is None and self.placeholders:
            return "x"
        if value is None:
            self.problem(where, f"environment variable '{ref.name}' is not set (used by {ref})")
            return None
        unsendable = no_wire_form(value)
        if unsendable is not None:
            self.problem(
                where, f"environment variable '{ref.name}' {unsendable}: it cannot be sent"
            )
            return None
        if value:
            self.secrets.add(value)
        return value

    def expand(
        self, template: str | None, where: Position, quote: Callable[[str], str] = str
    ) -> str | None:
        """The expanded text, or None when a value is missing (reported)."""
        if template is None:
            return None
        missing = False
        size = len(template)

        def one(ref: Ref) -> str:
            nonlocal missing, size
            value = None if missing else self.lookup(ref, where)
            if value is None:
                missing = True
                return ""
            size += len(value)
            if size > MAX_EXPANDED_VALUE:  # checked before the text is joined
                missing = True
                return ""
            return quote(value)

        text = expand(template, one)
        if size > MAX_EXPANDED_VALUE:
            self.problem(
                where,
                f"expands to more than {MAX_EXPANDED_VALUE // (1024 * 1024)} MiB (variables "
                "nested too deep?)",
            )
            return None
        if missing:
            return None
        self.expanded += len(text)
        if self.expanded > MAX_EXPANDED_TOTAL:
            self.problem(
                where,
                f"the scenario expands to more than {MAX_EXPANDED_TOTAL // (1024 * 1024)} MiB "
                "in total",
            )
            return None
        return text

    # --- steps ------------------------------------------------------------------------------

    def step(self, step: Step) -> Step:
        where = step.position
        arg = self.expand(step.arg, where)
        params = self.expand(step.params, where)
        for key, value in (("argument", arg), ("parameters", params)):
            if (
                value is not None
                and ("\r" in value or "\n" in value)
                and step.kind is not StepKind.DATA
            ):
                holds = "hold" if key.endswith("s") else "holds"
                self.problem(where, f"after expanding variables, the {key} {holds} a line break")
        username = self.expand(step.username, where)
        password = self.expand(step.password, where)
        if step.kind is StepKind.AUTH and password:
            user = username or ""
            self.secrets.add(password)
            for plain in (password, f"\0{user}\0{password}", f"{user}\0{user}\0{password}"):
                self.secrets.add(base64.b64encode(plain.encode()).decode())
        verb = step.verb
        if step.kind is StepKind.SEND and verb is None and arg is not None:
            verb = arg.split(None, 1)[0].upper() if arg.strip() else "UNKNOWN"
        return evolve(
            step,
            arg=arg,
            params=params,
            raw=self.expand(step.raw, where, lambda v: v.replace("\\", "\\\\")),
            body=self.expand(step.body, where),
            username=username,
            password=password,
            verb=verb,
            expect=self.expectation(step.expect, where),
            expect_end=self.expectation(step.expect_end, where),
            steps=tuple(self.step(member) for member in step.steps),
        )

    def expectation(self, exp: Expectation | None, where: Position) -> Expectation | None:
        if exp is None or exp.text is None:
            return exp
        pattern = self.expand(exp.text.pattern, exp.position or where, escape)
        if pattern is None or pattern == exp.text.pattern:
            return exp
        try:
            return evolve(exp, text=compile_pattern(pattern))
        except PatternError as error:
            self.problem(
                exp.position or where,
                f"after expanding variables, the regex in 'text' is invalid: {error}",
            )
            return exp

    def masked(self, step: Step, bound: Step) -> Step:
        """`bound` with its label and whys expanded from `step`'s, secrets masked."""
        secrets = sorted(self.secrets, key=len, reverse=True)

        def mask(template: str, where: Position) -> str:
            text = self.expand(template, where) or template
            for secret in secrets:
                text = text.replace(secret, MASK)
            return text

        def why(exp: Expectation | None) -> Expectation | None:
            return exp if exp is None else evolve(exp, why=mask(exp.why, step.position))

        return evolve(
            bound,
            label=mask(step.label, step.position),
            expect=why(bound.expect),
            expect_end=why(bound.expect_end),
            steps=tuple(self.masked(s, b) for s, b in zip(step.steps, bound.steps, strict=True)),
        )


def bind(
    scenario: Scenario,
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    placeholders: bool = False,
) -> BoundScenario:
    """The scenario with every `${...}` expanded; ScenarioError lists every problem.
    `placeholders` (for `validate`): values not given stand in as "x" instead of failing."""
    binder = _Binder(scenario, overrides, environ, placeholders=placeholders)
    declared = list(scenario.variables)
    for name in overrides:
        if name not in scenario.variables:
            listing = ", ".join(declared) if declared else "nothing"
            binder.problem(None, f"unknown variable '{name}' (scenario declares: {listing})")
    order = {name: i for i, name in enumerate(declared)}
    for name in dependency_order(
        sorted(needed_variables(scenario), key=order.__getitem__), scenario
    ):
        binder.resolve(name)
    steps = [binder.step(step) for step in scenario.steps]
    binder.reporting = False  # the others are only listed in `values` when they have one
    for name in dependency_order(declared, scenario):
        binder.resolve(name)
    if binder.problems:
        raise ScenarioError(sorted_problems(binder.problems))
    steps = [binder.masked(s, b) for s, b in zip(scenario.steps, steps, strict=True)]
    return BoundScenario(
        scenario=scenario,
        values={k: v for k, v in binder.values.items() if v is not None},
        steps=tuple(steps),
        secrets=frozenset(s for s in binder.secrets if s),
    )
