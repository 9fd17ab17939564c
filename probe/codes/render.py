"""Text views of the code table for `smtp-probe codes` and `smtp-probe explain` (pure: str out)."""

from __future__ import annotations

import textwrap

from probe.codes.table import PROFILES, Allowance, CodeTable, Tier

WIDTH = 100
_CODE_W, _TIER_W, _PROFILES_W = 6, 11, len(" ".join(PROFILES)) + 2
_DETAIL = " " * (_CODE_W + _TIER_W)  # detail lines hang under the profiles column
_NBSP = "\u00a0"  # textwrap splits only on ASCII whitespace

# RFC 5321 §4.2.1: what the first digit says when nothing else is known about a code.
_CLASSES = {
    2: "2yz positive completion",
    3: "3yz positive intermediate",
    4: "4yz transient negative completion",
    5: "5yz permanent negative completion",
}


def render_codes(table: CodeTable, command: str | None = None) -> str:
    """The rows of one command (any name or alias), or of every command when None.

    Raises KeyError for a name the table does not know, so a typo is not shown as UNKNOWN.
    """
    names = table.commands if command is None else (table.lookup(command),)
    blocks = [_command_block(table, name) for name in names]
    used = sorted({c for name in names for row in table.entries(name) for c in row.when})
    if used:
        legend = ["Conditions (a row with `when` applies only then):"]
        for name in used:
            legend += _wrap(f"{name}: {table.conditions[name]}", "  ", "    ")
        blocks.append("\n".join(legend))
    cited = {s for name in names for row in table.entries(name) for s in row.sources}
    if pages := _pages(table, cited):
        blocks.append(pages)
    return "\n\n".join(blocks) + "\n"


def _pages(table: CodeTable, sources: set[str]) -> str:
    """What the non-RFC sources named above are (vendor and reference pages, by their names)."""
    names = sorted(s for s in sources if not s.startswith("RFC ") and s in table.documents)
    lines = ["Pages cited above (vendor and reference lists, not standards):"] if names else []
    for name in names:
        lines += _wrap(f"{name}: {table.documents[name]}", "  ", "    ")
    return "\n".join(lines)


def render_explain(table: CodeTable, code: int) -> str:
    """What a code means, which documents define it and which commands may answer it."""
    lines = [
        f"{code}  " + (info.meaning if (info := table.code_info(code)) else "not in the table")
    ]
    digit, second = code // 100, code // 10 % 10
    if digit in _CLASSES and second <= 5:
        lines.append(f"  class: {_CLASSES[digit]} (RFC 5321 §4.2.1)")
    else:
        text = (
            "not a valid reply code: the first digit must be 2-5 and the second 0-5; servers "
            "MUST NOT send it (RFC 5321 §4.2, §4.3.2)"
        )
        lines += _wrap(text, "  ", "    ")
    if info is None:
        lines.append("  no document in the table defines it; clients act on the first digit only")
        return "\n".join(lines) + "\n"
    lines += _wrap("defined in: " + _sources(info.defined_in), "  ", "    ")
    if not info.commands:
        lines.append("  commands: none (no document ties it to a command)")
        return "\n".join(lines) + "\n"
    # Universal rows repeat for twenty commands: one line per permission, listing its commands.
    groups: dict[tuple[int, str, tuple[str, ...]], dict[tuple[str, ...], list[str]]] = {}
    order = list(Tier)
    for name in info.commands:
        for row in table.allowances(name, code):
            key = (order.index(row.tier), _profiles(row), row.when)
            groups.setdefault(key, {}).setdefault(row.sources, []).append(name)
    lines.append("  allowed for:")
    for (tier, profiles, when), by_sources in sorted(groups.items()):
        condition = f", when {' and '.join(when)}" if when else ""
        lines.append(f"    {order[tier]} tier, passes in {profiles}{condition}:")
        for sources, names in by_sources.items():
            lines += _wrap(f"{' '.join(names)}: {_sources(sources)}", "      ", "        ")
    cited = set(info.defined_in) | {
        s for name in info.commands for row in table.allowances(name, code) for s in row.sources
    }
    if pages := _pages(table, cited):
        lines.append(pages)
    return "\n".join(lines) + "\n"


def _command_block(table: CodeTable, name: str) -> str:
    spec = table.spec(name)
    lines = [f"{name} - {spec.about}"]
    if spec.aliases:
        lines.append("  also: " + ", ".join(spec.aliases))
    if spec.note:
        lines += _wrap("note: " + spec.note, "  ", "    ")
    if fixed := table.fixed(name):
        codes = " or ".join(str(c) for c in sorted(fixed.codes))
        kind = "MUST" if fixed.must else "fixed, no MUST keyword"
        scope = ", without arguments" if fixed.unless_argument else ""
        text = f'fixed reply: {codes} ({kind}{scope}) - {fixed.source}: "{fixed.rule}"'
        lines += _wrap(text, "  ", "    ")
    for rule in table.answers:
        if rule.command != name:
            continue
        wanted = " or ".join(str(c) for c in sorted(rule.codes))
        if rule.enhanced:
            wanted += f" ({rule.enhanced} with ENHANCEDSTATUSCODES)"
        if rule.text is not None:
            wanted += f"{' and ' if wanted else ''}{rule.text_code} with text /{rule.text.pattern}/"
        where = "a response after 334" if rule.continuation else "a line"
        level = "MUST" if rule.must else "SHOULD"
        text = (
            f"{where} matching /{rule.match.pattern}/: {wanted} ({level}) - {rule.source}: "
            f'"{rule.rule}"'
        )
        lines += _wrap(text, "  ", "    ")
    header = f"{'code':<{_CODE_W}}{'tier':<{_TIER_W}}{'profiles':<{_PROFILES_W}}meaning"
    lines.append("  " + header)
    for row in table.entries(name):
        lines += _row_lines(row)
    return "\n".join(lines)


def _row_lines(row: Allowance) -> list[str]:
    head = f"  {row.code:<{_CODE_W}}{row.tier:<{_TIER_W}}{_profiles(row):<{_PROFILES_W}}"
    lines = _wrap(head + row.meaning, "", " " * len(head))
    indent = "  " + _DETAIL
    if row.when:
        lines.append(f"{indent}when: {' and '.join(row.when)}")
    lines += _wrap("sources: " + _sources(row.sources), indent, indent + "  ")
    if row.note:
        lines += _wrap("note: " + row.note, indent, indent + "  ")
    return lines


def _profiles(row: Allowance) -> str:
    return " ".join(p for p in PROFILES if p in row.profiles)


def _sources(sources: tuple[str, ...]) -> str:
    # A no-break space keeps "RFC 5321 §4.3.2" on one line; _wrap turns it back into a space.
    return "; ".join(s.replace(" ", _NBSP) for s in sources)


def _wrap(text: str, first: str, rest: str) -> list[str]:
    lines = textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )
    return [line.replace(_NBSP, " ") for line in lines]
