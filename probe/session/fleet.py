"""Many sessions at once, politely and in bounded memory: jobs stream in, results stream out.

`run_jobs` takes jobs from an async iterator (a list made up front, or targets read lazily and
resolved only as far ahead as the sessions need) and hands each result to `emit` as soon as its
session ends; nothing is kept here once it is emitted. Three limits hold at every moment:

- `concurrency`: sessions (so open sockets) at once, overall;
- `per_host`: sessions at once against one server (address and port): targets whose MX host is
  the same server share it, whatever domain named it;
- `rate`: new sessions per second, overall (connections are spaced 1/rate apart, no bursts).

MX fallback is as in a single run: a job's addresses are tried in turn until one accepts a
connection, each attempt taking its own per-host place and its own place in the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from probe.codes import load_table
from probe.results import ServerResult
from probe.session.limits import DEFAULT_PER_HOST, Limits
from probe.session.machine import RunOptions, Session

GC_YOUNG = 50_000  # allocations between young-generation collections during a run (see run_jobs)

__all__ = ["DEFAULT_PER_HOST", "HostGate", "Limits", "RateGate", "run_jobs"]

if TYPE_CHECKING:
    from probe.dane import DaneLookup
    from probe.resolve import Candidate
    from probe.session.orchestrate import Job


class HostGate:
    """At most `per_host` sessions at once per server; a server's entry lives only while some
    session holds or waits for it, so a run over a million servers keeps no table of them."""

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = (asyncio.Semaphore(self.per_host), [0])
        semaphore, users = gate
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._gates[key]

    def __len__(self) -> int:
        return len(self._gates)


class RateGate:
    """New sessions spaced at least 1/rate seconds apart (a steady rate, never a burst)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


Emit = Callable[[Any, ServerResult], None]


async def run_jobs(
    jobs: AsyncIterator[tuple[Any, Job]],
    options: RunOptions,
    limits: Limits,
    emit: Emit,
    dane: Callable[[Job, Candidate], DaneLookup | None] | None = None,
) -> None:
    """Play every job the iterator yields, `limits.concurrency` at a time, handing each result
    to `emit(order, result)` as its session ends (completion order). Cancelled (a signal), the
    sessions under way close their connections and emit what they judged, marked interrupted;
    then CancelledError propagates. Jobs not yet taken from the iterator are the caller's."""
    from probe.session import orchestrate
    from probe.session.drivers import aio

    table = load_table()
    hosts = HostGate(limits.per_host)
    rate = RateGate(limits.rate) if limits.rate else None
    workers = max(1, limits.concurrency)
    queue: asyncio.Queue[tuple[Any, Job] | None] = asyncio.Queue(maxsize=workers)

    async def session(job: Job, candidate: Candidate, partial: list[ServerResult]) -> ServerResult:
        async with hosts.hold(candidate.hostport):
            if rate is not None:
                await rate.wait()
            s = Session(
                job.bound,
                candidate.address,
                candidate.port,
                options,
                table,
                candidate.host,
                implicit_tls=job.target.implicit_tls,
                dane=dane(job, candidate) if dane is not None else None,
            )
            try:
                return await aio.play(s, job.target.text)
            except asyncio.CancelledError:
                partial.append(orchestrate._interrupted(job, s.results, candidate))
                raise

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            order, job = item
            partial: list[ServerResult] = []  # what a cancelled session had judged

            async def one(
                candidate: Candidate, job: Job = job, partial: list[ServerResult] = partial
            ) -> ServerResult:
                return await session(job, candidate, partial)

            try:
                result = await orchestrate.play_with_fallback(job, one)
            except asyncio.CancelledError:
                emit(order, partial[-1] if partial else orchestrate._interrupted(job, []))
                raise
            emit(order, result)

    async def feed() -> None:
        async for item in jobs:
            await queue.put(item)
        for _ in range(workers):
            await queue.put(None)

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    feeder = asyncio.ensure_future(feed())
    thresholds = gc.get_threshold()
    # Sessions make many short-lived objects and next to no reference cycles: a young-generation
    # collection every 700 allocations (the default) scanned what hundreds of sessions under way
    # hold, a tenth of a fleet run's CPU. Rarer collections cost the same memory here.
    gc.set_threshold(max(thresholds[0], GC_YOUNG), *thresholds[1:])
    try:
        await asyncio.gather(feeder, *tasks)
    except BaseException:
        for task in (feeder, *tasks):
            task.cancel()
        await asyncio.gather(feeder, *tasks, return_exceptions=True)
        raise
    finally:
        gc.set_threshold(*thresholds)
