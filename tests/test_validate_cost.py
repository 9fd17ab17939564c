"""Validation cost: linear work, short answers, and the limits that keep both true.

Wall time is measured by bench/bench_validate.py, not here. Work is counted instead: the Python
lines and calls that loading and binding execute (sys.settrace), a count that does not depend on
the machine. Work done inside one C call (str.find over a long text) is not seen by it; the
benchmark covers that.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.scenario import ScenarioError, bind, load_scenario
from probe.scenario.steps import MAX_STEPS
from probe.scenario.yamlnodes import MAX_BYTES, MAX_NODES, MAX_PROBLEMS

# --- files that grow with n ---------------------------------------------------------------------


def short_steps(n: int) -> str:
    return "steps:\n" + "  - rset\n" * n


def long_steps(n: int) -> str:
    step = '  - rcpt: {to: "u@${d}", expect: [250, 251], why: "RFC 5321 §4.5.1", timeout: 1e1}\n'
    return "vars: {d: example.test}\nsteps:\n" + step * n


def undefined_references(n: int) -> str:
    """n variables (indexed for suggestions past 200) and n/4 misspelt references."""
    names = "".join(f"  var{i:05d}: x\n" for i in range(n))
    refs = "".join(f"  - ehlo: ${{vra{i:05d}}}\n" for i in range(n // 4))
    return f"vars:\n{names}steps:\n{refs}"


def reversed_chain(n: int) -> str:
    """v0 uses v1, which uses v2, ...: resolving v0 must not nest n deep."""
    chain = "".join(f"  v{i}: ${{v{i + 1}}}\n" for i in range(n))
    return f"vars:\n{chain}  v{n}: x\nsteps:\n  - ehlo: ${{v0}}\n"


def misspelt_kinds(n: int) -> str:
    return "steps:\n" + "".join(f"  - rcp{i}\n" for i in range(n))


def duplicate_keys(n: int) -> str:
    return "vars:\n" + "  a: x\n" * n + "steps:\n  - rset\n"


def references_on_one_line(n: int) -> str:
    return "vars: {a: x}\nsteps:\n  - ehlo: '" + "${b}" * n + "'\n"


def references_in_a_block(n: int) -> str:
    return "vars: {a: x}\nsteps:\n  - data:\n      body: |\n" + "        ${b}\n" * n


def nested_lists_then_an_error(n: int) -> str:
    """One line of lists nested n deep, then a syntax error: read by both YAML loaders."""
    return "steps:\n  - noop: {name: " + "[" * n + "]" * n + "}\nx: [\n"


def tab_lines(n: int) -> str:
    return "steps:\n" + "  - rset\n" * n + "\t- rset\n" * 3


GROWING: dict[str, tuple[Callable[[int], str], int]] = {
    "short steps": (short_steps, 250),
    "long-form steps": (long_steps, 100),
    "undefined references among many names": (undefined_references, 400),
    "a reversed chain of variables": (reversed_chain, 100),
    "misspelt kinds": (misspelt_kinds, 100),
    "duplicate keys": (duplicate_keys, 100),
    "references on one line": (references_on_one_line, 100),
    "references in a block": (references_in_a_block, 100),
    "lists nested deep, then an error": (nested_lists_then_an_error, 60),
    "tab lines at the end": (tab_lines, 250),
}


def _validate(path: Path) -> None:
    """What `validate` does with one file: load, then bind with placeholders."""
    try:
        bind(load_scenario(path), {}, {}, placeholders=True)
    except ScenarioError as exc:
        assert exc.problems


def _work(path: Path) -> int:
    """Python lines and calls executed validating `path`."""
    count = 0

    def trace(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        return trace

    sys.settrace(trace)
    try:
        _validate(path)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("kind", list(GROWING))
def test_validation_work_grows_linearly(tmp_path: Path, kind: str) -> None:
    make, n = GROWING[kind]
    small, large = tmp_path / "small.yaml", tmp_path / "large.yaml"
    small.write_text(make(n), encoding="utf-8")
    large.write_text(make(4 * n), encoding="utf-8")
    _validate(large)  # imports, caches and compiled patterns out of the count
    ratio = _work(large) / _work(small)
    # Four times the input: four times the work, less the constant part. Quadratic work would be
    # about sixteen times.
    assert 2 < ratio < 5, ratio


# --- short answers through the CLI ---------------------------------------------------------------


def _fill(head: str, unit: Callable[[int], str], limit: int = MAX_BYTES - 64) -> str:
    parts, size, i = [head], len(head.encode()), 0
    while size + len(unit(i).encode()) <= limit:
        parts.append(unit(i))
        size += len(unit(i).encode())
        i += 1
    return "".join(parts)


WORST = {
    # 18,000 names, as many misspelt references as fit: at most 50 lines, each a short hint.
    "typos among many names": _fill(
        "vars:\n" + "".join(f"  var{i:05d}: x\n" for i in range(17_000)) + "steps:\n",
        lambda i: f"  - ehlo: ${{vra{i:05d}}}\n",
    ),
    "misspelt kinds": _fill("steps:\n", lambda i: f"  - rcp{i}\n"),
    "long values in messages": _fill("steps:\n", lambda i: f"  - rcpt: {{{'k' * 5000}{i}: 1}}\n"),
    "variables without a default": (
        "vars:\n"
        + "".join(f"  v{i}:\n" for i in range(5000))
        + "steps:\n"
        + "".join(f"  - ehlo: ${{v{i}}}\n" for i in range(5000))
    ),
    "references on one line": "vars: {a: x}\nsteps:\n  - ehlo: '" + "${b}" * 60_000 + "'\n",
    "duplicate keys": _fill("vars:\n  a: x\n", lambda i: "  a: x\n"),
}


@pytest.mark.parametrize("kind", list(WORST))
def test_a_worst_case_file_gets_a_short_answer(cli, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "worst.yaml"
    path.write_text(WORST[kind] + ("" if WORST[kind].endswith("\n") else "\n"), encoding="utf-8")
    assert path.stat().st_size <= MAX_BYTES
    result = cli("validate", str(path), timeout=60)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert len(output.encode()) < 10_000, output[-500:]
    assert result.code in (0, 2), output[-500:]
    assert all(len(line) <= 300 for line in output.splitlines())


# --- the limits ----------------------------------------------------------------------------------


def test_more_steps_than_the_limit_is_one_line(cli, tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("steps:\n" + "  - rset\n" * (MAX_STEPS + 1), encoding="utf-8")
    result = cli("validate", str(path))
    assert result.code == 2
    assert result.stderr == (
        f"{path}:2:3: more than 10,000 steps (counting pipeline members); a scenario this long "
        "is probably not a scenario\n"
    )
    # The limit itself is fine, members count.
    path.write_text("steps:\n" + "  - rset\n" * MAX_STEPS, encoding="utf-8")
    assert cli("validate", str(path)).stdout == f"{path}: ok, {MAX_STEPS} steps\n"
    pipeline = "  - pipeline: [rset, rset]\n"
    path.write_text("steps:\n" + pipeline * (MAX_STEPS // 3 + 1), encoding="utf-8")
    assert "more than 10,000 steps" in cli("validate", str(path)).stderr


def test_more_nodes_than_the_limit_is_one_line(cli, tmp_path: Path) -> None:
    path = tmp_path / "dense.yaml"
    path.write_text("steps:\n  - noop: {name: [" + "a," * MAX_NODES + "]}\n", encoding="utf-8")
    assert path.stat().st_size <= MAX_BYTES
    result = cli("validate", str(path))
    assert result.code == 2
    assert result.stderr.endswith(
        "more than 100,000 YAML nodes (keys, values, list items); a scenario this large is "
        "probably not a scenario\n"
    )
    assert len(result.stderr.splitlines()) == 1


def test_reading_stops_after_the_problem_limit(cli, tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text("steps:\n" + "".join(f"  - rcp{i}\n" for i in range(3000)), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == (
        f"{path}:{MAX_PROBLEMS + 2}:5: more than 1000 problems; the rest of the file is not read"
    )
    result = cli("validate", str(path))
    assert result.code == 2
    assert result.stderr.splitlines()[-1] == f"… and {MAX_PROBLEMS + 1 - 50} more problems"


def test_a_long_chain_of_variables_binds_without_recursion(cli, tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(reversed_chain(5000), encoding="utf-8")  # deeper than the recursion limit
    result = cli("validate", str(path))
    assert (result.code, result.stdout, result.stderr) == (0, f"{path}: ok, 1 step\n", "")


def test_variables_without_a_default_are_listed_ten_at_most(cli, tmp_path: Path) -> None:
    path = tmp_path / "unset.yaml"
    names = [f"v{i}" for i in range(25)]
    path.write_text(
        "vars:\n"
        + "".join(f"  {n}:\n" for n in names)
        + "steps:\n"
        + "".join(f"  - ehlo: ${{{n}}}\n" for n in names),
        encoding="utf-8",
    )
    result = cli("validate", str(path))
    assert result.code == 0
    assert result.stdout == (
        f"{path}: ok, 25 steps (needs --var "
        + " ".join(f"{n}=..." for n in names[:10])
        + " … (15 more))\n"
    )
