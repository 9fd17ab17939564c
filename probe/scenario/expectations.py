"""`expect:` values -> `Expectation`, checked against what the code tables let a command answer.

Forms: `250`, `"5xx"`, `"25x"`, a list of those, or `{code: <one or list>, text: <regex>,
level: ..., why: ...}` (`level` and `why` there override the step's). A regex may use `${name}`;
the value is inserted literally (escaped) when the scenario is bound.
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probe.codes import canonical_command, load_table
from probe.record import record
from probe.scenario import variables
from probe.scenario.fields import Fields, did_you_mean, yaml12_number
from probe.scenario.grammar import EXPECT_KEYS
from probe.scenario.model import CodePattern, Expectation, Level
from probe.scenario.patterns import Pattern, PatternError, compile_pattern
from probe.scenario.yamlnodes import INT_TAG, STR_TAG, describe, is_null, items

CODE_RE = re.compile(r"[2-5](?:[0-9][0-9xX]|[xX][xX])\Z")


@record(frozen=True, slots=True)
class Judge:
    """Which code-table command judges a reply, and a hint to add when an expectation can't be
    met (e.g. "set 'as:' ...")."""

    command: str
    hint: str = ""


def allowed_classes(command: str) -> tuple[str, frozenset[int]] | None:
    """(table name, first digits the tables allow) for a verb or table name; None when the
    tables don't know the command or are not available yet."""
    try:
        table = load_table()
        name = command if command in getattr(table, "commands", ()) else canonical_command(command)
        classes = table.classes(name)
    except NotImplementedError:
        return None
    return (name, frozenset(classes)) if classes else None


def regex_template_check(pattern: str) -> str | None:
    """Compile a pattern template with each reference replaced by a placeholder; the error or
    None."""
    masked = variables.expand(pattern, lambda ref: "x")
    try:
        compile_pattern(masked)
    except PatternError as exc:
        return str(exc)
    return None


class ExpectReader:
    def __init__(self, fields: Fields) -> None:
        self.f = fields
        self.problems = fields.problems

    def read(
        self, node: Node, key: str, *, level: Level, why: str, judge: Judge | None
    ) -> Expectation | None:
        """One `expect`-like value; None (reported) when it is invalid."""
        codes: list[tuple[CodePattern, Node]] | None = []
        texts: list[Pattern] = []
        same_as: str | None = None
        same_class = False
        ok = True
        if isinstance(node, MappingNode):
            code_node: Node | None = None
            text_node: Node | None = None
            same_node: Node | None = None
            for name, key_node, value in items(node, self.problems):
                if name == "code":
                    code_node = value
                elif name == "text":
                    text_node = value
                elif name in ("same_as", "same_class_as"):
                    if same_node is not None:
                        self.problems.add(
                            key_node, f"'{key}' takes 'same_as' or 'same_class_as', not both"
                        )
                        return None
                    same_node, same_class = value, name == "same_class_as"
                elif name == "level":
                    level = self.f.level(value) or level
                elif name == "why":
                    why = self.f.text(value, "why") or why
                else:
                    self.problems.add(
                        key_node,
                        f"unknown key '{name}' in '{key}'"
                        + did_you_mean(name, EXPECT_KEYS, "it takes: " + ", ".join(EXPECT_KEYS)),
                    )
                    ok = False
            same_key = "same_class_as" if same_class else "same_as"
            if code_node is None and text_node is None and same_node is None:
                self.problems.add(node, f"'{key}' needs 'code', 'text' or 'same_as'")
                return None
            if code_node is not None and same_node is not None:
                self.problems.add(same_node, f"'{key}' takes 'code' or '{same_key}', not both")
                return None
            if same_node is not None:
                same_as = self._saved_name(same_node, same_key)
                ok = ok and same_as is not None
            if code_node is not None:
                codes = self._codes(code_node, key)
            if text_node is not None:
                members = text_node.value if isinstance(text_node, SequenceNode) else [text_node]
                if not members:
                    self.problems.add(text_node, "'text' list is empty; give one or more patterns")
                    ok = False
                for member in members:
                    pattern = self._regex(member)
                    ok = ok and pattern is not None
                    if pattern is not None:
                        texts.append(pattern)
        else:
            codes = self._codes(node, key)
        if codes is None or not ok:
            return None
        if judge is not None and not self._possible(codes, key, judge):
            return None
        return Expectation(
            codes=tuple(c for c, _ in codes),
            texts=tuple(texts),
            level=level,
            why=why,
            position=self.problems.position(node),
            same_as=same_as,
            same_class=same_class,
        )

    def _saved_name(self, node: Node, key: str) -> str | None:
        name = str(node.value) if isinstance(node, ScalarNode) and not is_null(node) else ""
        if not variables.NAME_RE.match(name):
            self.problems.add(
                node, f"'{key}' takes the name of a saved reply code, got {describe(node)}"
            )
            return None
        return name

    def _codes(self, node: Node, key: str) -> list[tuple[CodePattern, Node]] | None:
        if isinstance(node, SequenceNode):
            if not node.value:
                self.problems.add(node, f"'{key}' list is empty; give one or more codes")
                return None
            members = list(node.value)
        else:
            members = [node]
        out: list[tuple[CodePattern, Node]] = []
        ok = True
        for member in members:
            pattern = self._code(member, key)
            if pattern is None:
                ok = False
            else:
                out.append((pattern, member))
        return out if ok else None

    def _code(self, node: Node, key: str) -> CodePattern | None:
        if isinstance(node, ScalarNode) and is_null(node):
            self.problems.add(node, f"'{key}' has no value; give a code such as 250 or 5xx")
            return None
        number = yaml12_number(node)  # 250, and what YAML 1.2 reads as 250: 0xFA, 250.0, 2.5e2
        if number is not None:
            whole = isinstance(number, int) or number.is_integer()  # (not inf, not NaN)
            if whole and 200 <= number <= 599:
                return CodePattern(str(int(number)))
        elif isinstance(node, ScalarNode) and node.tag in (INT_TAG, STR_TAG):
            text = str(node.value).strip()
            if CODE_RE.match(text):
                return CodePattern(text.lower())
        elif not isinstance(node, ScalarNode):
            self.problems.add(
                node, f"'{key}' must be a code or a list of codes, got {describe(node)}"
            )
            return None
        self.problems.add(
            node,
            f"bad reply code {describe(node)} in '{key}'; write a code (250), a class (5xx) "
            "or a class and subclass (25x), first digit 2-5",
        )
        return None

    def _regex(self, node: Node) -> Pattern | None:
        pattern = self.f.text(node, "text")
        if pattern is None:
            return None
        if "$" not in pattern:  # no reference: compiled once, here
            try:
                return compile_pattern(pattern)
            except PatternError as exc:
                self.problems.add(node, f"bad regex in 'text': {exc}")
                return None
        error = regex_template_check(pattern)
        if error is not None:
            self.problems.add(node, f"bad regex in 'text': {error}")
            return None
        return Pattern(pattern, None) if "${" in pattern else compile_pattern(pattern)

    def _possible(self, codes: list[tuple[CodePattern, Node]], key: str, judge: Judge) -> bool:
        known = allowed_classes(judge.command)
        if known is None:
            return True
        name, classes = known
        allowed = ", ".join(f"{c}xx" for c in sorted(classes))
        ok = True
        for pattern, node in codes:
            digit = int(pattern.text[0])
            if digit not in classes:
                self.problems.add(
                    node,
                    f"{name} never answers {digit}xx, so '{key}: {pattern}' can never be met "
                    f"(the code tables allow {allowed}){judge.hint}",
                )
                ok = False
        return ok
