"""A small, strict parser of TAP version 14 (testanything.org/tap-version-14-specification), for
reading `--format tap` as a TAP consumer would. Strict: every line must be one the grammar
allows (version, plan, test point, YAML block, subtest, comment, pragma, bail out, blank); the
plan must match the test points, which are numbered 1, 2, 3... in order; a YAML diagnostic block
must parse as a YAML mapping; a subtest is a whole TAP document indented by four spaces and is
closed by its parent's test point, whose description matches the subtest's name. Anything else
raises TapError with the line number."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

VERSION = "TAP version 14"
PLAN = re.compile(r"^1\.\.(\d+)(?: # (.*))?$")
POINT = re.compile(
    r"^(?P<ok>not ok|ok)(?: (?P<id>\d+))?"
    r"(?: - (?P<desc>(?:[^#\\]|\\.)*?))?"
    r"(?: # (?P<directive>SKIP|TODO)\S*(?: (?P<reason>.*))?)?\s*$",
    re.IGNORECASE,
)
SUBTEST = re.compile(r"^# Subtest(?:: (?P<name>.*))?$")


class TapError(ValueError):
    pass


@dataclass
class TestPoint:
    ok: bool
    number: int
    description: str
    directive: str = ""  # SKIP or TODO
    reason: str = ""
    diagnostics: dict[str, Any] | None = None
    subtest: Document | None = None


@dataclass
class Document:
    plan: int | None = None
    tests: list[TestPoint] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse(text: str) -> Document:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != VERSION:
        raise TapError(f"line 1: expected {VERSION!r}, got {lines[0] if lines else ''!r}")
    return _document(lines[1:], 2, top=True)


def _document(lines: list[str], first: int, top: bool) -> Document:
    doc = Document()
    plan_at: int | None = None
    index = 0
    pending_subtest: tuple[str | None, Document] | None = None
    while index < len(lines):
        line, number = lines[index], first + index
        index += 1
        if line.strip() == "":
            continue
        if line.startswith("    "):  # a subtest's lines: gather every line indented 4 more
            start = index - 1
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index]):
                index += 1
            block = [text[4:] for text in lines[start:index]]
            name = pending_subtest[0] if pending_subtest else None
            child = _document(block, first + start, top=False)
            pending_subtest = (name, child)
            continue
        if match := SUBTEST.match(line):
            if pending_subtest is not None:
                raise TapError(f"line {number}: a subtest that no test point closes")
            pending_subtest = (match["name"], Document())
            continue
        if match := PLAN.match(line):
            if plan_at is not None:
                raise TapError(f"line {number}: a second plan")
            if doc.tests and index < len(lines) and any(x.strip() for x in lines[index:]):
                raise TapError(f"line {number}: a plan must come first or last")
            doc.plan, plan_at = int(match[1]), number
            continue
        if match := POINT.match(line):
            point = _point(match, number, len(doc.tests) + 1)
            if pending_subtest is not None:
                name, child = pending_subtest
                if not child.tests and child.plan is None:
                    raise TapError(f"line {number}: a subtest with no lines")
                if name is not None and unescape(name) != point.description:
                    raise TapError(
                        f"line {number}: the test point {point.description!r} closes the "
                        f"subtest {name!r}"
                    )
                failed = any(not t.ok and t.directive != "TODO" for t in child.tests)
                if point.ok and failed and point.directive != "SKIP":
                    raise TapError(f"line {number}: 'ok' closes a subtest that failed")
                point.subtest = child
                pending_subtest = None
            # A YAML block: indented two spaces, from --- to ...
            if index < len(lines) and lines[index] == "  ---":
                end = index + 1
                while end < len(lines) and lines[end] != "  ...":
                    if not lines[end].startswith("  "):
                        raise TapError(f"line {first + end}: YAML block line not indented")
                    end += 1
                if end == len(lines):
                    raise TapError(f"line {first + index}: YAML block without its '...'")
                body = "\n".join(text[2:] for text in lines[index + 1 : end])
                try:
                    data = yaml.safe_load(body)
                except yaml.YAMLError as exc:
                    raise TapError(f"line {first + index}: YAML block: {exc}") from None
                if not isinstance(data, dict):
                    raise TapError(f"line {first + index}: YAML block is not a mapping")
                point.diagnostics = data
                index = end + 1
            doc.tests.append(point)
            continue
        if line.startswith("Bail out!"):
            raise TapError(f"line {number}: bailed out: {line}")
        if line.startswith("pragma ") or line.startswith("#"):
            doc.comments.append(line)
            continue
        raise TapError(f"line {number}: not TAP: {line!r}")
    if pending_subtest is not None:
        raise TapError("a subtest that no test point closes")
    if doc.plan is None:
        raise TapError(f"{'document' if top else 'subtest'} without a plan")
    if doc.plan != len(doc.tests):
        raise TapError(f"plan 1..{doc.plan} but {len(doc.tests)} test points")
    return doc


def _point(match: re.Match[str], number: int, expected: int) -> TestPoint:
    given = int(match["id"]) if match["id"] is not None else expected
    if given != expected:
        raise TapError(f"line {number}: test point {given}, expected {expected}")
    desc = match["desc"] or ""
    if re.search(r"(?<!\\)#", desc):
        raise TapError(f"line {number}: unescaped # in the description")
    return TestPoint(
        ok=match["ok"].lower() == "ok",
        number=given,
        description=unescape(desc),
        directive=(match["directive"] or "").upper(),
        reason=match["reason"] or "",
    )
