"""Whole sessions on loopback: both drivers, quiet windows, and memory against an endless reply.

    python bench/bench_session.py [SESSIONS]

Prints a table and asserts nothing. Talks only to a server it starts on 127.0.0.1 (in a thread of
its own, so the blocking driver and the asyncio driver meet the same server the same way).

Rows:
- one session at a time, the blocking driver (what a single-target `smtp-probe run` uses);
- one session at a time, the asyncio driver with an event loop per session (what a single
  target would cost without the blocking driver);
- 16 at a time on the asyncio driver (what several targets use);
- the same with --settle 0 (no quiet windows), and with --settle 0.1 (the old fixed window);
- an endless greeting, cut off at the 64 KiB reply cap: time and peak RSS.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from probe.codes import load_table
from probe.results import ServerResult
from probe.scenario import bind, load_scenario
from probe.session.drivers import aio, blocking
from probe.session.machine import RunOptions, Session
from probe.session.timeouts import Timeouts

ROOT = Path(__file__).resolve().parent.parent
REPLIES = {
    b"EHLO": b"250-bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"DATA": b"354 go\r\n",
    b"QUIT": b"221 bye\r\n",
    b"VRFY": b"252 maybe\r\n",
}


async def _valid(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 bench.test ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            writer.write(REPLIES.get(verb, b"250 OK\r\n"))
            if verb == b"DATA":
                await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 queued\r\n")
            if verb == b"QUIT":
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    writer.close()


async def _endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    chunk = b"x" * 65536
    writer.write(b"220 ")
    try:
        for _ in range(2000):  # 128 MiB offered at most, then stop (bounded by design)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass  # the probe aborted the connection at its cap, as it should
    writer.close()


class ServerThread:
    """An asyncio server on 127.0.0.1 in a thread of its own."""

    def __init__(self, handler: Callable[..., object]) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(asyncio.start_server(handler, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()
            server.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bound() -> object:
    return bind(load_scenario(ROOT / "scenarios" / "basic.yaml"), {"domain": "bench.test"}, {})


def _row(name: str, results: list[ServerResult], elapsed: float) -> str:
    sessions = [r.duration * 1000 for r in results]
    waited = [r.waited * 1000 for r in results]
    share = statistics.median(w / s for w, s in zip(waited, sessions, strict=True) if s) * 100
    passed = sum(r.verdict == "pass" for r in results)
    return (
        f"| {name} | {len(results)} ({passed} pass) | {len(results) / elapsed:,.0f} | "
        f"{statistics.median(sessions):.2f} | {statistics.median(waited):.2f} ({share:.0f}%) |"
    )


def bench_drivers(count: int) -> None:
    server = ServerThread(_valid)
    bound = _bound()
    table = load_table()

    def session(options: RunOptions) -> Session:
        return Session(bound, "127.0.0.1", server.port, options, table)  # type: ignore[arg-type]

    def one_at_a_time_blocking(options: RunOptions) -> list[ServerResult]:
        return [blocking.play(session(options), "bench") for _ in range(count)]

    def one_at_a_time_aio(options: RunOptions) -> list[ServerResult]:
        return [asyncio.run(aio.play(session(options), "bench")) for _ in range(count)]

    def concurrent_aio(options: RunOptions, at_once: int = 16) -> list[ServerResult]:
        async def main() -> list[ServerResult]:
            limit = asyncio.Semaphore(at_once)

            async def one() -> ServerResult:
                async with limit:
                    return await aio.play(session(options), "bench")

            return await asyncio.gather(*(one() for _ in range(count)))

        return asyncio.run(main())

    default = RunOptions(timeouts=Timeouts())
    rows: list[tuple[str, Callable[[], list[ServerResult]]]] = [
        ("blocking driver, one at a time", lambda: one_at_a_time_blocking(default)),
        ("asyncio driver, one at a time", lambda: one_at_a_time_aio(default)),
        ("asyncio driver, 16 at a time", lambda: concurrent_aio(default)),
        ("16 at a time, --settle 0", lambda: concurrent_aio(RunOptions(settle=0.0))),
        ("16 at a time, --settle 0.1", lambda: concurrent_aio(RunOptions(settle=0.1))),
    ]
    print(f"{count} basic.yaml sessions per row against a loopback asyncio server\n")
    print("| row | sessions | sessions/s | session ms (median) | waited ms (share) |")
    print("|---|---:|---:|---:|---:|")
    for name, run in rows:
        run()  # warm-up: imports, code table, first connections
        start = time.perf_counter()
        results = run()
        print(_row(name, results, time.perf_counter() - start))
    server.stop()


def bench_endless_reply() -> None:
    server = ServerThread(_endless)
    before = _rss_mib()
    start = time.perf_counter()
    options = RunOptions(timeouts=Timeouts(override=10.0))
    session = Session(_bound(), "127.0.0.1", server.port, options)  # type: ignore[arg-type]
    result = blocking.play(session, "endless")
    elapsed = time.perf_counter() - start
    print(
        f"\nendless greeting: verdict {result.verdict} in {elapsed * 1000:.0f} ms "
        f"({result.steps[0].reason}); peak RSS {before:.0f} -> {_rss_mib():.0f} MiB"
    )
    server.stop()


if __name__ == "__main__":
    bench_drivers(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    bench_endless_reply()
