"""Cold start: one `smtp-probe run scenarios/basic.yaml` process, before and after, beside swaks.

    python bench/bench_cold.py [--runs N] [--before REV] [--settle S] [--server aiosmtpd|asyncio]

Each row is a fresh process against one SMTP server started here, on 127.0.0.1:

- smtp-probe before: `python -m probe run ...` from REV (default bb6abde, the last commit before the
  session-runner rewrite), checked out with `git worktree add --detach` into a temporary folder
  (removed at the end, also on error or Ctrl-C) and run with PYTHONPATH set to it;
- smtp-probe after: the same from the current tree (PYTHONPATH = the repository root);
- swaks: one transaction (EHLO, MAIL, RCPT, DATA, QUIT; no RSET/NOOP/VRFY), if installed;
- `python -c pass`: the floor of a Python process start.

Every process runs in an empty temporary folder, so `python -m` cannot pick up a tree from the
working directory. Each smtp-probe row runs its own revision's scenarios/basic.yaml with
`--format json --no-report`; its session time is `results[0].duration_ms` of that report, and
`results[0].waited_ms` (time spent in quiet windows) is shown when the revision reports it.

Rows are alternated (round-robin, the starting row rotating each round) after one untimed warm-up
round, so both trees have their bytecode compiled before anything is timed. A run that fails
(non-zero exit, no report, a timeout) is counted in the `ok` column and listed under the table;
medians and minima are over the runs that succeeded. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Literal

from probe.demo import LOOPBACK, demo_server

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BEFORE = "bb6abde"
MIN_RUNS = 7
RUN_TIMEOUT = 120.0  # seconds; a run past this is a failed run, not a hung benchmark
SWAKS_MISSING = "swaks not installed: apt-get install swaks"

Kind = Literal["probe", "swaks", "floor"]


@dataclass
class Sample:
    wall_ms: float
    ok: bool
    session_ms: float | None = None
    waited_ms: float | None = None
    error: str = ""


@dataclass
class Row:
    label: str
    kind: Kind
    argv: list[str]
    env: dict[str, str]
    samples: list[Sample] = field(default_factory=list)

    @property
    def good(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]


# --- the server -------------------------------------------------------------------------------

REPLIES = {
    b"EHLO": b"250-bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"DATA": b"354 go\r\n",
    b"QUIT": b"221 bye\r\n",
    b"VRFY": b"252 maybe\r\n",
}


async def _tiny(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The smallest server basic.yaml passes against (as in bench_session.py)."""
    try:
        writer.write(b"220 bench.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            writer.write(REPLIES.get(verb, b"250 OK\r\n"))
            if verb == b"DATA":
                await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 queued\r\n")
            if verb == b"QUIT":
                break
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the client went away; nothing to judge here
    finally:
        writer.close()


@contextmanager
def tiny_server() -> Iterator[tuple[str, int]]:
    """A tiny asyncio SMTP server on its own loop in a background thread."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(_tiny, LOOPBACK, 0))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, name="tiny-smtp", daemon=True)
    thread.start()
    try:
        yield LOOPBACK, port
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# --- the before tree --------------------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


@contextmanager
def worktree(rev: str, base: Path) -> Iterator[Path]:
    """REV checked out (detached) under base; removed again however the block ends."""
    path = base / "before"
    try:
        git("worktree", "add", "--detach", str(path), rev)
        yield path
    finally:
        try:
            git("worktree", "remove", "--force", str(path))
        except RuntimeError as exc:
            if path.exists() or "is not a working tree" not in str(exc):
                print(f"warning: {exc}; see `git worktree list`", file=sys.stderr)


def check_imports(row: Row, cwd: Path, expected: Path) -> None:
    """Fail early if a row would import smtp-probe from another tree than the one it names."""
    code = "import probe, probe.cli; print(probe.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=row.env, capture_output=True, text=True
    )
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise RuntimeError(f"{row.label} cannot import probe: {error}")
    origin = Path(done.stdout.strip()).resolve()
    if not origin.is_relative_to(expected.resolve()):
        raise RuntimeError(f"{row.label} imports probe from {origin}, not from {expected}")


# --- measuring ---------------------------------------------------------------------------------


def measure(row: Row, cwd: Path) -> Sample:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            row.argv,
            cwd=cwd,
            env=row.env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        wall = (time.perf_counter() - start) * 1000
        return Sample(wall, ok=False, error=f"timed out after {RUN_TIMEOUT:g} s")
    wall = (time.perf_counter() - start) * 1000
    last_err = (done.stderr.strip().splitlines() or [""])[-1]
    if row.kind != "probe":
        if done.returncode != 0:
            reason = last_err or (done.stdout.strip().splitlines() or [""])[-1]
            return Sample(wall, ok=False, error=f"exit {done.returncode}: {reason}".strip())
        return Sample(wall, ok=True)
    try:
        result = json.loads(done.stdout)["results"][0]
        session = float(result["duration_ms"])
        waited = result.get("waited_ms")
        waited_ms = float(waited) if waited is not None else None
    except (ValueError, KeyError, IndexError, TypeError):
        return Sample(wall, ok=False, error=f"exit {done.returncode}, no JSON report: {last_err}")
    if done.returncode != 0:
        reason = f"verdict {result.get('verdict')}: {result.get('reason') or last_err}"
        return Sample(wall, False, session, waited_ms, f"exit {done.returncode}, {reason}")
    return Sample(wall, True, session, waited_ms)


def run_rounds(rows: list[Row], runs: int, cwd: Path) -> None:
    """One untimed warm-up round, then `runs` rounds, each running every row once."""
    print("warm-up round (not counted)", file=sys.stderr)
    for row in rows:
        measure(row, cwd)
    for i in range(runs):
        order = rows[i % len(rows) :] + rows[: i % len(rows)]
        for row in order:
            row.samples.append(measure(row, cwd))
        print(f"round {i + 1}/{runs} done", file=sys.stderr)


# --- the table ---------------------------------------------------------------------------------


def median_min(values: list[float]) -> tuple[str, str]:
    if not values:
        return "–", "–"
    return _ms(statistics.median(values)), _ms(min(values))


def _ms(value: float) -> str:
    """Whole milliseconds, with a decimal below 10 ms (a session on loopback takes a few)."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def waited_cell(row: Row) -> str:
    if row.kind != "probe" or not row.good:
        return "–"
    pairs = [(s.waited_ms, s.session_ms or 0.0) for s in row.good if s.waited_ms is not None]
    if not pairs:
        return "n/a"
    waited = statistics.median([w for w, _ in pairs])
    shares = [w / s for w, s in pairs if s > 0]
    return f"{waited:.2f} ({statistics.median(shares):.0%})" if shares else f"{waited:.2f}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| run | ok | wall ms median | wall ms min | session ms median | session ms min "
        "| waited ms median (share) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        walls = [s.wall_ms for s in row.good]
        sessions = [s.session_ms for s in row.good if s.session_ms is not None]
        ok = f"{len(row.good)}/{len(row.samples)}"
        if len(row.good) < len(row.samples):
            ok = f"**{ok}**"
        cells = [row.label, ok, *median_min(walls), *median_min(sessions), waited_cell(row)]
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(
    rows: list[Row], args: argparse.Namespace, before: str, server: str, notes: list[str]
) -> None:
    settle = f"--settle {args.settle:g}" if args.settle is not None else "default settle"
    print(f"machine: {machine()}; date {date.today().isoformat()}")
    print(
        f"server: {server} on 127.0.0.1; {args.runs} runs a row, rows alternated, after one "
        f"untimed warm-up; smtp-probe with {settle}; before = {before}"
    )
    print()
    print("\n".join(table(rows)))
    print()
    print(
        "wall: process start to exit; session: `results[0].duration_ms` of the JSON report; "
        "waited: `results[0].waited_ms`, time in quiet windows, and its share of the session "
        "(n/a: that revision does not report it). Medians and minima over the runs that succeeded."
    )
    for note in notes:
        print(f"- {note}")
    for row in rows:
        failed = [(i + 1, s) for i, s in enumerate(row.samples) if not s.ok]
        for n, sample in failed[:3]:
            print(f"- FAILED {row.label}, run {n}: {sample.error}")
        if len(failed) > 3:
            print(f"- FAILED {row.label}: {len(failed) - 3} more")


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=9, help=f"runs per row (at least {MIN_RUNS})")
    p.add_argument("--before", default=DEFAULT_BEFORE, metavar="REV", help="the older revision")
    p.add_argument("--settle", type=float, metavar="S", help="passed to both smtp-probe rows")
    p.add_argument("--server", choices=("aiosmtpd", "asyncio"), default="aiosmtpd")
    args = p.parse_args(argv)
    if args.runs < MIN_RUNS:
        p.error(f"--runs must be at least {MIN_RUNS}")
    if args.settle is not None and args.settle < 0:
        p.error("--settle must not be negative")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    print("terminated; cleaning up the worktree and server", file=sys.stderr)
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the worktree and server are cleaned up


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        before = git("rev-parse", "--verify", "--short", f"{args.before}^{{commit}}")
    except RuntimeError as exc:
        print(f"bad --before: {exc}", file=sys.stderr)
        return 2
    try:
        return bench(args, before)
    except KeyboardInterrupt:
        print("interrupted; the worktree and server were cleaned up", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def bench(args: argparse.Namespace, before: str) -> int:
    notes: list[str] = []
    swaks = shutil.which("swaks")
    if swaks is None:
        print(SWAKS_MISSING, file=sys.stderr)
        notes.append(f"no swaks row: {SWAKS_MISSING}")
    with ExitStack() as stack:  # closed in reverse: server, worktree, temporary folder
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cold-")))
        cwd = base / "cwd"
        cwd.mkdir()
        before_tree = stack.enter_context(worktree(before, base))
        if args.server == "aiosmtpd":
            host, port = stack.enter_context(demo_server())
            server = "aiosmtpd (in this process)"
        else:
            host, port = stack.enter_context(tiny_server())
            server = "tiny asyncio server (in this process)"

        def probe_row(label: str, tree: Path) -> Row:
            argv = [sys.executable, "-m", "probe", "run", str(tree / "scenarios" / "basic.yaml")]
            argv += [f"{host}:{port}", "--var", "domain=example.test"]
            argv += ["--format", "json", "--no-report"]
            if args.settle is not None:
                argv += ["--settle", f"{args.settle:g}"]
            return Row(label, "probe", argv, {**os.environ, "PYTHONPATH": str(tree)})

        plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        rows = [
            probe_row(f"smtp-probe before ({before})", before_tree),
            probe_row("smtp-probe after (current tree)", ROOT),
        ]
        check_imports(rows[0], cwd, before_tree)
        check_imports(rows[1], cwd, ROOT)
        if swaks is not None:
            swaks_argv = [swaks, "--server", host, "--port", str(port)]
            swaks_argv += ["--helo", "probe.smtp-probe.invalid"]
            swaks_argv += ["--from", "probe@probe.smtp-probe.invalid"]
            swaks_argv += ["--to", "postmaster@example.test", "--silent", "2"]
            rows.append(Row("swaks (one transaction)", "swaks", swaks_argv, plain_env))
        rows.append(Row("`python -c pass`", "floor", [sys.executable, "-c", "pass"], plain_env))

        run_rounds(rows, args.runs, cwd)
        report(rows, args, before, server, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
