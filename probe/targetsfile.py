"""Targets with variables of their own: `--targets FILE` (CLI), `--smtp-targets FILE` and
`--smtp-target` (pytest plugin), and `KEY=VALUE` variables given on the command line.

Two file forms:

- lines: `TARGET [KEY=VALUE ...]`, whitespace between words; `#` at the start of a word starts a
  comment (so `#` inside a value is kept); blank lines are skipped;
- YAML, when the file name ends in `.yaml`/`.yml` or its first entry starts with `-`: a list
  whose items are a target (`- 127.0.0.1:2525`) or a mapping `{target: ..., vars: {...}}`.

A variable's value is text, checked as a `--var` value is (it must have a wire form). Every
problem is one line, `FILE:LINE: what is wrong`; nothing is sent when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.inputfile import InputFileError, read_bounded, shown
from probe.record import field, record
from probe.targets import DEFAULT_PORT, Target, TargetError, parse_target
from probe.wire import no_wire_form

if TYPE_CHECKING:
    from probe.scenario import Scenario

MAX_BYTES = 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
_KEYS = ("target", "vars")
_BRACKET_TARGET = re.compile(r"(^|[-\s])(target:\s*)?\[[0-9A-Fa-f:.]*\]")
_NAME_RULE = "letters, digits, '_' and '-', not starting with a digit or '-'"


class TargetsFileError(ValueError):
    """Problems in a targets list: one line each, `FILE:LINE: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@record(frozen=True, slots=True)
class TargetEntry:
    """A target and the variables given with it (they beat `--var` for this target)."""

    target: Target
    variables: Mapping[str, str] = field(default_factory=dict)
    where: str = ""  # `FILE:LINE` or the option it came from, for messages; "" on the command line

    @property
    def label(self) -> str:
        """The target as written, with its variables: `127.0.0.1:2525 domain=a.test`."""
        return " ".join([self.target.text, *(f"{k}={v}" for k, v in self.variables.items())])


def parse_var(pair: str, option: str = "--var") -> tuple[str, str]:
    """`KEY=VALUE` from a command-line option; ValueError with a one-line message."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{option} {pair!r}: expected KEY=VALUE")
    unsendable = no_wire_form(value)
    if unsendable is not None:
        raise ValueError(f"{option} {_printable(pair)}: the value {unsendable}; it cannot be sent")
    return key.strip(), value


def parse_line(text: str, where: str, default_port: int = DEFAULT_PORT) -> TargetEntry | None:
    """One line of the plain form (None for a blank or comment line)."""
    words = []
    for word in text.split():
        if word.startswith("#"):
            break
        words.append(word)
    if not words:
        return None
    try:
        target = parse_target(words[0], default_port)
    except TargetError as exc:
        raise TargetsFileError([f"{where}: bad target {exc}"]) from None
    variables: dict[str, str] = {}
    problems = []
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            problems.append(
                f"{where}: {_printable(word)!r} is not KEY=VALUE (one target a line, then its "
                "variables as KEY=VALUE)"
            )
            continue
        problem = _variable_problem(key, value, variables)
        if problem:
            problems.append(f"{where}: {problem}")
        else:
            variables[key] = value
    if problems:
        raise TargetsFileError(problems)
    return TargetEntry(target, variables, where)


def read_targets_file(path: Path, default_port: int = DEFAULT_PORT) -> list[TargetEntry]:
    """Every target of a targets file, in order; TargetsFileError lists every problem."""
    name = shown(path)
    try:
        data = read_bounded(path, MAX_BYTES)
        if len(data) > MAX_BYTES:
            raise InputFileError(
                f"is over {MAX_BYTES // 1024} KiB; a targets file is one target a line"
            )
        text = data.decode("utf-8").removeprefix("\ufeff")
    except InputFileError as exc:
        raise TargetsFileError([f"{name}: cannot read targets: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise TargetsFileError([f"{name}: cannot read targets: not UTF-8 ({exc.reason})"]) from None
    if is_yaml(path, text):
        return _yaml_entries(name, text, default_port)
    entries, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = parse_line(line, f"{name}:{number}", default_port)
        except TargetsFileError as exc:
            problems += exc.problems
            continue
        if entry is not None:
            entries.append(entry)
    if problems:
        raise TargetsFileError(problems)
    return entries


def is_yaml(path: Path, text: str) -> bool:
    """The YAML form: a .yaml/.yml name, or a first entry that starts with `-` (no target does)."""
    if path.suffix.lower() in YAML_SUFFIXES:
        return True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.startswith("-")
    return False


# --- the YAML form -------------------------------------------------------------------------------

_TYPE_NAMES = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:timestamp": "a date",
}
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


def _yaml_entries(name: str, text: str, default_port: int) -> list[TargetEntry]:
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    from probe.scenario.yamlnodes import Problems, compose

    composed = Problems(name, text)
    root = compose(text, composed, scenario=False)
    problems = [_line_only(name, p.line, p.message + _hint(text, p.line)) for p in composed.items]
    if problems or root is None:
        if problems:
            raise TargetsFileError(problems)
        return []

    def at(node: Any) -> str:
        return f"{name}:{node.start_mark.line + 1}"

    if not isinstance(root, SequenceNode):
        raise TargetsFileError(
            [f"{at(root)}: expected a list of targets: `- target: HOST[:PORT]` and its `vars:`"]
        )
    entries: list[TargetEntry] = []
    seen: set[int] = set()  # aliases share their contents: refused, the walk stays linear
    for item in root.value:
        where = at(item)
        if isinstance(item, MappingNode | SequenceNode):
            if id(item.value) in seen:
                problems.append(f"{where}: aliases (*name) are not supported in a targets file")
                continue
            seen.add(id(item.value))
        if isinstance(item, ScalarNode):
            target_node, vars_node = item, None
        elif isinstance(item, MappingNode):
            keys: dict[str, Any] = {}
            for key, value in item.value:
                key_name = key.value if isinstance(key, ScalarNode) else None
                if key_name not in _KEYS:
                    problems.append(f"{at(key)}: {_unknown_key(key_name)}")
                elif key_name in keys:
                    problems.append(f"{at(key)}: duplicate key '{key_name}'")
                else:
                    keys[key_name] = value
            if "target" not in keys:
                problems.append(f"{where}: this entry has no 'target'")
                continue
            target_node, vars_node = keys["target"], keys.get("vars")
        else:
            problems.append(f"{where}: expected `- target: HOST[:PORT]`, not a list")
            continue
        target_text = _string(target_node, "target", problems, at)
        if target_text is None:
            continue
        try:
            target = parse_target(target_text, default_port)
        except TargetError as exc:
            problems.append(f"{at(target_node)}: bad target {exc}")
            continue
        variables = _yaml_vars(vars_node, problems, at, seen)
        if variables is not None:
            entries.append(TargetEntry(target, variables, at(target_node)))
    if problems:
        raise TargetsFileError(problems)
    return entries


def _yaml_vars(node: Any, problems: list[str], at: Any, seen: set[int]) -> dict[str, str] | None:
    from yaml.nodes import MappingNode, ScalarNode

    variables: dict[str, str] = {}
    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG):
        return variables  # `vars:` with nothing under it
    if not isinstance(node, MappingNode):
        problems.append(f"{at(node)}: 'vars' must be a mapping of KEY: VALUE")
        return None
    if id(node.value) in seen:
        problems.append(f"{at(node)}: aliases (*name) are not supported in a targets file")
        return None
    seen.add(id(node.value))
    before = len(problems)
    for key, value in node.value:
        key_name = key.value if isinstance(key, ScalarNode) and key.tag == _STR_TAG else None
        if key_name is None:
            read_as = _TYPE_NAMES.get(key.tag, "not text")
            shown_key = f" {key.value}" if isinstance(key, ScalarNode) and key.value else ""
            problems.append(
                f"{at(key)}: the variable name{shown_key} is read as {read_as}; quote it"
            )
            continue
        text = _string(value, f"vars: {key_name}", problems, at)
        if text is None:
            continue
        problem = _variable_problem(key_name, text, variables)
        if problem:
            problems.append(f"{at(key)}: {problem}")
        else:
            variables[key_name] = text
    return variables if len(problems) == before else None


def _string(node: Any, what: str, problems: list[str], at: Any) -> str | None:
    """A scalar's text, or None with a problem: numbers, true/false, lists... are not text."""
    from yaml.nodes import ScalarNode, SequenceNode

    if isinstance(node, ScalarNode) and node.tag == _STR_TAG:
        return str(node.value)
    if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
        problem = f'{what} has no value; write "" for an empty one'
    elif isinstance(node, ScalarNode) and node.tag in _TYPE_NAMES:
        kind = _TYPE_NAMES[node.tag]
        problem = f'{what} is {node.value} ({kind}), not a string; quote it: "{node.value}"'
    elif isinstance(node, ScalarNode):
        problem = f"{what} has the tag {node.tag}; a targets file uses none"
    else:
        kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
        hint = '; quote an [IPv6] target: target: "[::1]:25"' if what == "target" else ""
        problem = f"{what} is {kind}, not a string{hint}"
    problems.append(f"{at(node)}: {problem}")
    return None


def _unknown_key(key: str | None) -> str:
    if key is None:
        return "a key must be text ('target' or 'vars')"
    import difflib  # only for a mistake: not imported by every run

    close = difflib.get_close_matches(key, _KEYS, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else " (expected 'target' and 'vars')"
    return f"unknown key {_printable(key)!r}{hint}"


# --- variables no scenario declares ----------------------------------------------------------


def unused_variables(
    scenarios: Sequence[Scenario],
    overrides: Mapping[str, str],
    option: str = "--var",
    given_with_targets: Sequence[tuple[str, Mapping[str, str]]] = (),
    collected: str = "",
) -> list[str]:
    """One line for each variable that no scenario declares: a `--var` (named by `option`) or
    one given with a target (`(where, variables)`, `where` as `FILE:LINE`). The value is not
    shown: it may be a password. `collected` qualifies "scenario" ("collected" in pytest)."""
    declared = {name for scenario in scenarios for name in scenario.variables}
    scenario_word = f"{collected} scenario" if collected else "scenario"
    listing = _declared_listing(scenarios)

    def line(prefix: str, name: str) -> str:
        import difflib

        close = difflib.get_close_matches(name, sorted(declared), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"{prefix}{name}=... is declared by no {scenario_word} ({listing}){hint}"

    lines = [line(f"{option} ", name) for name in overrides if name not in declared]
    for where, variables in given_with_targets:
        lines += [line(f"{where}: ", name) for name in variables if name not in declared]
    return lines


def _declared_listing(scenarios: Sequence[Scenario]) -> str:
    def names(scenario: Scenario) -> str:
        return ", ".join(sorted(scenario.variables)) or "nothing"

    if len(scenarios) <= 3:
        return "; ".join(f"{s.name} declares: {names(s)}" for s in scenarios) or "no scenario"
    union = sorted({name for scenario in scenarios for name in scenario.variables})
    return f"the {len(scenarios)} scenarios declare: {', '.join(union) or 'nothing'}"


# --- shared checks -------------------------------------------------------------------------------


def _variable_problem(key: str, value: str, given: Mapping[str, str]) -> str | None:
    from probe.scenario.variables import NAME_RE

    if not NAME_RE.match(key):
        return f"{_printable(key)!r} is not a variable name ({_NAME_RULE})"
    if key in given:
        return f"variable '{key}' is given twice"
    unsendable = no_wire_form(value)
    if unsendable is not None:
        return f"{key}: the value {unsendable}; it cannot be sent"
    return None


def _hint(text: str, line: int | None) -> str:
    """`target: [::1]:25` is a YAML flow list followed by junk: say what to write instead."""
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines) or not _BRACKET_TARGET.search(lines[line - 1]):
        return ""
    return '; quote an [IPv6] target: target: "[::1]:25"'


def _line_only(name: str, line: int | None, message: str) -> str:
    return f"{name}:{line}: {message}" if line is not None else f"{name}: {message}"


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
