"""Issue 15 in one table: cold start beside swaks, --version beside `python -c pass`, and a fleet
of sessions beside a raw asyncio client doing the same sessions.

    python bench/bench_scale.py [--runs N] [--fleet-runs N] [--sessions N] [--servers N]
                                [--concurrency N] [--venv DIR | --make-venv DIR] [--before DIR]
                                [--skip-cold] [--skip-fleet]

Cold rows (fresh processes, alternated round-robin after an untimed warm-up, as in
bench_cold.py): `smtp-probe run scenarios/basic.yaml 127.0.0.1:PORT --settle 0` against a tiny
asyncio server (with the scenario cache, filled by the warm-up round, and with it off), one swaks
transaction against the same server, `smtp-probe --version`, and `python -c pass`. Python runs
with bytecode caching on (PYTHONDONTWRITEBYTECODE removed, PYTHONPYCACHEPREFIX set to a temporary
folder), as an installed package has its .pyc files. These rows run this checkout through
PYTHONPATH, with whatever the interpreter's site-packages load at start (an editable install's
finder, other .pth files): `python -c pass` shows that floor.

With --venv DIR (or --make-venv DIR, which creates it: `python -m venv`, then `pip install` of
this checkout, not editable), three more rows: the venv's `smtp-probe` console script running
the same scenario, its `--version`, and the venv's `python -c pass`: what a user who installed
smtp-probe runs, without this checkout's PYTHONPATH.

Fleet rows: SESSIONS basic.yaml sessions over SERVERS loopback servers (127.0.0.1 ..
127.0.0.SERVERS, one process of their own), at CONCURRENCY sessions at once:
- smtp-probe: `run --targets FILE --format jsonl --output FILE --concurrency C --per-host C/SERVERS
  --settle 0`, every session judged and written as it ends;
- raw asyncio client: the same commands (EHLO, MAIL, RCPT, DATA and the message, RSET, NOOP, VRFY,
  QUIT) over asyncio streams, each reply read to its last line and nothing else done, C at once.
Each is its own process; its peak RSS and CPU time come from os.wait4 (through a small
trampoline, so the figure is the process's own). Rows alternate.
Prints Markdown; asserts nothing. Talks only to loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold import _tiny, machine, tiny_server

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"


# --- the fleet's servers (a process of their own) ---------------------------------------------


async def _serve(count: int) -> None:
    handle = _tiny  # the same dialogue as the cold-start rows' server
    first = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = first.sockets[0].getsockname()[1]
    servers, targets = [first], [f"127.0.0.1:{port}"]
    for i in range(2, count + 1):
        host = f"127.0.0.{i}"
        try:
            server = await asyncio.start_server(handle, host, port, backlog=4096)
        except OSError:
            server = await asyncio.start_server(handle, host, 0, backlog=4096)
        servers.append(server)
        targets.append(f"{host}:{server.sockets[0].getsockname()[1]}")
    print(json.dumps(targets), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes


# --- the raw client (a process of its own) ------------------------------------------------------

MESSAGE = (
    b"From: <probe@probe.smtp-probe.invalid>\r\nTo: <postmaster@example.test>\r\n"
    b"Subject: smtp-probe: RFC 5321 minimum implementation test\r\n\r\n"
    b"This message was sent by smtp-probe to check that postmaster@example.test\r\n"
    b"accepts mail (RFC 5321 section 4.5.1). It needs no action.\r\n.\r\n"
)
COMMANDS = [
    b"EHLO probe.smtp-probe.invalid\r\n",
    b"MAIL FROM:<probe@probe.smtp-probe.invalid>\r\n",
    b"RCPT TO:<postmaster@example.test>\r\n",
    b"DATA\r\n",
    MESSAGE,
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY postmaster\r\n",
    b"QUIT\r\n",
]


async def _raw(targets: list[str], concurrency: int) -> int:
    limit = asyncio.Semaphore(concurrency)
    ok = 0

    async def reply(reader: asyncio.StreamReader) -> bytes:
        while True:
            line = await reader.readline()
            if len(line) < 4 or line[3:4] != b"-":
                return line

    async def one(target: str) -> None:
        nonlocal ok
        host, port = target.rsplit(":", 1)
        async with limit:
            reader, writer = await asyncio.open_connection(host, int(port))
            await reply(reader)
            for command in COMMANDS:
                writer.write(command)
                await reply(reader)
            await reader.read()  # the server closes after 221
            writer.close()
            ok += 1

    await asyncio.gather(*(one(t) for t in targets))
    return ok


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    argv: list[str]
    env: dict[str, str]
    stdin: str | None = None
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process
    usage: bool = False  # measure peak RSS and CPU time (through TRAMPOLINE)
    failures: list[str] = field(default_factory=list)
    check: object = None


# Peak RSS and CPU time come from os.wait4 in a small trampoline process: a child forked straight
# from this (larger) process would report this process's RSS as its own peak (Linux keeps the
# high-water mark across the fork and the exec).
TRAMPOLINE = """import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
with open(os.environ["BENCH_RUSAGE"], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_once(row: Row, cwd: Path) -> None:
    usage_file = cwd.parent / "rusage.txt"
    usage_file.unlink(missing_ok=True)
    argv, env = row.argv, row.env
    if row.usage:
        argv = [sys.executable, "-c", TRAMPOLINE, *row.argv]
        env = {**row.env, "BENCH_RUSAGE": str(usage_file)}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=600)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    problem = row.check(proc.returncode, out, err) if callable(row.check) else None
    if problem:
        row.failures.append(problem)
        return
    row.walls.append(wall)
    if row.usage and usage_file.exists():
        maxrss, cpu = usage_file.read_text().split()
        row.rss.append(int(maxrss) / 1024)
        row.cpu.append(float(cpu))
    elif not row.usage:
        # The process's own user + system time (it is this process's only child meanwhile):
        # steadier than wall time on a shared machine.
        row.cpu.append(child_cpu)


def rounds(rows: list[Row], runs: int, cwd: Path, warmup: bool = True) -> None:
    if warmup:
        for row in rows:
            run_once(row, cwd)
        for row in rows:
            row.walls.clear()
            row.rss.clear()
            row.cpu.clear()
            row.failures.clear()
    for i in range(runs):
        for row in rows[i % len(rows) :] + rows[: i % len(rows)]:
            run_once(row, cwd)
        print(f"  round {i + 1}/{runs}", file=sys.stderr)


def _median(values: list[float]) -> str:
    if not values:
        return "–"
    value = statistics.median(values)
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


# --- the sections ---------------------------------------------------------------------------------


def python_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
    env["PYTHONPATH"] = str(ROOT)
    env["SMTP_PROBE_CACHE_DIR"] = str(base / "cache")  # filled by the warm-up round
    env.pop("SMTP_PROBE_NO_CACHE", None)
    return env


def installed_env(base: Path) -> dict[str, str]:
    """A user's shell: no PYTHONPATH, bytecode as pip wrote it into the venv."""
    drop = ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE", "SMTP_PROBE_NO_CACHE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["SMTP_PROBE_CACHE_DIR"] = str(base / "cache-installed")
    return env


def make_venv(folder: Path) -> None:
    """A venv with smtp-probe installed as a user installs it (`pip install .`, not editable)."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(ROOT)], check=True)


def cold(args: argparse.Namespace, base: Path, cwd: Path) -> list[str]:
    env = python_env(base)
    plain = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    lines: list[str] = []
    with tiny_server() as (host, port):
        target = f"{host}:{port}"

        def probe_ok(code: int, out: bytes, err: bytes) -> str | None:
            return None if code == 0 and b"PASS" in out else f"exit {code}: {err[-200:]!r}"

        def zero(code: int, out: bytes, err: bytes) -> str | None:
            return None if code == 0 else f"exit {code}: {err[-200:]!r}"

        options = [target, "--var", "domain=example.test", "--no-report", "--settle", "0"]
        run = [sys.executable, "-m", "probe", "run", str(BASIC), *options]
        rows = [
            Row("smtp-probe run basic.yaml (one IP target)", run, env, check=probe_ok),
            Row(
                "the same, scenario cache off",
                run,
                {**env, "SMTP_PROBE_NO_CACHE": "1"},
                check=probe_ok,
            ),
        ]
        if args.before is not None:
            before_env = {**env, "PYTHONPATH": str(args.before.resolve())}
            label = f"the same, before ({args.before})"
            rows.append(Row(label, run, before_env, check=probe_ok))
        swaks = shutil.which("swaks")
        if swaks:
            argv = [swaks, "--server", host, "--port", str(port), "--silent", "2"]
            argv += [
                "--helo",
                "probe.smtp-probe.invalid",
                "--from",
                "probe@probe.smtp-probe.invalid",
            ]
            argv += ["--to", "postmaster@example.test"]
            rows.append(Row("swaks, one transaction", argv, plain, check=zero))
        version = [sys.executable, "-m", "probe", "--version"]
        rows.append(Row("smtp-probe --version", version, env, check=zero))
        rows.append(Row("`python -c pass`", [sys.executable, "-c", "pass"], plain, check=zero))
        if args.venv is not None:
            venv = args.venv.resolve()
            script, python = str(venv / "bin" / "smtp-probe"), str(venv / "bin" / "python")
            user = installed_env(base)
            rows += [
                Row(
                    "installed (venv): smtp-probe run basic.yaml",
                    [script, "run", str(BASIC), *options],
                    user,
                    check=probe_ok,
                ),
                Row("installed (venv): smtp-probe --version", [script, "--version"], user, zero),
                Row("installed (venv): `python -c pass`", [python, "-c", "pass"], user, zero),
            ]
        print(f"cold: {args.runs} rounds", file=sys.stderr)
        rounds(rows, args.runs, cwd)
    lines += [
        "| cold start | ok | wall ms median | wall ms min | CPU ms median |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        ok = f"{len(row.walls)}/{len(row.walls) + len(row.failures)}"
        low = f"{min(row.walls):.1f}" if row.walls else "–"
        cpu = _median([c * 1000 for c in row.cpu])
        lines.append(f"| {row.label} | {ok} | {_median(row.walls)} | {low} | {cpu} |")

    def median_of(label: str) -> float | None:
        row = next((r for r in rows if r.label == label), None)
        return statistics.median(row.walls) if row is not None and row.walls else None

    lines.append("")
    swaks_ms = median_of("swaks, one transaction")
    runs = ["smtp-probe run basic.yaml (one IP target)"]
    if args.venv is not None:
        runs.append("installed (venv): smtp-probe run basic.yaml")
    for label in runs:
        probe_ms = median_of(label)
        if swaks_ms and probe_ms:
            lines.append(f"{label} / swaks: {probe_ms / swaks_ms:.2f}x (target: <= 1.00x)")
    for version_label, floor_label in (
        ("smtp-probe --version", "`python -c pass`"),
        ("installed (venv): smtp-probe --version", "installed (venv): `python -c pass`"),
    ):
        v, floor = median_of(version_label), median_of(floor_label)
        if v and floor:
            lines.append(f"{version_label} / {floor_label}: {v / floor:.2f}x")
    for row in rows:
        lines += [f"- FAILED {row.label}: {f}" for f in row.failures[:3]]
    return lines


def fleet(args: argparse.Namespace, base: Path, cwd: Path) -> list[str]:
    env = python_env(base)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.servers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        targets = json.loads(server.stdout.readline())
        listing = base / "targets.txt"
        chosen = [targets[i % len(targets)] for i in range(args.sessions)]
        listing.write_text("\n".join(chosen) + "\n")
        per_host = max(1, -(-args.concurrency // len(targets)))

        def probe_row(label: str, tree_env: dict[str, str], output: Path) -> Row:
            def probe_ok(code: int, out: bytes, err: bytes) -> str | None:
                try:
                    summary = json.loads(output.read_text().splitlines()[-1])
                except (OSError, ValueError, IndexError):
                    return f"exit {code}, no summary: {err[-300:]!r}"
                passed = summary.get("counts", {}).get("pass", 0)
                return None if passed == args.sessions else f"{passed} passed: {summary}"

            probe = [sys.executable, "-m", "probe", "run", str(BASIC), "--targets", str(listing)]
            probe += ["--var", "domain=example.test", "--no-report", "--settle", "0"]
            probe += ["--format", "jsonl", "--output", str(output)]
            probe += ["--concurrency", str(args.concurrency), "--per-host", str(per_host)]
            return Row(label, probe, tree_env, check=probe_ok, usage=True)

        def raw_ok(code: int, out: bytes, err: bytes) -> str | None:
            done = out.strip().decode() or "0"
            return (
                None if code == 0 and int(done) == args.sessions else f"exit {code}: {err[-300:]!r}"
            )

        raw = [sys.executable, __file__, "--raw", str(listing), str(args.concurrency)]
        rows = [
            probe_row("smtp-probe --format jsonl", env, base / "fleet.jsonl"),
            Row("raw asyncio client", raw, env, check=raw_ok, usage=True),
        ]
        if args.before is not None:
            before_env = {**env, "PYTHONPATH": str(args.before.resolve())}
            label = f"smtp-probe --format jsonl, before ({args.before})"
            rows.append(probe_row(label, before_env, base / "fleet-before.jsonl"))
        print(f"fleet: {args.fleet_runs} rounds of {args.sessions} sessions", file=sys.stderr)
        rounds(rows, args.fleet_runs, cwd, warmup=False)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    lines = [
        f"| fleet: {args.sessions} sessions, {args.servers} servers, concurrency "
        f"{args.concurrency} (--per-host {per_host}) | ok | wall s median | sessions/s "
        "| CPU s median | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ok = f"{len(row.walls)}/{len(row.walls) + len(row.failures)}"
        wall = statistics.median(row.walls) / 1000 if row.walls else 0
        rate = f"{args.sessions / wall:,.0f}" if wall else "–"
        rss = f"{max(row.rss):.0f}" if row.rss else "–"
        cpu = f"{statistics.median(row.cpu):.2f}" if row.cpu else "–"
        lines.append(f"| {row.label} | {ok} | {wall:.2f} | {rate} | {cpu} | {rss} |")
    if rows[0].walls and rows[1].walls:
        ratio = statistics.median(rows[1].walls) / statistics.median(rows[0].walls)
        cpu_ratio = statistics.median(rows[1].cpu) / statistics.median(rows[0].cpu)
        lines.append(
            f"\nsmtp-probe throughput / raw client: {ratio:.2f}x (target: >= 0.70x; by CPU "
            f"time {cpu_ratio:.2f}x); smtp-probe peak RSS {max(rows[0].rss or [0]):.0f} MiB "
            "(target: <= 150 MiB)"
        )
    if len(rows) > 2 and rows[1].walls and rows[2].walls:
        ratio = statistics.median(rows[1].walls) / statistics.median(rows[2].walls)
        cpu_ratio = statistics.median(rows[1].cpu) / statistics.median(rows[2].cpu)
        lines.append(
            f"before ({args.before}) / raw client: {ratio:.2f}x (by CPU time {cpu_ratio:.2f}x)"
        )
    for row in rows:
        lines += [f"- FAILED {row.label}: {f}" for f in row.failures[:3]]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=9, help="cold rounds (default 9, at least 7)")
    p.add_argument("--fleet-runs", type=int, default=3, help="fleet rounds (default 3)")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--servers", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument(
        "--venv",
        type=Path,
        metavar="DIR",
        help="also time the console script of a venv with smtp-probe installed (not editable): "
        "what a user runs, without this checkout's PYTHONPATH or an editable-install finder",
    )
    p.add_argument(
        "--make-venv",
        type=Path,
        metavar="DIR",
        help="create that venv first (python -m venv DIR; DIR/bin/pip install ROOT), then use it",
    )
    p.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="another checkout of smtp-probe (an older revision): its `run` rows beside these, "
        "cold and fleet, alternated in the same rounds",
    )
    p.add_argument("--skip-cold", action="store_true")
    p.add_argument("--skip-fleet", action="store_true")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--raw", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    if args.raw:
        targets = Path(args.raw[0]).read_text().split()
        print(asyncio.run(_raw(targets, int(args.raw[1]))))
        return 0
    if args.make_venv is not None:
        make_venv(args.make_venv)
        args.venv = args.make_venv
    if not 1 <= args.servers <= 250:
        p.error("--servers: 1 to 250 (127.0.0.1 .. 127.0.0.250)")
    out = [f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}; {date.today()}", ""]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        base = Path(tmp)
        cwd = base / "cwd"
        cwd.mkdir()
        if not args.skip_cold:
            out += [*cold(args, base, cwd), ""]
        if not args.skip_fleet:
            out += fleet(args, base, cwd)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
