"""Run every scenario against every target, concurrently but reported in a stable order.

Signals: SIGINT/SIGTERM cancel the run; sessions under way close their connections, and the
result still lists what was judged, the rest marked as not run.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from probe.codes import load_table
from probe.resolve import Candidate, PlanKind, TargetPlan, plan_details
from probe.results import RunResult, ServerResult, StepResult, Verdict
from probe.scenario import Scenario, ScenarioError, ScenarioProblem, bind
from probe.scenario.model import BoundScenario
from probe.session.runner import RunOptions, Session
from probe.targets import Target


@dataclass(slots=True)
class Job:
    """One scenario for one target: where to connect, in the order a sending MTA would try."""

    bound: BoundScenario
    plan: TargetPlan
    candidates: list[Candidate]  # tried in turn until one accepts a connection; [] = no probe

    @property
    def target(self) -> Target:
        return self.plan.target


@dataclass(slots=True)
class Plan:
    """Everything bound before the first byte is sent (so bad input costs nothing)."""

    jobs: list[Job] = field(default_factory=list)

    @property
    def secrets(self) -> set[str]:
        return {s for job in self.jobs for s in job.bound.secrets}


def make_plan(
    scenarios: list[Scenario],
    plans: list[TargetPlan],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    all_mx: bool = False,
) -> Plan:
    """Bind each scenario for each resolved target; raise one ScenarioError listing every
    problem."""
    plan = Plan()
    problems: list[ScenarioProblem] = []
    declared = {name for scenario in scenarios for name in scenario.variables}
    unknown = sorted(set(overrides) - declared)
    if unknown and len(scenarios) > 1:
        # With several scenarios a --var need only be declared by one of them.
        listing = ", ".join(sorted(declared)) or "none"
        raise ScenarioError(
            [ScenarioProblem("--var", f"no scenario declares {', '.join(unknown)} ({listing})")]
        )
    for target_plan in plans:
        groups = target_plan.candidates(all_mx) or [[]]
        for scenario in scenarios:
            values = {k: v for k, v in overrides.items() if k in scenario.variables}
            if len(scenarios) == 1:
                values = dict(overrides)
            # The mail domain of a NAME target is the domain the scenario is about.
            if "domain" in scenario.variables and "domain" not in values and target_plan.domain:
                values["domain"] = target_plan.domain
            try:
                bound = bind(scenario, values, environ)
            except ScenarioError as exc:
                problems += [p for p in exc.problems if p not in problems]
                continue
            plan.jobs += [Job(bound, target_plan, group) for group in groups]
    if problems:
        raise ScenarioError(problems)
    return plan


async def execute(plan: Plan, options: RunOptions, concurrency: int = 8) -> RunResult:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    table = load_table()
    limit = asyncio.Semaphore(max(1, concurrency))
    results: list[ServerResult | None] = [None] * len(plan.jobs)

    async def one(index: int, job: Job) -> None:
        async with limit:
            if not job.candidates:
                results[index] = _unprobed(job)
                return
            refused: list[str] = []
            for number, candidate in enumerate(job.candidates, 1):
                session = Session(
                    job.bound, candidate.address, candidate.port, options, table, candidate.host
                )
                try:
                    result = await session.play(job.target.text)
                except asyncio.CancelledError:
                    results[index] = _interrupted(job, session.results, candidate)
                    raise
                result.details.update(plan_details(job.plan, candidate))
                if refused:
                    result.details["fallback"] = list(refused)
                results[index] = result
                # As a sending MTA does: on a connect failure, try the next address (§5.1).
                if result.address is not None:
                    return
                first = result.steps[0] if result.steps else None
                refused.append(first.reason if first and first.reason else result.reason)
                if number == len(job.candidates) and number > 1:
                    result.reason = (
                        f"none of the {number} addresses accepted a connection: "
                        + "; ".join(refused)
                    )
                    result.details.pop("fallback", None)
                    return

    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    interrupted = False

    def stop() -> None:
        nonlocal interrupted
        interrupted = True
        if main is not None:
            main.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    tasks = [asyncio.ensure_future(one(i, job)) for i, job in enumerate(plan.jobs)]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        interrupted = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    final: list[ServerResult] = []
    for index, job in enumerate(plan.jobs):
        final.append(results[index] or _interrupted(job, []))
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
    return ServerResult(
        scenario=job.bound.scenario.name,
        scenario_path=job.bound.scenario.path,
        target=plan.target.text,
        address=None,
        verdict=verdict,
        steps=[
            StepResult(s.label, s.kind.value, str(s.position), Verdict.SKIP, reason=plan.reason)
            for s in job.bound.steps
        ],
        reason=plan.reason,
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
