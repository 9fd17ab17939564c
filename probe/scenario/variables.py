"""`${name}` templates: parsing, references, cycles and expansion.

Syntax: `${name}` is a scenario variable (letters, digits, '_' and '-', not starting with a digit
or '-'); `${env:NAME}` an environment variable read at bind time, shown as it is in reports, and
`${env:NAME:-default}` the same with a default for when it is unset (or empty, as in the shell);
`${secret:NAME}` an environment variable that is a secret: masked wherever it would be shown, in
every encoded form; `${upper:name}` a scenario variable's value in capitals (RFC 5321 §2.4: domains
and the local part postmaster are case-insensitive, which a scenario checks by writing them so);
`$${` a literal `${`. Any other `$` is literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from probe.record import record

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@record(frozen=True, slots=True)
class Ref:
    name: str
    env: bool  # from the environment (`env:` or `secret:`), not a scenario variable
    offset: int  # where `${` starts in the template
    secret: bool = False  # `secret:`: masked in everything shown
    default: str | None = None  # `env:NAME:-default`
    upper: bool = False  # `upper:name`: the scenario variable's value in capitals

    def __str__(self) -> str:
        if not self.env:
            return f"${{upper:{self.name}}}" if self.upper else f"${{{self.name}}}"
        tail = f":-{self.default}" if self.default is not None else ""
        return f"${{{'secret' if self.secret else 'env'}:{self.name}{tail}}}"


Part = str | Ref


@record(frozen=True, slots=True)
class TemplateProblem:
    offset: int
    message: str


_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")  # `$${`, or `${...}` up to the first `}`
_UNCLOSED = "'${' is not closed by '}' (write $${ for a literal '${')"


def parse(text: str) -> tuple[list[Part], list[TemplateProblem]]:
    """Split a template into literal text and references; malformed references are problems (and
    kept as literal text, so a caller can go on). A `${` with no `}` after it makes the rest of
    the text literal."""
    if "$" not in text:  # most text holds no reference
        return ([text] if text else []), []
    parts: list[Part] = []
    problems: list[TemplateProblem] = []
    literal: list[str] = []
    i = 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        if text.find("${", i, start) >= 0:  # a `${` the pattern skipped: no `}` follows it
            break
        literal.append(text[i:start])
        inner = match.group(1)
        i = match.end()
        if inner is None:
            literal.append("${")
            continue
        ref = _ref(inner, start)
        if isinstance(ref, TemplateProblem):
            problems.append(ref)
            literal.append(match.group())
        else:
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(ref)
    unclosed = text.find("${", i)
    if unclosed >= 0:
        problems.append(TemplateProblem(unclosed, _UNCLOSED))
    literal.append(text[i:])
    if any(literal):
        parts.append("".join(literal))
    return parts, problems


def _ref(inner: str, offset: int) -> Ref | TemplateProblem:
    if inner.startswith("env:"):
        name, sep, default = inner[4:].partition(":-")
        if ENV_RE.match(name):
            return Ref(name, True, offset, default=default if sep else None)
        return TemplateProblem(
            offset,
            f"bad environment reference '${{{inner}}}'; write ${{env:NAME}} or "
            "${env:NAME:-default}",
        )
    if inner.startswith("secret:"):
        name, sep, default = inner[7:].partition(":-")
        if ENV_RE.match(name):
            return Ref(name, True, offset, secret=True, default=default if sep else None)
        return TemplateProblem(
            offset,
            f"bad secret reference '${{{inner}}}'; write ${{secret:NAME}} or "
            "${secret:NAME:-default}",
        )
    if inner.startswith("upper:"):
        if NAME_RE.match(inner[6:]):
            return Ref(inner[6:], False, offset, upper=True)
        return TemplateProblem(offset, f"bad reference '${{{inner}}}'; write ${{upper:name}}")
    if NAME_RE.match(inner):
        return Ref(inner, False, offset)
    return TemplateProblem(
        offset,
        f"bad variable reference '${{{inner}}}'; names are letters, digits, '_' and '-' "
        "(write $${ for a literal '${')",
    )


def references(text: str) -> list[Ref]:
    return [p for p in parse(text)[0] if isinstance(p, Ref)]


def expand(text: str, lookup: Callable[[Ref], str]) -> str:
    return "".join(p if isinstance(p, str) else lookup(p) for p in parse(text)[0])


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each cycle once, as a path that starts and ends with the same name (declaration order
    decides where a cycle starts). Names missing from `graph` are leaves."""
    order = {name: i for i, name in enumerate(graph)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()

    for root in graph:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        stack = [iter(list(graph[root]))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if child not in graph:
                continue
            if state.get(child) == 1:
                loop = path[path.index(child) :]
                if frozenset(loop) not in seen_cycles:
                    seen_cycles.add(frozenset(loop))
                    first = min(range(len(loop)), key=lambda k: order[loop[k]])
                    loop = loop[first:] + loop[:first]
                    cycles.append([*loop, loop[0]])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(list(graph[child])))
    return cycles
