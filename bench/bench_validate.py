"""Validation cost: worst-case scenario files just under the size cap, one `validate` process each.

    python bench/bench_validate.py [--runs N] [--keep DIR] [--only KIND ...]

Each row is a file built here to be as expensive as a scenario file can be while staying under
the 256 KiB cap (`MAX_BYTES`), validated by a fresh `python -m probe validate FILE` process from
this tree (PYTHONPATH = the repository root), the way a user runs it. The target: any file under
the cap validates in under 1 s, with under 10 KB of output. Wall time is the median of N runs
(default 3) and includes Python starting and importing (`python -m probe validate` of a one-step
file is the first row, the floor); CPU time beside it is what a busy machine does not inflate.
Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probe.scenario.yamlnodes import MAX_BYTES  # noqa: E402

LIMIT = MAX_BYTES - 64  # bytes a generated file may use


def _fill(head: str, unit: Callable[[int], str], tail: str = "", limit: int = LIMIT) -> str:
    """head + unit(0) + unit(1) + ... + tail, as many units as fit under `limit` bytes."""
    parts = [head]
    size = len(head.encode()) + len(tail.encode())
    n = 0
    while True:
        piece = unit(n)
        size += len(piece.encode())
        if size > limit:
            break
        parts.append(piece)
        n += 1
    parts.append(tail)
    return "".join(parts)


def floor() -> str:
    return "steps:\n  - noop\n"


def short_steps() -> str:
    """Tens of thousands of the shortest steps: the most nodes per byte."""
    return _fill("steps:\n", lambda n: "- rset\n")


def long_steps() -> str:
    """Thousands of long-form steps with expectations (the 220 KB file that took 59 s)."""
    return _fill(
        "name: long\nvars: {domain: example.test}\nsteps:\n  - connect\n",
        lambda n: (
            f'  - rcpt: {{to: "user{n}@${{domain}}", expect: [250, 251], level: should, '
            f'why: "RFC 5321 §4.5.1", timeout: 1e1}}\n'
        ),
    )


def pattern_steps() -> str:
    """Thousands of steps with a reply-text pattern each (one RE2 compilation per step)."""
    return _fill(
        "steps:\n",
        lambda n: (
            f'  - noop: {{expect: {{code: 250, text: "^(?:OK|Ok|ok) [a-z]{{1,{n % 50 + 1}}}$"}}}}\n'
        ),
    )


def undefined_references() -> str:
    """18,000 variables and 1,000 references to undefined near-miss names ("did you mean")."""
    names = [f"var{n:05d}" for n in range(18_000)]
    head = "vars:\n" + "".join(f"  {name}: x\n" for name in names) + "steps:\n"
    return _fill(head, lambda n: f"  - ehlo: ${{vra{n:05d}}}\n" if n < 1000 else "")


def unset_variables() -> str:
    """Thousands of variables with no default, all used ("needs --var ..." for each)."""
    names = [f"v{n}" for n in range(12_000)]
    head = "vars:\n" + "".join(f"  {name}:\n" for name in names) + "steps:\n"
    return _fill(head, lambda n: f"  - ehlo: ${{v{n}}}\n" if n < len(names) else "")


def variable_chain() -> str:
    """Each variable's default is the one before it: thousands of levels of nesting."""
    lines = ["vars:", "  v0: x"]
    size = 20 + len("steps:\n  - ehlo: ${v000000}\n")
    n = 0
    while size + len(f"  v{n + 1}: ${{v{n}}}\n") <= LIMIT:
        lines.append(f"  v{n + 1}: ${{v{n}}}")
        size += len(lines[-1]) + 1
        n += 1
    return "\n".join(lines) + f"\nsteps:\n  - ehlo: ${{v{n}}}\n"


def many_references() -> str:
    """Thousands of steps with a dozen references each (each one is parsed, checked, expanded)."""
    line = "  - ehlo: " + "${a}${b}" * 6 + "\n"
    return _fill("vars: {a: x, b: y}\nsteps:\n", lambda n: line if n < 10_000 else "")


def references_one_line() -> str:
    """One line holding 65,000 undefined references (each one is placed)."""
    return _fill("vars: {a: x}\nsteps:\n  - ehlo: '", lambda n: "${b}", tail="'\n")


def references_block() -> str:
    """A literal block of thousands of lines, each an undefined reference (each one is placed)."""
    return _fill("vars: {a: x}\nsteps:\n  - data:\n      body: |\n", lambda n: "        ${b}\n")


def long_line() -> str:
    """One 256 KiB line: an EHLO argument."""
    return _fill("steps:\n  - ehlo: ", lambda n: "a" * 1000, tail="\n")


def long_pattern() -> str:
    """One reply pattern of nearly 256 KiB (an alternation of literals)."""
    return _fill(
        "steps:\n  - noop: {expect: {code: 250, text: '",
        lambda n: f"w{n}|",
        tail="z'}}\n",
    )


def deep_flow() -> str:
    """Flow collections nested as deep as the cap allows."""
    depth = (LIMIT - 40) // 2
    return "steps:\n  - noop: {name: " + "[" * depth + "]" * depth + "}\n"


def deep_block() -> str:
    """Block mappings nested as deep as the cap allows (indentation grows with depth)."""
    lines = ["steps:", "  - noop:", "      x-0:"]
    size = sum(len(line) + 1 for line in lines)
    depth = 1
    while True:
        line = " " * (6 + 2 * depth) + f"x-{depth}:"
        if size + len(line) + 1 > LIMIT:
            break
        lines.append(line)
        size += len(line) + 1
        depth += 1
    return "\n".join(lines) + "\n"


def unknown_kinds() -> str:
    """Thousands of misspelt step kinds, each with a "did you mean"."""
    return _fill("steps:\n", lambda n: f"  - rcp{n % 10}\n")


def unknown_keys() -> str:
    """Thousands of misspelt keys in steps, each with a "did you mean"."""
    return _fill("steps:\n", lambda n: f"  - rcpt: {{to: a@b, expct{n}: 250}}\n")


def tabs_late() -> str:
    """Many steps, then lines indented with tabs at the end (each tab line is reported)."""
    tabs = "".join("\t- noop\n" for _ in range(30))
    return _fill("steps:\n", lambda n: "  - noop\n", limit=LIMIT - len(tabs)) + tabs


def duplicate_keys() -> str:
    """Thousands of duplicate keys in one mapping."""
    return _fill("vars:\n  a: x\n", lambda n: "  a: x\n", tail="steps:\n  - noop\n")


def aliases() -> str:
    """One anchored expectation, aliased by thousands of steps."""
    return _fill(
        "x-ok: &ok {code: 250, text: '^OK', why: 'RFC 5321 §4.2'}\nsteps:\n",
        lambda n: "  - noop: {expect: *ok}\n",
    )


def flow_steps() -> str:
    """The most steps a file can hold: a flow list of bare words."""
    return _fill("steps: [", lambda n: "rset,", tail="quit]\n")


def steps_at_the_cap() -> str:
    """10,000 steps (the most a scenario may have), each with a variable."""
    return "vars: {h: example.test}\nsteps:\n" + "  - ehlo: ${h}\n" * 10_000


def members() -> str:
    """Pipelines of many members."""
    return _fill("steps:\n", lambda n: "  - pipeline: [" + "rset, " * 30 + "noop]\n")


def nested_lists() -> str:
    """Lines of lists nested 250 deep: one node for every byte."""
    return _fill("steps:\n", lambda n: "- " + "[" * 250 + "]" * 250 + "\n")


def nested_lists_error_at_the_end() -> str:
    """Lists nested 250 deep, under the node cap, then a syntax error on the last line."""
    return (
        _fill("steps:\n", lambda n: "- " + "[" * 250 + "]" * 250 + "\n", limit=100_000) + "x: [\n"
    )


def syntax_error_at_the_end() -> str:
    """Thousands of steps, then a syntax error on the last line (read twice: libyaml, PyYAML)."""
    return _fill("steps:\n", lambda n: "  - rset\n", limit=LIMIT - 10) + "x: [\n"


CASES: dict[str, Callable[[], str]] = {
    "floor (one step)": floor,
    "short steps": short_steps,
    "flow list of steps": flow_steps,
    "10,000 steps with a variable": steps_at_the_cap,
    "pipelines": members,
    "nested lists": nested_lists,
    "nested lists, error at the end": nested_lists_error_at_the_end,
    "syntax error at the end": syntax_error_at_the_end,
    "long-form steps": long_steps,
    "steps with patterns": pattern_steps,
    "18,000 vars, 1,000 undefined refs": undefined_references,
    "vars with no default": unset_variables,
    "chain of variables": variable_chain,
    "steps with 12 refs each": many_references,
    "refs on one line": references_one_line,
    "refs in a block": references_block,
    "one long line": long_line,
    "one long pattern": long_pattern,
    "deep flow nesting": deep_flow,
    "deep block nesting": deep_block,
    "misspelt kinds": unknown_kinds,
    "misspelt keys": unknown_keys,
    "tabs at the end": tabs_late,
    "duplicate keys": duplicate_keys,
    "aliases": aliases,
}


def measure(path: Path, runs: int) -> tuple[float, float, int, int]:
    """(median wall seconds, median CPU seconds, bytes of output, exit code) of `python -m probe
    validate PATH`. CPU time (user + system, of the child) is what the wall time would be on an
    idle machine, give or take the waits; it does not grow when other work competes for cores."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    cpu = []
    out = b""
    code = 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "probe", "validate", str(path)],
            capture_output=True,
            env=env,
            cwd=path.parent,
            timeout=600,
        )
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        out, code = done.stdout + done.stderr, done.returncode
        if b"Traceback" in out:
            print(out.decode(errors="replace")[-2000:], file=sys.stderr)
    return statistics.median(times), statistics.median(cpu), len(out), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--only", nargs="*", help="kinds whose name contains one of these")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(
            f"validate, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.runs} runs"
        )
        print()
        print("| file | KiB | wall s (median) | CPU s (median) | bytes of output | exit |")
        print("|---|---:|---:|---:|---:|---:|")
        for index, (kind, make) in enumerate(CASES.items()):
            if args.only and not any(word in kind for word in args.only):
                continue
            text = make()
            path = folder / f"{index:02d}.yaml"
            path.write_text(text, encoding="utf-8")
            size = path.stat().st_size
            assert size <= MAX_BYTES, (kind, size)
            seconds, cpu, output, code = measure(path, args.runs)
            print(
                f"| {kind} | {size / 1024:.0f} | {seconds:.2f} | {cpu:.2f} | {output} | {code} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
