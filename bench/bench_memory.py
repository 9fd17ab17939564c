"""Memory per byte: peak RSS of one `smtp-probe run` that sends a large message, beside swaks.

    python bench/bench_memory.py [--sizes 1,10,100] [--runs N]

For each size (MiB) a message file is written to a temporary folder (76-character lines, CRLF),
then, against one aiosmtpd server on 127.0.0.1 that accepts any size and keeps nothing:

- smtp-probe, streamed: a scenario with `data: {file: msg.eml}` (read and sent 64 KiB at a time);
- smtp-probe, read whole: the same file with `expand: true`, which reads it into memory to fill
  its variables, then sends it as one body (the way every inline `data:` body goes); only up to
  10 MiB (`expand` takes files of at most 16 MiB);
- swaks: `swaks --data @FILE`, the reference client, which reads the message whole;
- `python -c pass`: the floor of a Python process.

Peak RSS is the child's `ru_maxrss` (resource.getrusage(RUSAGE_CHILDREN) read before and after
each run, in a fresh subprocess per measurement so that maxima do not carry over). The median of
`--runs` runs is shown. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = b"x" * 76 + b"\r\n"

_MEASURE = """
import resource, subprocess, sys, json
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "kib": peak, "err": proc.stderr.decode()[-300:]}))
"""


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    import json

    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{command[0]} exited {result['rc']}: {result['err']}")
    return result["kib"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="message sizes in MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from aiosmtpd.controller import Controller

    from probe.demo import free_port

    class Discard:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 OK"

    port = free_port()
    controller = Controller(Discard(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    target = f"127.0.0.1:{port}"
    rows: list[tuple[str, int, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            steps = (
                "  - ehlo: bench.example.test\n  - mail: probe@example.test\n"
                "  - rcpt: postmaster@example.test\n"
            )
            (work / "streamed.yaml").write_text(
                f"name: streamed\nsteps:\n{steps}  - data: {{file: msg.eml}}\n  - quit\n"
            )
            (work / "whole.yaml").write_text(
                f"name: whole\nsteps:\n{steps}  - data: {{file: msg.eml, expand: true}}\n  - quit\n"
            )
            probe = [sys.executable, "-m", "probe", "run"]
            floor = [measure([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
            rows.append(
                (
                    "python -c pass",
                    0,
                    statistics.median(r[0] for r in floor) / 1024,
                    statistics.median(r[1] for r in floor),
                )
            )
            for size in sizes:
                message = work / "msg.eml"
                with message.open("wb") as f:
                    f.write(b"Subject: bench\r\n\r\n")
                    f.write(LINE * (size * 1024 * 1024 // len(LINE)))
                cases: list[tuple[str, list[str], dict[str, str]]] = [
                    ("smtp-probe, streamed file", [*probe, str(work / "streamed.yaml"), target,
                                                   "--no-report"], env),
                ]  # fmt: skip
                if size <= 10:
                    cases.append(
                        ("smtp-probe, read whole (expand)", [*probe, str(work / "whole.yaml"),
                                                             target, "--no-report"], env)
                    )  # fmt: skip
                if shutil.which("swaks"):
                    cases.append(
                        ("swaks --data @FILE", ["swaks", "--server", target, "--to",
                         "postmaster@example.test", "--data", f"@{message}", "--silent", "2"],
                         env)
                    )  # fmt: skip
                for name, command, case_env in cases:
                    try:
                        runs = [measure(command, case_env) for _ in range(args.runs)]
                    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                        print(f"{name}, {size} MiB: failed: {exc}", file=sys.stderr)
                        continue
                    kib = statistics.median(r[0] for r in runs)
                    wall = statistics.median(r[1] for r in runs)
                    rows.append((name, size, kib / 1024, wall))
    finally:
        controller.stop()
    print(f"Peak RSS, median of {args.runs} runs ({platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()})\n")  # fmt: skip
    print("| client | message MiB | peak RSS MiB | wall s |")
    print("|---|---|---|---|")
    for name, size, mib, wall in rows:
        print(f"| {name} | {size or '-'} | {mib:.1f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
