"""Binding: a validated scenario + --var overrides + the environment -> every `${...}` expanded.

Values are inserted as they are, except: in `raw` text a backslash in a value is doubled (a
value is sent as written, never read as an escape), and in a `text:` regex a value matches
literally (re.escape). Overrides are literal too. Labels and `why` texts are expanded with every
secret replaced by `****`, so reports built from them never show one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from probe.inputfile import InputFileError, read_bounded, shown
from probe.record import field, record, replace
from probe.scenario.errors import ScenarioError, ScenarioProblem
from probe.scenario.grammar import MAX_IDLE, MECHANISMS
from probe.scenario.model import (
    BoundScenario,
    CodePattern,
    Expectation,
    Position,
    Scenario,
    Step,
    StepKind,
    evolve,
)
from probe.scenario.variables import Ref, expand, references
from probe.secrets import MASK
from probe.wire import no_wire_form

if TYPE_CHECKING:
    from probe.scenario.patterns import Pattern


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
            step.inject,
            step.respond,
        )
        if t
    ]
    for expectation in (step.expect, step.expect_end):
        if expectation is not None:
            texts.append(expectation.why)
            texts.extend(text.pattern for text in expectation.texts)
            if expectation.same_as is not None:  # a reference to a saved value, as ${NAME}
                texts.append(f"${{{expectation.same_as}}}")
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


@record
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
    # Values saved from replies while the session plays (`save:`); None when binding before the
    # session, where saved names stand in as "x" and the steps using them are bound again later.
    saved: Mapping[str, str] | None = None
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
        if name in self.scenario.saves:
            value = "x" if self.saved is None else self.saved.get(name)
            if value is None:
                self.problem(None, f"no value was saved as '{name}'")
            self.values[name] = value
            return value
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
            value = self.resolve(ref.name)
            return value.upper() if ref.upper and value is not None else value
        value = self.environ.get(ref.name)
        if not value and ref.default is not None:
            value = ref.default  # as the shell's ${NAME:-default}: unset or empty
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
        if value and ref.secret:
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

    def idle_seconds(self, value: str, where: Position | None) -> None:
        """An idle step's seconds: a number from 0 (excluded) to MAX_IDLE."""
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= MAX_IDLE:  # NaN fails both comparisons
            self.problem(
                where, f"idle: '{value}' is not a number of seconds above 0, at most {MAX_IDLE:g}"
            )

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
        if step.kind is StepKind.IDLE and arg:  # empty: a gated step (when: given) not played
            self.idle_seconds(arg, where)
        username = self.expand(step.username, where)
        password = self.expand(step.password, where)
        if step.kind is StepKind.AUTH and password:
            user = username or ""
            self.secrets.add(password)
            for plain in (password, f"\0{user}\0{password}", f"{user}\0{user}\0{password}"):
                self.secrets.add(base64.b64encode(plain.encode()).decode())
        mechanism = self.mechanism(step)
        verb = step.verb
        if step.kind is StepKind.SEND and verb is None and arg is not None:
            verb = arg.split(None, 1)[0].upper() if arg.strip() else "UNKNOWN"
        return evolve(
            step,
            arg=arg,
            params=params,
            raw=self.expand(step.raw, where, lambda v: v.replace("\\", "\\\\")),
            body=self.file_body(step)
            if step.file and step.expand
            else self.expand(step.body, where),
            username=username,
            password=password,
            mechanism=mechanism,
            inject=self.expand(step.inject, where),
            respond=self.expand(step.respond, where),
            verb=verb,
            expect=self.expectation(step.expect, where),
            expect_end=self.expectation(step.expect_end, where),
            steps=tuple(self.step(member) for member in step.steps),
        )

    def mechanism(self, step: Step) -> str | None:
        """An AUTH mechanism given as a variable, expanded and checked (the loader checked the
        ones written out)."""
        if step.mechanism is None or "${" not in step.mechanism:
            return step.mechanism
        value = self.expand(step.mechanism, step.position)
        if value is None:
            return None
        if value.strip().upper() in MECHANISMS:
            return value.strip().upper()
        if self.placeholders and "x" in value:
            return value  # `validate` without a value: the run will check the real one
        self.problem(
            step.position,
            f"after expanding variables, 'mechanism' must be {' or '.join(MECHANISMS)}, got "
            f"'{value[:40]}'",
        )
        return None

    def file_body(self, step: Step) -> str | None:
        """A message file with `expand: true`: read whole (so bounded like any value), UTF-8,
        every `${...}` expanded. Without `expand` the file is streamed as it is when played."""
        where, path = step.position, step.file or ""
        shown_path = shown(path)
        try:
            data = read_bounded(Path(path), MAX_EXPANDED_VALUE)
        except InputFileError as exc:
            self.problem(where, f"message file {shown_path}: {exc}")
            return None
        if len(data) > MAX_EXPANDED_VALUE:
            limit = MAX_EXPANDED_VALUE // (1024 * 1024)
            self.problem(
                where,
                f"message file {shown_path} is over {limit} MiB, too large for 'expand: true' "
                "(without it the file is streamed as it is, whatever its size)",
            )
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problem(
                where,
                f"message file {shown_path} is not UTF-8 (byte 0x{data[exc.start]:02X} at offset "
                f"{exc.start}), so its variables cannot be expanded; drop 'expand: true' to send "
                "it as it is",
            )
            return None
        undefined = sorted(
            {r.name for r in references(text) if not r.env}
            - set(self.scenario.variables)
            - set(self.overrides)
        )
        if undefined:
            names = ", ".join(f"${{{n}}}" for n in undefined[:5])
            self.problem(where, f"message file {shown_path} uses undefined variables: {names}")
            return None
        return self.expand(text, where)

    def expectation(self, exp: Expectation | None, where: Position) -> Expectation | None:
        if exp is not None and exp.same_as is not None and self.saved is not None:
            exp = self.same_as(exp, where)
        if exp is None or not exp.texts:
            return exp
        texts = tuple(self.pattern(text, exp.position or where) for text in exp.texts)
        return exp if texts == exp.texts else replace(exp, texts=texts)

    def same_as(self, exp: Expectation, where: Position) -> Expectation:
        """`same_as: NAME`: the code saved as NAME becomes the expected code (`same_class_as:
        NAME`: its class, 5xx)."""
        assert exp.same_as is not None and self.saved is not None
        value = self.saved.get(exp.same_as)
        if value is None:
            self.problem(exp.position or where, f"no value was saved as '{exp.same_as}'")
            return exp
        if not re.fullmatch(r"[2-5][0-9][0-9]", value):
            self.problem(
                exp.position or where,
                f"same_as {exp.same_as}: the saved value {value!r} is not a reply code "
                "(save it with {code: true})",
            )
            return exp
        return replace(exp, codes=(CodePattern(f"{value[0]}xx" if exp.same_class else value),))

    def pattern(self, text: Pattern, where: Position) -> Pattern:
        """`${var}` in a pattern is matched literally: values are escaped as they go in."""
        # Imported here: a scenario with no reply-text pattern binds without RE2.
        from probe.scenario.patterns import PatternError, compile_pattern, escape

        expanded = self.expand(text.pattern, where, escape)
        if expanded is None or expanded == text.pattern:
            return text
        try:
            return compile_pattern(expanded)
        except PatternError as error:
            self.problem(
                where, f"after expanding variables, the regex in 'text' is invalid: {error}"
            )
            return text

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
        raise ScenarioError(_sorted(binder.problems))
    steps = [binder.masked(s, b) for s, b in zip(scenario.steps, steps, strict=True)]
    if scenario.saves:
        # Steps that use saved values are bound again when they play, with the values saved.
        late = late_names(scenario)
        steps = [
            replace(b, template=s) if saved_names(s, scenario, late) else b
            for s, b in zip(scenario.steps, steps, strict=True)
        ]
    return BoundScenario(
        scenario=scenario,
        values={
            k: v for k, v in binder.values.items() if v is not None and k not in scenario.saves
        },
        steps=tuple(steps),
        secrets=frozenset(s for s in binder.secrets if s),
        rebind=partial(_rebind, scenario, dict(overrides), environ) if scenario.saves else None,
    )


def late_names(scenario: Scenario) -> set[str]:
    """Saved names, and the variables whose values depend on one."""
    late = set(scenario.saves)
    changed = True
    while changed:
        changed = False
        for name, var in scenario.variables.items():
            if name not in late and any(r.name in late for r in references(var.default or "")):
                late.add(name)
                changed = True
    return late


def saved_names(step: Step, scenario: Scenario, late: set[str] | None = None) -> set[str]:
    """The saved values a step needs (directly, or through variables)."""
    late = late_names(scenario) if late is None else late
    used = {r.name for t in step_templates(step) for r in references(t) if not r.env}
    needed: set[str] = set()
    todo = [n for n in used if n in late]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        var = scenario.variables.get(name)
        if var is not None:
            todo += [r.name for r in references(var.default or "") if r.name in late]
    return {n for n in needed if n in scenario.saves}


def _rebind(
    scenario: Scenario,
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    template: Step,
    saved: Mapping[str, str],
) -> Step:
    """A step that uses saved values, bound with them (ScenarioError if it cannot be)."""
    binder = _Binder(scenario, overrides, environ, saved=saved)
    bound = binder.step(template)
    if binder.problems:
        raise ScenarioError(_sorted(binder.problems))
    return binder.masked(template, bound)


def _sorted(problems: list[ScenarioProblem]) -> list[ScenarioProblem]:
    """The problems in report order (imported here, on the error path only: the YAML reader's
    module is not needed to bind a scenario that came from the cache)."""
    from probe.scenario.yamlnodes import sorted_problems

    return sorted_problems(problems)
