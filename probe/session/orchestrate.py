"""Run every scenario against every target, concurrently but reported in a stable order.

One job runs on the blocking driver, several on the asyncio driver; MX fallback is the same.

Signals: SIGINT/SIGTERM cancel the run; sessions under way close their connections, and the
result still lists what was judged, the rest marked as not run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from probe.codes import load_table
from probe.record import field, record, replace
from probe.resolve import Candidate, PlanKind, TargetPlan, plan_details
from probe.results import RunResult, ServerResult, StepResult, Verdict
from probe.scenario import Scenario, ScenarioError, ScenarioProblem, bind
from probe.scenario.model import BoundScenario
from probe.session.machine import RunOptions, Session
from probe.targets import Target

if TYPE_CHECKING:
    from probe.dane import DaneLookup
    from probe.session.limits import Limits


BOUND_CACHE_SIZE = 256


@record(slots=True)
class Job:
    """One scenario for one target: where to connect, in the order a sending MTA would try."""

    bound: BoundScenario
    plan: TargetPlan
    candidates: list[Candidate]  # tried in turn until one accepts a connection; [] = no probe
    target_vars: Mapping[str, str] = field(default_factory=dict)  # given with the target

    @property
    def target(self) -> Target:
        return self.plan.target


@record(slots=True)
class Plan:
    """Everything bound before the first byte is sent (so bad input costs nothing)."""

    jobs: list[Job] = field(default_factory=list)
    # --dane: each host's TLSA lookup (probe.resolve.dane), by dane_key(); empty without --dane
    dane: dict[tuple[str, int, str | None, int], DaneLookup] = field(default_factory=dict)

    @property
    def secrets(self) -> set[str]:
        return {s for job in self.jobs for s in job.bound.secrets}

    def dane_for(self, job: Job, candidate: Candidate) -> DaneLookup | None:
        return self.dane.get(dane_key(job, candidate))


def dane_key(job: Job, candidate: Candidate) -> tuple[str, int, str | None, int]:
    """What a host's DANE lookup depends on: the host, the port, the mail domain when the host
    was reached through MX records (its MX answer must be validated too), the address family."""
    via_mx = job.plan.resolution is PlanKind.MX
    family = 6 if ":" in candidate.address else 4
    return candidate.host, candidate.port, job.plan.domain if via_mx else None, family


async def look_up_dane(plan: Plan, config: Any) -> None:
    """--dane: every host's TLSA records, looked up once each, before any session starts."""
    import asyncio

    import dns.resolver

    from probe.resolve.dane import dnssec_resolver, lookup_dane

    keys = {dane_key(job, c) for job in plan.jobs for c in job.candidates}
    try:
        resolver = dnssec_resolver(config)
    except dns.resolver.NoResolverConfiguration:  # each lookup says so
        resolver = None
    ordered = sorted(keys, key=str)
    found = await asyncio.gather(
        *(lookup_dane(h, p, config, d, f, resolver) for h, p, d, f in ordered)
    )
    plan.dane.update(zip(ordered, found, strict=True))


def make_plan(
    scenarios: list[Scenario],
    plans: list[TargetPlan],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    all_mx: bool = False,
    target_vars: Sequence[Mapping[str, str]] | None = None,
    bound_cache: dict[Any, BoundScenario] | None = None,
    all_addresses: bool = False,
) -> Plan:
    """Bind each scenario for each resolved target; raise one ScenarioError listing every
    problem. `target_vars[i]` are the variables given with `plans[i]`'s target (a targets file
    line); they beat `overrides` (--var), which beat the `domain` a NAME target gives. Each
    scenario takes the variables it declares: the others are for other scenarios, or unused
    (`probe.targetsfile.unused_variables` says which). `bound_cache` (a fleet run's) keeps a
    scenario bound with the same values for the next target that has them. `all_addresses`: a
    job for every address of every host (TargetPlan.candidates)."""
    if target_vars is None:
        target_vars = [{}] * len(plans)
    if len(target_vars) != len(plans):
        raise ValueError("make_plan: one target_vars mapping per target plan")
    plan = Plan()
    problems: list[ScenarioProblem] = []
    for target_plan, own in zip(plans, target_vars, strict=True):
        groups = target_plan.candidates(all_mx, all_addresses) or [[]]
        for scenario in scenarios:
            values = {k: v for k, v in {**overrides, **own}.items() if k in scenario.variables}
            # The mail domain of a NAME target is the domain the scenario is about.
            if "domain" in scenario.variables and "domain" not in values and target_plan.domain:
                values["domain"] = target_plan.domain
            try:
                key = (id(scenario), frozenset(values.items()))
                cached = bound_cache.get(key) if bound_cache is not None else None
                bound = cached or bind(scenario, values, environ)
                if bound_cache is not None and cached is None:
                    if len(bound_cache) >= BOUND_CACHE_SIZE:
                        bound_cache.clear()  # targets with values of their own: kept bounded
                    bound_cache[key] = bound
            except ScenarioError as exc:
                found = exc.problems
                if any(target_vars):  # which target lacks a value, when targets differ
                    found = [_for_target(p, target_plan.target) for p in found]
                problems += [p for p in found if p not in problems]
                continue
            used = {k: v for k, v in own.items() if k in scenario.variables}
            plan.jobs += [Job(bound, target_plan, group, used) for group in groups]
    if problems:
        raise ScenarioError(problems)
    return plan


def _for_target(problem: ScenarioProblem, target: Target) -> ScenarioProblem:
    return replace(problem, message=f"{problem.message} (target {target.text})")


def run_plan(
    plan: Plan,
    options: RunOptions,
    concurrency: int = 8,
    limits: Limits | None = None,
    on_result: Callable[[ServerResult], None] | None = None,
) -> RunResult:
    """Play every job: one job on the blocking driver (no event loop to pay for), several
    concurrently on the asyncio driver, within `limits` (default: `concurrency` at once and the
    default per-host limit). Both give the same results. `on_result` is told of each result of
    several as its session ends (progress), in the order they end."""
    if len(plan.jobs) == 1 and (limits is None or limits.rate is None):
        return execute_blocking(plan, options)
    import asyncio

    return asyncio.run(execute(plan, options, concurrency, limits, on_result))


def execute_blocking(plan: Plan, options: RunOptions) -> RunResult:
    """Play the jobs one after another over blocking sockets. SIGINT/SIGTERM interrupt the
    session under way (a second signal during the cleanup is ignored, so the report is kept)."""
    from probe.session.drivers import blocking

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    table = load_table()
    results: list[ServerResult] = []
    interrupted = False

    def play(job: Job, candidate: Candidate, sessions: list[Session]) -> ServerResult:
        session = Session(
            job.bound,
            candidate.address,
            candidate.port,
            options,
            table,
            candidate.host,
            implicit_tls=job.target.implicit_tls,
            dane=plan.dane_for(job, candidate),
        )
        sessions.append(session)
        return blocking.play(session, job.target.text)

    with _signals_raise() as signalled:
        for job in plan.jobs:
            if interrupted:
                results.append(_interrupted(job, []))
                continue
            sessions: list[Session] = []

            def one(
                candidate: Candidate, job: Job = job, s: list[Session] = sessions
            ) -> ServerResult:
                return play(job, candidate, s)

            try:
                results.append(_with_fallback(job, one))
            except _Interrupted:
                interrupted = True
                done = sessions[-1].results if sessions else []
                candidate = job.candidates[len(sessions) - 1] if sessions else None
                results.append(_interrupted(job, done, candidate))
        interrupted = interrupted or signalled[0]
    return RunResult(
        results=results,
        profile=options.profile,
        strict=options.strict,
        started_at=started_at,
        duration=time.monotonic() - t0,
        interrupted=interrupted,
    )


def _with_fallback(job: Job, play: Callable[[Candidate], ServerResult]) -> ServerResult:
    """Try the job's addresses in turn until one accepts a connection, as a sending MTA does
    (RFC 5321 §5.1). `play` runs one session against one candidate."""
    if not job.candidates:
        return _unprobed(job)
    refused: list[str] = []
    result: ServerResult | None = None
    for number, candidate in enumerate(job.candidates, 1):
        result = play(candidate)
        _fallback_details(job, candidate, result, refused)
        if result.address is not None:
            return result
        _note_refusal(result, refused, number, len(job.candidates))
    assert result is not None
    return result


def _fallback_details(
    job: Job, candidate: Candidate, result: ServerResult, refused: list[str]
) -> None:
    result.details.update(plan_details(job.plan, candidate))
    if refused:
        result.details["fallback"] = list(refused)


def _note_refusal(result: ServerResult, refused: list[str], number: int, total: int) -> None:
    first = result.steps[0] if result.steps else None
    refused.append(first.reason if first and first.reason else result.reason)
    if number == total and number > 1:
        result.reason = f"none of the {number} addresses accepted a connection: " + "; ".join(
            refused
        )
        result.details.pop("fallback", None)


class _Interrupted(BaseException):
    """SIGINT or SIGTERM during a blocking run."""


@contextlib.contextmanager
def _signals_raise() -> Iterator[list[bool]]:
    """SIGINT and SIGTERM raise _Interrupted once; later ones only note that they came."""
    signalled = [False]

    def handler(signum: int, frame: object) -> None:
        if not signalled[0]:
            signalled[0] = True
            raise _Interrupted

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield signalled
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


async def play_with_fallback(
    job: Job, play: Callable[[Candidate], Awaitable[ServerResult]]
) -> ServerResult:
    """`_with_fallback` for the asyncio driver: the job's addresses in turn until one accepts."""
    if not job.candidates:
        return _unprobed(job)
    refused: list[str] = []
    result: ServerResult | None = None
    for number, candidate in enumerate(job.candidates, 1):
        result = await play(candidate)
        _fallback_details(job, candidate, result, refused)
        if result.address is not None:
            return result
        _note_refusal(result, refused, number, len(job.candidates))
    assert result is not None
    return result


@contextlib.contextmanager
def _signals_cancel(task: Any) -> Iterator[list[bool]]:
    """SIGINT and SIGTERM cancel `task` (the run); the list says whether one came."""
    import asyncio

    loop = asyncio.get_running_loop()
    signalled = [False]

    def stop() -> None:
        signalled[0] = True
        if task is not None:
            task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield signalled
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def execute(
    plan: Plan,
    options: RunOptions,
    concurrency: int = 8,
    limits: Limits | None = None,
    on_result: Callable[[ServerResult], None] | None = None,
) -> RunResult:
    """Play the plan's jobs on the asyncio driver within `limits` (probe.session.fleet), the
    results kept and reported in the plan's order."""
    import asyncio

    from probe.session.fleet import run_jobs
    from probe.session.limits import Limits

    limits = limits or Limits(concurrency=concurrency)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    results: list[ServerResult | None] = [None] * len(plan.jobs)

    async def jobs() -> AsyncIterator[tuple[Any, Job]]:
        for item in enumerate(plan.jobs):
            yield item

    def keep(index: Any, result: ServerResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    interrupted = False
    with _signals_cancel(asyncio.current_task()) as signalled:
        try:
            await run_jobs(jobs(), options, limits, keep, plan.dane_for)
        except asyncio.CancelledError:
            interrupted = True
        interrupted = interrupted or signalled[0]
    final = [r or _interrupted(job, []) for r, job in zip(results, plan.jobs, strict=True)]
    return RunResult(
        results=final,
        profile=options.profile,
        strict=options.strict,
        started_at=started_at,
        duration=time.monotonic() - t0,
        interrupted=interrupted,
    )


def _unprobed(job: Job) -> ServerResult:
    """A target with nothing to connect to: a null MX domain, or a DNS failure."""
    plan = job.plan
    verdict = Verdict.NO_MAIL if plan.kind is PlanKind.NULL_MX else Verdict.ERROR
    why = plan.reason or ""
    return ServerResult(
        scenario=job.bound.scenario.name,
        scenario_path=job.bound.scenario.path,
        target=plan.target.text,
        address=None,
        verdict=verdict,
        steps=[
            StepResult(s.label, s.kind.value, str(s.position), Verdict.SKIP, reason=why)
            for s in job.bound.steps
        ],
        reason=why,
        details=plan_details(plan),
    )


def _interrupted(
    job: Job, done: list[StepResult], candidate: Candidate | None = None
) -> ServerResult:
    bound = job.bound
    steps = list(done)
    for step in bound.steps[len(done) :]:
        steps.append(
            StepResult(
                step.label, step.kind.value, str(step.position), Verdict.SKIP, reason="interrupted"
            )
        )
    judged = [s.verdict for s in done]
    verdict = Verdict.FAIL if Verdict.FAIL in judged else Verdict.ERROR
    return ServerResult(
        scenario=bound.scenario.name,
        scenario_path=bound.scenario.path,
        target=job.target.text,
        address=None,
        verdict=verdict,
        steps=steps,
        reason="run interrupted before this session finished",
        details=plan_details(job.plan, candidate),
    )
