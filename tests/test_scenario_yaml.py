"""The two YAML readers agree: libyaml under PyYAML's composer (fast) and pure PyYAML (the
messages the corpus pins), and the template parser keeps its meaning.

Known differences, left out of the generated input or the comparison:

- libyaml accepts a comment glued to a block scalar header (`|#`), some malformed tags, and a
  `?` (complex key) inside a flow collection where PyYAML refuses them; the alphabet below has
  no tags and no `?`, and texts with `|#` are left out.
- libyaml places an empty value (`key:` with nothing after it) at the next token where PyYAML
  places it after the colon: a message about an empty value may point a column or a line further.
- libyaml marks an indentless list (`key:` then `- item` at the same indentation) as block style
  where PyYAML leaves the style unset; nothing reads it.
- With several tab lines, the fast reader may list fewer (or more) of the later ones; the first
  is the same.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, ScalarNode

from probe.scenario import variables
from probe.scenario.yamlnodes import NULL_TAG, CParser, Problems, _compose_slow, compose

pytestmark = pytest.mark.skipif(CParser is None, reason="PyYAML without libyaml: one reader")

_PIECES = st.sampled_from(
    [
        *("steps", "name", "vars", "to", "a", "b", "x y", "250", "1e3", "-1", "~", "é", "😀"),
        *(":", ": ", "- ", ",", "[", "]", "{", "}", "&a ", "*a", "'", '"', "'it''s'"),
        *('"\\x41"', '"a\\\n b"', "\\", "\\t", "\\uD800", "${a}", "#", " #", "<<: "),
        *("|", "|\n  ", ">\n  ", "|-\n  ", ">+\n  ", "---", "...", "%YAML 1.1\n"),
        *("\n", "\n  ", "\n    ", "\r\n", "\r", "\x85", "\u2028", " ", "  "),
        *("\t", " \t", "\n\t", "\x07"),
    ]
)


_GLUED_COMMENT = re.compile(r"[|>][-+0-9]*#")  # `|#`: libyaml reads a block scalar, PyYAML refuses


def _shape(root: Node | None) -> list[object]:
    """A node tree as a list: kinds, tags, values, styles and places (empty values unplaced)."""
    out: list[object] = []
    stack: list[tuple[Node | None, int]] = [(root, 0)]
    while stack and len(out) < 10_000:
        node, depth = stack.pop()
        if node is None:
            out.append(None)
            continue
        empty = isinstance(node, ScalarNode) and node.tag == NULL_TAG and node.value == ""
        place = None if empty else (node.start_mark.index, node.end_mark.index)
        place = place and (*place, node.start_mark.line, node.start_mark.column)
        style = node.style if isinstance(node, ScalarNode) else None
        out.append((type(node).__name__, node.tag, style, place, depth))
        if isinstance(node, ScalarNode):
            out.append(node.value)
        elif isinstance(node, MappingNode):
            for key, value in reversed(node.value):
                stack += [(value, depth + 1), (key, depth + 1)]
        else:
            stack += [(item, depth + 1) for item in reversed(node.value)]
    return out


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_the_fast_reader_agrees_with_pyyaml(text: str) -> None:
    assume(not _GLUED_COMMENT.search(text))
    fast_problems, slow_problems = Problems("f", text), Problems("f", text)
    fast = compose(text, fast_problems)
    slow = _compose_slow(text, slow_problems)
    fast_lines = [str(p) for p in fast_problems.items]
    slow_lines = [str(p) for p in slow_problems.items]
    if not slow_lines:
        assert not fast_lines, (text, fast_lines)
        assert _shape(fast) == _shape(slow), text
    else:
        assert fast is None, (text, slow_lines)
        assert fast_lines[0] == slow_lines[0], (text, fast_lines, slow_lines)


def test_a_tab_inside_quotes_or_a_block_or_a_comment_is_text(tmp_path) -> None:
    text = "steps:\n  - noop: {name: 'a\tb'}  #\tc\n  - data: |\n      x\ty\n"
    problems = Problems("f", text)
    root = compose(text, problems)
    assert not problems.items and root is not None
    bad = "steps:\n  - noop: {name: a\tb}\n  - noop:\t{}\n\t- rset\n"
    problems = Problems("f", bad)
    assert compose(bad, problems) is None
    assert [str(p) for p in problems.items] == [
        "f:2:19: tab character here; YAML separates with spaces only",
        "f:3:10: tab character here; YAML separates with spaces only",
        "f:4:1: tab in indentation; YAML indents with spaces only",
    ]
    # A quoted value's place starts at its anchor; the tab after the anchor is still outside it.
    anchored = "steps:\n  - noop: {name: &n\t'x'}\n"
    problems = Problems("f", anchored)
    assert compose(anchored, problems) is None
    assert [str(p) for p in problems.items] == [
        "f:2:20: tab character here; YAML separates with spaces only"
    ]


# --- templates -----------------------------------------------------------------------------------


def _reference_parse(text: str) -> tuple[list[object], list[tuple[int, str]]]:
    """The template parser as first written (a scan for '$'), kept as the meaning of parse()."""
    parts: list[object] = []
    problems: list[tuple[int, str]] = []
    literal = ""
    i = 0
    while (j := text.find("$", i)) >= 0:
        literal += text[i:j]
        if text.startswith("$${", j):
            literal, i = literal + "${", j + 3
        elif text.startswith("${", j):
            end = text.find("}", j + 2)
            if end < 0:
                problems.append((j, "'${' is not closed by '}' (write $${ for a literal '${')"))
                literal += text[j:]
                i = len(text)
                break
            ref = variables._ref(text[j + 2 : end], j)
            if isinstance(ref, variables.TemplateProblem):
                problems.append((ref.offset, ref.message))
                literal += text[j : end + 1]
            else:
                parts += (
                    [literal, (ref.name, ref.env, ref.offset)]
                    if literal
                    else [(ref.name, ref.env, ref.offset)]
                )
                literal = ""
            i = end + 1
        else:
            literal, i = literal + "$", j + 1
    literal += text[i:]
    return ([*parts, literal] if literal else parts), problems


def _joined(parts: list[object]) -> list[object]:
    out: list[object] = []
    for part in parts:
        if isinstance(part, variables.Ref):
            out.append((part.name, part.env, part.offset))
        elif isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != "":
            out.append(part)
    return out


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(["$", "{", "}", "a", "env:", "A", " ", "$$", "${", "-", "1"])))
def test_templates_parse_as_they_always_did(pieces: list[str]) -> None:
    text = "".join(pieces)
    parts, problems = variables.parse(text)
    expected_parts, expected_problems = _reference_parse(text)
    assert _joined(parts) == _joined(expected_parts)
    assert [(p.offset, p.message) for p in problems] == expected_problems
