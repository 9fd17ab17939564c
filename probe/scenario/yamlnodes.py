"""Scenario file -> YAML node tree with positions, plus the checks PyYAML does not make.

`yaml.safe_load` throws positions away and silently keeps the last of two duplicate keys, so the
loader works on the composed node tree instead (every node keeps its start mark).

Goals: every way a file can be unreadable becomes a `ScenarioProblem`, never a traceback, and
any file under the cap is read in a fraction of a second. The pure-Python parser needs about
2.5 s per MiB of dense YAML; libyaml's about 0.1 s. Plan: refuse files over `MAX_BYTES` before
reading them whole (a real scenario is a few KiB); parse with libyaml under PyYAML's own
composer (libyaml's C composer crashes the interpreter on deeply nested input, the Python one
raises `RecursionError`, which becomes a problem); read a file libyaml refuses again with the
pure-Python loader, whose messages are the ones the tests pin; walk node trees iteratively with
a `seen` set, because aliases can make a tree exponentially large (or cyclic) while the file
stays small.
"""

from __future__ import annotations

import bisect
import codecs
import copy
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]
except ImportError:  # PyYAML built without libyaml: the pure-Python loader reads everything
    CParser = None  # type: ignore[assignment,misc]

from probe.inputfile import InputFileError, read_bounded
from probe.scenario.errors import ScenarioError, ScenarioProblem
from probe.scenario.model import Position

MAX_BYTES = 256 * 1024
MAX_NODES = 100_000  # nodes in one file (long-form steps filling 256 KiB make about 35,000)
MAX_TAB_PROBLEMS = 20
TAB_RETRY_BUDGET = 64 * 1024  # characters the pure-Python loader may read again to find more tabs
SLOW_TOKENS = 10_000  # tokens the pure-Python loader reads, at most, after libyaml (0.1 s)

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
MERGE_TAG = "tag:yaml.org,2002:merge"

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what PyYAML counts as line breaks

Where = Node | Position | tuple[int, int] | None


MAX_PROBLEMS = 1000  # problems one file may collect; past that, reading stops (see `full`)


class Problems:
    """Collects problems for one file; `position()` turns nodes and offsets into 1-based places.

    Everything a problem costs (a suggestion, a message, a place) is paid once per problem, so a
    file of thousands of mistakes stops being read once MAX_PROBLEMS are collected: the loops
    over steps, keys and references check `full` and say where they stopped.
    """

    def __init__(self, file: str, text: str = "") -> None:
        self.file = file
        self.text = text
        self.items: list[ScenarioProblem] = []
        self._verbatim: dict[int, tuple[Node, int, int]] = {}  # id -> (node, at, first break)
        self._blocks: dict[int, tuple[Node, list[int]]] = {}  # id -> (node, line starts)
        self._lines: list[str] | None = None
        self.stopped = False

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def stop(self, where: Where) -> None:
        """Report, once, that reading stopped at `where` (the list of problems is full)."""
        if not self.stopped:
            self.stopped = True
            self.add(where, f"more than {MAX_PROBLEMS} problems; the rest of the file is not read")

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
        on one line (plain, or quoted without escapes); otherwise the scalar's start. What each
        scalar's source looks like is worked out once (a value may hold thousands of places)."""
        start = self.position(node)
        value = node.value if isinstance(node, ScalarNode) else None
        if isinstance(value, str) and getattr(node, "style", None) == "|":
            return self._in_literal_block(node, value, offset) or start
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            return start
        known = self._verbatim.get(id(node))
        if known is None:
            source = self.text[node.start_mark.index : node.end_mark.index]
            at = source.find(value) if value else -1
            newline = source.find("\n")
            known = self._verbatim[id(node)] = (node, at, len(source) if newline < 0 else newline)
        _, at, newline = known
        if at < 0 or newline < at + offset:
            return start
        return Position(self.file, start.line, start.column + at + offset)

    def _in_literal_block(self, node: Node, value: str, offset: int) -> Position | None:
        """In a `|` block each value line is a source line minus the block's indentation."""
        known = self._blocks.get(id(node))
        if known is None:
            starts = [0] + [m.end() for m in re.finditer("\n", value)]
            known = self._blocks[id(node)] = (node, starts)
        starts = known[1]
        number = bisect.bisect_right(starts, offset) - 1  # the value line `offset` is on
        line_start = starts[number]
        line_end = starts[number + 1] - 1 if number + 1 < len(starts) else len(value)
        wanted = value[line_start:line_end]
        index = node.start_mark.line + 1 + number
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.text)
        lines = self._lines
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
    """A tag the file format does not define: reported in its own words, not as a syntax error."""


class _TooManyNodes(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(mark)
        self.mark = mark


class _PlacedNodes:
    """Aliases are nodes of their own, placed where the alias is written (they share the anchored
    node's contents), so a problem found through `*name` points at it. At most MAX_NODES nodes
    are made: each costs a few microseconds, and `[[[]]]` makes one for every byte."""

    nodes = 0
    scenario = True  # a scenario file (else a targets file): hints name scenario keys

    def tag_hint(self, tag: str) -> str:
        if self.scenario and "include" in tag:
            return " (a message body from a file: data: {file: msg.eml})"
        return ""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooManyNodes(self.peek_event().start_mark)  # type: ignore[attr-defined]
        event = self.peek_event()  # type: ignore[attr-defined]
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
            raise _TagError(
                problem=f"unknown YAML tag '{shown}'{self.tag_hint(tag)}; only YAML's core tags "
                "are read (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)",
                problem_mark=event.start_mark,
            )
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            node = copy.copy(super().compose_node(parent, index))  # type: ignore[misc]
            if node is not None:
                node.start_mark, node.end_mark = event.start_mark, event.end_mark
                node.from_alias = True  # `- *steps` unfolds (checked in steps.py)
            return node
        return super().compose_node(parent, index)  # type: ignore[misc]


class _Loader(_PlacedNodes, yaml.SafeLoader):
    """The pure-Python loader: slow (about 2.5 us a character), but its messages are the ones
    the corpus pins, so it reads every file the fast loader refuses.

    PyYAML's scanner looks through every pending simple key (one per open flow collection) for
    each token, so `[[[[...]]]]` lines cost time quadratic in their depth (a 256 KiB file took
    10 s). Keys are saved in the order of their token numbers, positions and lines, so the next
    key is the first one and the stale keys are a prefix: both are found without a full scan.
    """

    def __init__(self, stream: str, budget: int | None = None) -> None:
        super().__init__(stream)
        self.possible_simple_keys: OrderedDict[int, Any] = OrderedDict()
        self.budget = budget  # tokens this loader may read; None: no limit

    def fetch_more_tokens(self) -> None:
        if self.budget is not None:
            self.budget -= 1
            if self.budget < 0:
                raise _OverBudget
        super().fetch_more_tokens()

    def next_possible_simple_key(self) -> int | None:
        for key in self.possible_simple_keys.values():
            return key.token_number
        return None

    def stale_possible_simple_keys(self) -> None:
        keys = self.possible_simple_keys
        while keys:
            level, key = next(iter(keys.items()))
            if key.line == self.line and self.index - key.index <= 1024:
                return  # this key and every later one are still possible
            if key.required:
                raise yaml.scanner.ScannerError(
                    "while scanning a simple key",
                    key.mark,
                    "could not find expected ':'",
                    self.get_mark(),
                )
            del keys[level]


if CParser is not None:

    class _FastLoader(_PlacedNodes, Composer, CParser, Resolver):
        """libyaml's parser under PyYAML's own composer and resolver (20 times as fast as
        PyYAML's parser, 7 times with the composing): the same nodes, tags and marks as `_Loader`
        makes, and the Python composer's recursion (RecursionError, not libyaml's C stack) on
        deep nesting."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)

        def compose_scalar_node(self, anchor: Any) -> ScalarNode:
            event = self.peek_event()
            if isinstance(event, yaml.ScalarEvent) and event.tag == "!" and not event.value:
                event.implicit = (True, False)  # PyYAML: an empty `!` node resolves as plain
            node = super().compose_scalar_node(anchor)
            if node.style == "":  # libyaml's plain style; PyYAML's is None
                node.style = None
            return node


def _compose_fast(text: str, scenario: bool = True) -> Node | None:
    """The root node through libyaml; YAMLError or RecursionError when it refuses the text."""
    loader = _FastLoader(text)
    loader.scenario = scenario
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def compose(text: str, problems: Problems, *, scenario: bool = True) -> Node | None:
    """The document's root node, or None (with problems added unless the file is simply empty).

    Files are read with libyaml when it is there. A file it refuses is read again with the
    pure-Python loader, whose messages are the ones reported, and so is a file with a tab where
    PyYAML refuses one and libyaml may not (`key:<TAB>value`; YAML 1.2 allows it, PyYAML's
    scanner does not): a tab outside quoted and block scalars and outside comments. That second
    reading stops after SLOW_TOKENS tokens (a quarter of a second or so); past them, the
    problem is told in libyaml's words, or as the tabs the layout shows.
    """
    if CParser is None:
        return _compose_slow(text, problems, scenario=scenario)
    try:
        if "\t" in text:
            # With every tab made a space, the layout shows where the scalars and comments are.
            tabs = _bad_tabs(text, _compose_fast(text.replace("\t", " "), scenario))
            if tabs:
                return _compose_slow(
                    text, problems, tabs=tabs, budget=SLOW_TOKENS, scenario=scenario
                )
        return _compose_fast(text, scenario)
    except RecursionError:  # what the pure-Python loader would find too, later and slower
        problems.add(None, "YAML nesting is too deep")
        return None
    except (_TooManyNodes, _TagError) as exc:
        _report_error(exc, text, problems)
        return None
    except yaml.YAMLError as exc:
        return _compose_slow(text, problems, refused=exc, budget=SLOW_TOKENS, scenario=scenario)


def _bad_tabs(text: str, root: Node | None) -> list[int]:
    """Offsets of the tabs outside quoted and block scalars and comments (at most
    MAX_TAB_PROBLEMS), in the layout `root` was composed from."""
    scalars: list[tuple[int, int]] = []  # every scalar: a '#' inside one starts no comment
    as_is: list[tuple[int, int]] = []  # quoted and block scalars: a tab inside one is content
    _scalar_spans(text, root, scalars, as_is)
    in_scalar, in_as_is = _Spans(scalars), _Spans(as_is)
    bad: list[int] = []
    for line in _LINE.finditer(text):
        if "\t" not in line.group():
            continue
        start, end = line.span()
        comment = text.find("#", start, end)
        while comment >= 0 and in_scalar(comment):
            comment = text.find("#", comment + 1, end)
        tab = text.find("\t", start, end if comment < 0 else comment)
        while tab >= 0:
            if not in_as_is(tab):
                bad.append(tab)
                if len(bad) >= MAX_TAB_PROBLEMS:
                    return bad
            tab = text.find("\t", tab + 1, end if comment < 0 else comment)
    return bad


_LINE = re.compile("[^\r\n\x85\u2028\u2029]+")


class _Spans:
    """Whether an offset lies inside one of some (start, end) spans."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [start for start, _ in self.spans]

    def __call__(self, index: int) -> bool:
        at = bisect.bisect_right(self.starts, index) - 1
        return at >= 0 and index < self.spans[at][1]


def _scalar_spans(
    text: str, root: Node | None, scalars: list[tuple[int, int]], as_is: list[tuple[int, int]]
) -> None:
    seen: set[int] = set()
    stack = [] if root is None else [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            start, end = node.start_mark.index, node.end_mark.index
            scalars.append((start, end))
            if node.style in ("|", ">"):  # the content starts on the line after the header
                header_end = _LINE_BREAK.search(text, start, end)
                as_is.append((end if header_end is None else header_end.start(), end))
            elif node.style in ("'", '"'):
                as_is.append((_after_properties(text, start, end), end))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                stack += (key, value)
        elif isinstance(node, SequenceNode):
            stack += node.value


def _after_properties(text: str, start: int, end: int) -> int:
    """Where a node's content starts: after an anchor (`&a`) or tag (`!t`) and the blanks that
    follow it (a node's start mark is that of its first property)."""
    while start < end and text[start] in "&!":
        while start < end and text[start] not in " \t\r\n":
            start += 1
        while start < end and text[start] in " \t\r\n":
            start += 1
    return start


def _yaml_places(text: str, offsets: list[int]) -> list[tuple[int, int]]:
    """(line, column) of each offset (ascending, none inside a CRLF) as PyYAML counts them: CRLF,
    CR, LF, NEL, LS and PS each end a line."""
    places = []
    line, line_start, at = 1, 0, 0
    for offset in offsets:
        for match in _LINE_BREAK.finditer(text, at, offset):
            line += 1
            line_start = match.end()
        at = offset
        places.append((line, offset - line_start + 1))
    return places


class _OverBudget(Exception):
    """The pure-Python loader read its budget of tokens."""


def _compose_slow(
    text: str,
    problems: Problems,
    *,
    tabs: list[int] | None = None,
    refused: yaml.YAMLError | None = None,
    budget: int | None = None,
    scenario: bool = True,
) -> Node | None:
    """The pure-Python loader. A tab error stops PyYAML. When its first error is the first of
    `tabs` (the tabs the layout shows outside scalars and comments), every one of them is
    reported. Otherwise, to report more than one tab line, the tab is replaced by a space and the
    text composed again, up to MAX_TAB_PROBLEMS times and while the text read again stays within
    TAB_RETRY_BUDGET characters (a round reads at least as far as the error before it). Only tab
    problems are kept from those later rounds: once the text has been altered, other errors may
    be artefacts. Past `budget` tokens, `tabs` or libyaml's error (`refused`) are reported.
    """
    found = 0
    reread = 0
    while True:
        loader = None
        try:
            loader = _Loader(text, budget)  # PyYAML's reader checks for control characters here
            loader.scenario = scenario
            root = loader.get_single_node()
            return None if found else root
        except _OverBudget:
            if found:
                return None
            if tabs:
                _report_tabs(text, tabs, problems)
            elif refused is not None:
                _report_error(refused, text, problems)
            else:
                problems.add(None, "YAML error: the file is too complex to read")
            return None
        except _TagError as exc:
            if not found:
                _report_error(exc, text, problems)
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            if mark is not None and _is_tab_error(exc, text):
                if not found and tabs and tabs[0] == mark.index:
                    _report_tabs(text, tabs, problems)
                    return None
                problems.add((mark.line + 1, mark.column + 1), _tab_message(text, mark.index))
                found += 1
                reread += mark.index  # the next round reads at least this far again
                if found < MAX_TAB_PROBLEMS and reread <= TAB_RETRY_BUDGET:
                    text = text[: mark.index] + " " + text[mark.index + 1 :]
                    continue
                return None
            if not found:
                _report_error(exc, text, problems)
            return None
        except (yaml.YAMLError, RecursionError, _TooManyNodes) as exc:
            if not found:
                _report_error(exc, text, problems)
            return None
        finally:
            if loader is not None:
                loader.dispose()


def _report_tabs(text: str, tabs: list[int], problems: Problems) -> None:
    for index, place in zip(tabs, _yaml_places(text, tabs), strict=True):
        problems.add(place, _tab_message(text, index))


def _report_error(exc: BaseException, text: str, problems: Problems) -> None:
    """One problem for what stopped a YAML loader (PyYAML's or libyaml's)."""
    if isinstance(exc, RecursionError):
        problems.add(None, "YAML nesting is too deep")
    elif isinstance(exc, _TooManyNodes):
        problems.add(
            (exc.mark.line + 1, exc.mark.column + 1),
            f"more than {MAX_NODES:,} YAML nodes (keys, values, list items); "
            "a scenario this large is probably not a scenario",
        )
    elif isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        problems.add(
            text_place(text, exc.position),
            f"control character U+{ord(char):04X} is not allowed in a YAML file",
        )
    elif isinstance(exc, _TagError):
        mark = exc.problem_mark
        where = None if mark is None else (mark.line + 1, mark.column + 1)
        problems.add(where, exc.problem or "unknown YAML tag")
    elif isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        if mark is not None and _is_tab_error(exc, text):
            problems.add((mark.line + 1, mark.column + 1), _tab_message(text, mark.index))
        else:
            where = None if mark is None else (mark.line + 1, mark.column + 1)
            problems.add(where, _syntax_message(exc) + _indent_hint(exc, text))
    else:  # no other kinds are known; keep the promise anyway
        problems.add(None, f"YAML error: {exc}")


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
        # PyYAML: "found character '\t' that cannot start any token"; libyaml: "found a tab
        # character that violates indentation", "found character that cannot start any token"
        and any(word in (exc.problem or "") for word in ("'\\t'", "tab", "start any token"))
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
    """Duplicate keys and merge keys anywhere in the tree (PyYAML accepts duplicates silently).
    Nodes are visited in about the order they are written (each mapping's keys, then its values)."""
    seen: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, Node] = {}
            for key, _ in node.value:
                if problems.full:
                    problems.stop(key)
                    return
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
            for key, value in reversed(node.value):
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
