"""Whole sessions on loopback: throughput, and memory against a server sending an endless reply.

    python bench/bench_session.py [SESSIONS]

Prints figures and asserts nothing. Talks only to servers it starts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path

from probe.codes import load_table
from probe.scenario import bind, load_scenario
from probe.session.runner import RunOptions, Session

ROOT = Path(__file__).resolve().parent.parent
REPLIES = {
    b"EHLO": b"250-bench.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"DATA": b"354 go\r\n",
    b"QUIT": b"221 bye\r\n",
    b"VRFY": b"252 maybe\r\n",
}


async def _valid(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 bench.test ESMTP\r\n")
    while line := await reader.readline():
        verb = line.split(b" ", 1)[0].strip().upper()
        writer.write(REPLIES.get(verb, b"250 OK\r\n"))
        if verb == b"DATA":
            await reader.readuntil(b"\r\n.\r\n")
            writer.write(b"250 queued\r\n")
        if verb == b"QUIT":
            break
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


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench_throughput(sessions: int, concurrency: int = 16) -> None:
    server = await asyncio.start_server(_valid, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bound = bind(load_scenario(ROOT / "scenarios" / "basic.yaml"), {"domain": "bench.test"}, {})
    table = load_table()
    limit = asyncio.Semaphore(concurrency)
    for settle in (0.0, 0.1):
        options = RunOptions(settle=settle)

        async def one(options: RunOptions = options) -> str:
            async with limit:
                result = await Session(bound, "127.0.0.1", port, options, table).play("bench")
                return str(result.verdict)

        count = sessions if settle == 0 else max(concurrency, sessions // 10)
        start = time.perf_counter()
        verdicts = await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - start
        print(
            f"throughput (settle {settle:g} s): {count} basic.yaml sessions, {concurrency} at "
            f"a time, in {elapsed:.2f} s = {count / elapsed:,.0f} sessions/s "
            f"({verdicts.count('pass')} pass)"
        )
    server.close()


async def bench_endless_reply() -> None:
    server = await asyncio.start_server(_endless, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bound = bind(load_scenario(ROOT / "scenarios" / "basic.yaml"), {"domain": "bench.test"}, {})
    before = _rss_mib()
    start = time.perf_counter()
    result = await Session(bound, "127.0.0.1", port, RunOptions(timeout=10)).play("endless")
    elapsed = time.perf_counter() - start
    print(
        f"endless greeting: verdict {result.verdict} in {elapsed * 1000:.0f} ms "
        f"({result.steps[0].reason}); peak RSS {before:.0f} -> {_rss_mib():.0f} MiB"
    )
    server.close()
    await asyncio.sleep(0.1)  # let the server's handler see the abort


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    asyncio.run(bench_throughput(count))
    asyncio.run(bench_endless_reply())
