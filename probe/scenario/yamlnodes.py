"""Scenario file -> YAML node tree with positions, plus the checks PyYAML does not make.

`yaml.safe_load` throws positions away and silently keeps the last of two duplicate keys, so the
loader works on the composed node tree instead (every node keeps its start mark).

Goals: every way a file can be unreadable becomes a `ScenarioProblem`, never a traceback.
Worst case: the pure-Python composer needs about 8 s per MiB of dense YAML and recurses once per
nesting level. Plan: refuse files over `MAX_BYTES` before reading them whole (a real scenario is a
few KiB), turn `RecursionError` into a problem, and walk node trees iteratively with a `seen` set,
because aliases can make a tree exponentially large (or cyclic) while the file stays small. The
pure-Python loader is used even when libyaml is present: its messages are the ones the tests pin,
and libyaml's composer crashes the interpreter on deeply nested input.
"""

from __future__ import annotations

import codecs
import copy
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from probe.inputfile import InputFileError, read_bounded
from probe.scenario.errors import ScenarioError, ScenarioProblem
from probe.scenario.model import Position

MAX_BYTES = 256 * 1024
MAX_TAB_PROBLEMS = 20

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
MERGE_TAG = "tag:yaml.org,2002:merge"

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what PyYAML counts as line breaks

Where = Node | Position | tuple[int, int] | None


class Problems:
    """Collects problems for one file; `position()` turns nodes and offsets into 1-based places."""

    def __init__(self, file: str, text: str = "") -> None:
        self.file = file
        self.text = text
        self.items: list[ScenarioProblem] = []

    def add(self, where: Where, message: str) -> None:
        if where is None:
            self.items.append(ScenarioProblem(self.file, message))
            return
        pos = where if isinstance(where, Position) else self.position(where)
        self.items.append(ScenarioProblem(self.file, message, pos.line, pos.column))

    def position(self, where: Node | tuple[int, int]) -> Position:
        if isinstance(where, tuple):
            return Position(self.file, where[0], where[1])
        mark = where.start_mark
        return Position(self.file, mark.line + 1, mark.column + 1)

    def position_in(self, node: Node, offset: int) -> Position:
        """The place of character `offset` of a scalar's value, when the source shows it verbatim
        on one line (plain, or quoted without escapes); otherwise the scalar's start."""
        start = self.position(node)
        value = node.value if isinstance(node, ScalarNode) else None
        if isinstance(value, str) and getattr(node, "style", None) == "|":
            return self._in_literal_block(node, value, offset) or start
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            return start
        source = self.text[node.start_mark.index : node.end_mark.index]
        at = source.find(value) if value else -1
        if at < 0 or "\n" in source[: at + offset]:
            return start
        return Position(self.file, start.line, start.column + at + offset)

    def _in_literal_block(self, node: Node, value: str, offset: int) -> Position | None:
        """In a `|` block each value line is a source line minus the block's indentation."""
        line_start = value.rfind("\n", 0, offset) + 1
        line_end = value.find("\n", offset)
        wanted = value[line_start : line_end if line_end >= 0 else len(value)]
        index = node.start_mark.line + 1 + value.count("\n", 0, offset)
        lines = _LINE_BREAK.split(self.text)
        if index >= len(lines):
            return None
        indent = len(lines[index]) - len(wanted)
        if indent < 0 or lines[index][indent:] != wanted:
            return None
        return Position(self.file, index + 1, indent + offset - line_start + 1)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioError(sorted_problems(self.items))


def sorted_problems(problems: list[ScenarioProblem]) -> list[ScenarioProblem]:
    """Unique problems, file by file in the order given, positionless first, then by place."""
    order = {name: i for i, name in enumerate(dict.fromkeys(p.file for p in problems))}
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order[p.file], p.line or 0, p.column or 0))


# --- reading -------------------------------------------------------------------------------------


def read_text(path: Path, problems: Problems) -> str | None:
    """The file's text (UTF-8, BOM dropped), or None with a problem added."""
    try:
        data = read_bounded(path, MAX_BYTES)
    except InputFileError as exc:
        why = str(exc)
        if why.startswith("is a folder"):
            why = "is a folder; give a scenario file (or use it as a folder of them)"
        problems.add(None, why)
        return None
    if len(data) > MAX_BYTES:
        try:
            size = path.stat().st_size
        except OSError:
            size = len(data)
        problems.add(None, _too_big(max(size, len(data))))
        return None
    return decode_text(data, problems)


def _too_big(size: int) -> str:
    return (
        f"file is {size} bytes, the limit is {MAX_BYTES} ({MAX_BYTES // 1024} KiB); "
        "a scenario this large is probably not a scenario"
    )


def decode_text(data: bytes, problems: Problems) -> str | None:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.add(None, "file is UTF-16 or UTF-32 text; save it as UTF-8")
        return None
    nul = data.find(b"\0")
    if nul >= 0:
        problems.add(_byte_place(data, nul), "binary file (NUL byte); a scenario is UTF-8 text")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        problems.add(
            _byte_place(data, exc.start),
            f"not UTF-8 text: byte 0x{bad:02x} cannot be decoded; save the file as UTF-8",
        )
        return None
    return text.removeprefix("\ufeff")


def _byte_place(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def text_place(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


# --- composing -----------------------------------------------------------------------------------


# Explicit tags a scenario may carry: YAML's own core types. Any other (`!include`, `!!binary`,
# `!!python/...`) would be dropped silently by the loader and its value used as plain text.
_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq"))


class _TagError(yaml.MarkedYAMLError):
    """A tag the scenario format does not define."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose aliases are nodes of their own, placed where the alias is written (they
    share the anchored node's contents), so a problem found through `*name` points at it."""

    scenario = True  # what kind of file: scenario files get hints about their own keys

    def tag_hint(self, tag: str) -> str:
        if self.scenario and "include" in tag:
            return " (a message body from a file: data: {file: msg.eml})"
        return ""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
            raise _TagError(
                problem=f"unknown YAML tag '{shown}'{self.tag_hint(tag)}; only YAML's core tags "
                "are read (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)",
                problem_mark=event.start_mark,
            )
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = copy.copy(super().compose_node(parent, index))
            if node is not None:
                node.start_mark, node.end_mark = event.start_mark, event.end_mark
                node.from_alias = True  # type: ignore[attr-defined]  # `- *steps` unfolds
            return node
        return super().compose_node(parent, index)


class _PlainLoader(_Loader):
    scenario = False


def compose(text: str, problems: Problems, *, scenario: bool = True) -> Node | None:
    """The document's root node, or None (with problems added unless the file is simply empty).

    A tab error stops PyYAML; to report every tab line in one go, the tab is replaced by a space
    and the text composed again, up to MAX_TAB_PROBLEMS times. Only tab problems are kept from
    those later rounds: once the text has been altered, other errors may be artefacts.
    """
    tabs = 0
    while True:
        try:
            root = yaml.compose(text, Loader=_Loader if scenario else _PlainLoader)
        except RecursionError:
            if not tabs:
                problems.add(None, "YAML nesting is too deep")
            return None
        except _TagError as exc:
            if not tabs:
                mark = exc.problem_mark
                place = None if mark is None else (mark.line + 1, mark.column + 1)
                problems.add(place, exc.problem or "unknown YAML tag")
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            if mark is not None and _is_tab_error(exc, text):
                problems.add((mark.line + 1, mark.column + 1), _tab_message(text, mark.index))
                tabs += 1
                if tabs < MAX_TAB_PROBLEMS:
                    text = text[: mark.index] + " " + text[mark.index + 1 :]
                    continue
            elif not tabs:
                place = None if mark is None else (mark.line + 1, mark.column + 1)
                problems.add(place, _syntax_message(exc) + _indent_hint(exc, text))
            return None
        except yaml.reader.ReaderError as exc:
            if not tabs:
                char = exc.character if isinstance(exc.character, str) else chr(exc.character)
                problems.add(
                    text_place(text, exc.position),
                    f"control character U+{ord(char):04X} is not allowed in a YAML file",
                )
            return None
        except yaml.YAMLError as exc:  # no other kinds are known; keep the promise anyway
            if not tabs:
                problems.add(None, f"YAML error: {exc}")
            return None
        return None if tabs else root


_KEY_LINE = re.compile(r"\s+[A-Za-z_][\w-]*\s*:")


def _indent_hint(exc: yaml.MarkedYAMLError, text: str) -> str:
    """PyYAML's words for a key indented too deep under `- kind: value` say nothing of
    indentation; say what the author most likely meant."""
    mark = exc.problem_mark
    if exc.problem != "mapping values are not allowed here" or mark is None:
        return ""
    lines = text.splitlines()
    if mark.line >= len(lines) or not _KEY_LINE.match(lines[mark.line]):
        return ""
    return (
        "; this key is indented too deep: a step's keys align with its kind ('- mail: a@b' "
        "then 'expect: 250' under 'mail')"
    )


def _is_tab_error(exc: yaml.MarkedYAMLError, text: str) -> bool:
    mark = exc.problem_mark
    return (
        mark is not None
        and 0 <= mark.index < len(text)
        and text[mark.index] == "\t"
        and "'\\t'" in (exc.problem or "")
    )


def _tab_message(text: str, index: int) -> str:
    before = text[text.rfind("\n", 0, index) + 1 : index]
    if before.strip(" \t-") == "":
        return "tab in indentation; YAML indents with spaces only"
    return "tab character here; YAML separates with spaces only"


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "error"
    if problem == "but found another document":
        return "a second YAML document starts here; a scenario file holds one document"
    message = f"YAML syntax error: {problem}"
    ctx = exc.context_mark
    if exc.context and ctx is not None and ctx is not exc.problem_mark:
        message += f" ({exc.context} at line {ctx.line + 1}, column {ctx.column + 1})"
    elif exc.context:
        message += f" ({exc.context})"
    return message


def check_keys(root: Node, problems: Problems) -> None:
    """Duplicate keys and merge keys anywhere in the tree (PyYAML accepts duplicates silently)."""
    seen: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, Node] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    if key.tag == MERGE_TAG:
                        problems.add(key, "merge keys ('<<') are not supported; alias whole values")
                    elif key.value in first:
                        earlier = problems.position(first[key.value])
                        problems.add(
                            key,
                            f"duplicate key '{key.value}' "
                            f"(first at line {earlier.line}, column {earlier.column})",
                        )
                    else:
                        first[key.value] = key
                stack.append(value)
                stack.append(key)
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


# --- reading nodes -------------------------------------------------------------------------------


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def describe(node: Node) -> str:
    """What a node is, for 'got ...' in messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    return f"'{shorten(str(node.value))}'"


def shorten(text: str, limit: int = 40) -> str:
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def items(node: MappingNode, problems: Problems) -> list[tuple[str, ScalarNode, Node]]:
    """A mapping's (key, key node, value) in order; bad keys are reported and duplicates (already
    reported by check_keys) are dropped, keeping the first."""
    out: list[tuple[str, ScalarNode, Node]] = []
    seen: set[str] = set()
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or is_null(key):
            problems.add(key, f"a key must be a word, got {describe(key)}")
            continue
        if key.tag == MERGE_TAG or key.value in seen:
            continue
        seen.add(key.value)
        out.append((key.value, key, value))
    return out
