"""Reading typed values out of YAML nodes, reporting each wrong one where it is."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from probe.scenario import variables
from probe.scenario.grammar import LEVELS
from probe.scenario.model import Level
from probe.scenario.yamlnodes import (
    BOOL_TAG,
    Problems,
    describe,
    is_null,
)
from probe.wire import no_wire_form

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_EHLO_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")  # RFC 5321 §4.1.1.1 ehlo-keyword
# YAML 1.2's core schema, which editors and the JSON Schema follow. PyYAML follows YAML 1.1, where
# `1e3` is text and `1_000`, `0b11`, `1:30` and `017` (octal) are numbers; numeric fields are read
# as YAML 1.2 reads them, so that the loader and the schema agree.
_YAML12_INT = re.compile(r"[-+]?[0-9]+")
_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_YAML12_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_YAML12_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


def yaml12_number(node: Node) -> int | float | None:
    """The number a plain scalar is in YAML 1.2's core schema, or None (text, or not a scalar)."""
    if not isinstance(node, ScalarNode) or node.style is not None:
        return None
    text = str(node.value)
    if _YAML12_INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # past Python's 4,300 digits for int(): far past any float too
            return math.inf if not text.startswith("-") else -math.inf
    if text.startswith("0o") and re.fullmatch(r"[0-7]+", text[2:]):
        return int(text[2:], 8)
    if text.startswith("0x") and re.fullmatch(r"[0-9a-fA-F]+", text[2:]):
        return int(text[2:], 16)
    if _YAML12_FLOAT.fullmatch(text):
        return float(text)  # a huge exponent gives inf, as in YAML 1.2
    if _YAML12_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _YAML12_NAN.fullmatch(text):
        return math.nan
    return None


SUGGESTION_CANDIDATES = (
    200  # a longer list is indexed (Suggester); a look-up ranks at most this many
)
INDEXED_LENGTH = 64  # in a long list, longer names are neither indexed nor looked up


class Suggester:
    """Close matches among names. A short list (the step kinds, a step's keys) is compared in
    full with difflib. A long one (thousands of variables) is indexed once, on the first look-up,
    by every name's one-character deletions, so that a look-up finds the names one edit (or a
    swap of two letters) away in a few dictionary probes, and difflib ranks only those: a file
    with thousands of names and hundreds of typos costs time linear in its size."""

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = list(choices)
        self._index: dict[str, list[str]] | None = None

    def best(self, word: str) -> str | None:
        candidates = self.choices
        if len(candidates) > SUGGESTION_CANDIDATES:
            candidates = self._near(word)
        import difflib  # only for a mistake: not imported by every run

        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        if not close:
            close = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
        return close[0] if close else None

    def _near(self, word: str) -> list[str]:
        if len(word) > INDEXED_LENGTH:
            return []
        if self._index is None:
            self._index = {}
            for choice in self.choices:
                if len(choice) <= INDEXED_LENGTH:
                    for variant in _deletions(choice.lower()):
                        self._index.setdefault(variant, []).append(choice)
        near: dict[str, None] = {}
        for variant in _deletions(word.lower()):
            for choice in self._index.get(variant, ()):
                near[choice] = None
                if len(near) >= SUGGESTION_CANDIDATES:
                    return list(near)
        return list(near)


def _deletions(word: str) -> set[str]:
    """The word and every word one character shorter."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def suggestion(word: str, choices: Sequence[str]) -> str | None:
    return Suggester(choices).best(word)


def did_you_mean(word: str, choices: Sequence[str], listing: str = "") -> str:
    """ "; did you mean 'x'?" or, when nothing is close, "; <listing>" (or nothing)."""
    best = suggestion(word, choices)
    if best is not None:
        return f"; did you mean '{best}'?"
    return f"; {listing}" if listing else ""


class Fields:
    """Typed readers sharing one problem list; every template read is remembered (with its node)
    so that references can be checked once all variables are known."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.templates: list[tuple[ScalarNode, variables.Ref]] = []

    def text(
        self,
        node: Node,
        key: str,
        *,
        template: bool = True,
        one_line: bool = False,
    ) -> str | None:
        """A scalar as text (numbers and booleans as written); None (reported) otherwise."""
        if not isinstance(node, ScalarNode) or is_null(node):
            self.problems.add(node, f"'{key}' must be text, got {describe(node)}")
            return None
        value = str(node.value)
        unsendable = no_wire_form(value)
        if unsendable is not None:
            self.problems.add(node, f"'{key}' {unsendable}: it cannot be sent")
            return None
        if one_line and ("\n" in value or "\r" in value):
            self.problems.add(
                node,
                f"'{key}' must be one line (it goes into a command line); "
                "use send: {raw: ...} to send line breaks",
            )
            return None
        if template:
            self.template(node, value)
        return value

    def template(self, node: ScalarNode, value: str) -> None:
        parts, bad = variables.parse(value)
        for problem in bad:
            where = self.problems.position_in(node, problem.offset)
            if self.problems.full:
                self.problems.stop(where)
                break
            self.problems.add(where, problem.message)
        self.templates.extend((node, part) for part in parts if isinstance(part, variables.Ref))

    def boolean(self, node: Node, key: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == BOOL_TAG:
            value = _CONSTRUCTOR.bool_values.get(str(node.value).lower())
            if value is not None:
                return value
        self.problems.add(node, f"'{key}' must be true or false, got {describe(node)}")
        return None

    def positive_number(self, node: Node, key: str) -> float | None:
        """A finite number above zero, as YAML 1.2 reads it; None (reported) otherwise."""
        number = yaml12_number(node)
        try:
            value = None if number is None else float(number)
        except OverflowError:  # an integer past the largest float
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            hint = ""
            if (
                isinstance(node, ScalarNode)
                and node.style in ("'", '"')
                and _YAML12_FLOAT.fullmatch(str(node.value))
            ):
                hint = "; quoted, it is text: write the number without quotes"
            self.problems.add(
                node, f"'{key}' must be a positive number, got {describe(node)}{hint}"
            )
            return None
        return value

    def keywords(self, node: Node, key: str) -> tuple[str, ...] | None:
        """One EHLO keyword or a list of them (RFC 5321 §4.1.1.1: ALPHA / DIGIT, then also
        hyphens), upper-cased; None (reported) otherwise."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        out: list[str] = []
        for item in items:
            word = str(item.value) if isinstance(item, ScalarNode) and not is_null(item) else ""
            if not _EHLO_KEYWORD.fullmatch(word):
                self.problems.add(
                    item, f"'{key}' takes EHLO keywords such as PIPELINING, got {describe(item)}"
                )
                return None
            out.append(word.upper())
        if not out:
            self.problems.add(node, f"'{key}' needs at least one EHLO keyword")
            return None
        return tuple(out)

    def level(self, node: Node, key: str = "level") -> Level | None:
        if isinstance(node, ScalarNode) and str(node.value).lower() in LEVELS:
            return Level(str(node.value).lower())
        hint = ""
        if isinstance(node, ScalarNode) and not is_null(node):
            hint = did_you_mean(str(node.value).lower(), LEVELS)
        self.problems.add(node, f"'{key}' must be must, should or info, got {describe(node)}{hint}")
        return None
