"""`run --format jsonl`: targets read lazily, resolved a little ahead of the sessions, results
written one a line as each session ends; nothing is held but counters.

Memory stays flat whatever the number of targets: at most `concurrency` targets are being
resolved, `concurrency` jobs wait in a queue and `concurrency` sessions run; each result is
written, flushed and dropped. `--targets -` (stdin) and `--targets FILE` in the plain form are
read a batch of lines at a time, off the event loop, so a slow pipe never stalls a session.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from probe.report import jsonl
from probe.report.redact import Redactor
from probe.resolve import ResolverConfig, TargetPlan, plan_target
from probe.scenario import Scenario, ScenarioError
from probe.session.fleet import Limits, run_jobs
from probe.session.machine import RunOptions
from probe.session.orchestrate import Job, _signals_cancel, make_plan
from probe.shard import Shard
from probe.targetsfile import TargetEntry, TargetsFileError, parse_line

CHUNK = 64 * 1024  # bytes read at a time; every complete line in them makes one batch


def line_batches(
    path: Path | None, stdin: BinaryIO | None = None
) -> tuple[str, Iterator[list[str]]]:
    """(the name used in messages, batches of lines) of `--targets -` or a plain targets file.

    A batch is every complete line one read() gave: all that a pipe holds at that moment (so a
    line written to a pipe is probed at once, not when the pipe closes), 64 KiB of a file."""
    if path is None or str(path) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return "-", _batches_of(stream.fileno())
    return str(path), _file_batches(path)


def _file_batches(path: Path) -> Iterator[list[str]]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield from _batches_of(fd)
    finally:
        os.close(fd)


def _batches_of(fd: int) -> Iterator[list[str]]:
    pending = b""
    first = True
    while chunk := os.read(fd, CHUNK):
        if first:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False
        *complete, pending = (pending + chunk).split(b"\n")
        if complete:
            yield [line.decode("utf-8", "surrogateescape") for line in complete]
    if pending:
        yield [pending.decode("utf-8", "surrogateescape")]


def entries(
    name: str, batches: Iterator[list[str]], port: int, problem: Callable[[str], None]
) -> Iterator[list[TargetEntry]]:
    """Each batch's targets; a line with a mistake is reported through `problem` and skipped
    (the lines after it may already be probed: nothing waits for the end of a stream)."""
    number = 0
    for batch in batches:
        out = []
        for line in batch:
            number += 1
            try:
                entry = parse_line(line, f"{name}:{number}", port)
            except TargetsFileError as exc:
                for text in exc.problems:
                    problem(text)
                continue
            if entry is not None:
                out.append(entry)
        if out:
            yield out


async def _batches(source: Iterator[list[TargetEntry]]) -> AsyncIterator[list[TargetEntry]]:
    """The source's batches, each read in a thread: a read that waits on a pipe never stalls
    the sessions under way."""
    loop = asyncio.get_running_loop()
    empty: list[TargetEntry] = []
    while batch := await loop.run_in_executor(None, next, source, empty):
        yield batch


async def stream(
    source: Iterator[list[TargetEntry]],
    scenarios: list[Scenario],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    config: ResolverConfig,
    options: RunOptions,
    limits: Limits,
    out: jsonl.Writer,
    *,
    all_mx: bool = False,
    all_addresses: bool = False,
    shard: Shard | None = None,
    problem: Callable[[str], None],
    skipped: Callable[[], int] = lambda: 0,
) -> jsonl.Tally:
    """Play every target of `source`; write each result to `out` as it comes, then the summary."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    tally = jsonl.Tally()
    secrets: set[str] = set()
    redactor = Redactor(secrets)
    cache: Any = None
    bound_cache: dict[Any, Any] = {}  # targets with the same values share a bound scenario

    async def plan_of(entry: TargetEntry) -> TargetPlan:
        nonlocal cache
        if cache is None and not entry.target.is_address:
            from probe.resolve import DnsCache

            cache = DnsCache.from_config(config)
        return await plan_target(entry.target, config, cache)

    def bind(index: int, entry: TargetEntry, plan: TargetPlan) -> list[tuple[Any, Job]]:
        nonlocal redactor
        if shard is not None and not shard.holds(plan):
            return []
        try:
            bound = make_plan(
                scenarios,
                [plan],
                overrides,
                environ,
                all_mx,
                [entry.variables],
                bound_cache,
                all_addresses,
            )
        except ScenarioError as exc:
            for p in exc.problems:
                problem(f"{entry.where or entry.target.text}: {p}")
            tally.problems += 1
            return []
        if not bound.secrets <= secrets:
            secrets.update(bound.secrets)
            redactor = Redactor(secrets)
        return [([index, k], job) for k, job in enumerate(bound.jobs)]

    async def jobs() -> AsyncIterator[tuple[Any, Job]]:
        # Targets are read and resolved ahead of the sessions by at most `concurrency`: the
        # queue holds the lookups under way, in list order.
        ahead: asyncio.Queue[tuple[int, TargetEntry, asyncio.Task[TargetPlan]] | None]
        ahead = asyncio.Queue(maxsize=max(1, limits.concurrency))

        async def read() -> None:
            index = 0
            async for batch in _batches(source):
                for entry in batch:
                    await ahead.put((index, entry, asyncio.ensure_future(plan_of(entry))))
                    index += 1
            await ahead.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (item := await ahead.get()) is not None:
                index, entry, task = item
                for job in bind(index, entry, await task):
                    yield job
            await reader  # its errors (an unreadable file) are the run's
        finally:
            reader.cancel()

    def emit(order: Any, result: Any) -> None:
        tally.add(result.verdict, jsonl.warnings_of(result))
        out.write(jsonl.result_line(order, result, redactor))

    with _signals_cancel(asyncio.current_task()) as signalled:
        try:
            await run_jobs(jobs(), options, limits, emit)
        except asyncio.CancelledError:
            tally.interrupted = True
        tally.interrupted = tally.interrupted or signalled[0]
    tally.problems += skipped()  # lines of the list skipped for a mistake
    extra = {"shard": str(shard)} if shard is not None else {}
    out.write(
        jsonl.summary_line(
            tally, options.profile, options.strict, started_at, time.monotonic() - t0, **extra
        )
    )
    return tally


def run(
    source: Iterator[list[TargetEntry]],
    scenarios: list[Scenario],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    config: ResolverConfig,
    options: RunOptions,
    limits: Limits,
    out: jsonl.Writer,
    **kwargs: Any,
) -> jsonl.Tally:
    return asyncio.run(
        stream(source, scenarios, overrides, environ, config, options, limits, out, **kwargs)
    )
