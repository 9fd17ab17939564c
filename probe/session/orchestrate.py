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
from probe.results import RunResult, ServerResult, StepResult, Verdict
from probe.scenario import Scenario, ScenarioError, ScenarioProblem, bind
from probe.scenario.model import BoundScenario
from probe.session.runner import RunOptions, Session
from probe.targets import Target


@dataclass(slots=True)
class Plan:
    """Everything bound before the first byte is sent (so bad input costs nothing)."""

    jobs: list[tuple[BoundScenario, Target]] = field(default_factory=list)

    @property
    def secrets(self) -> set[str]:
        return {s for bound, _ in self.jobs for s in bound.secrets}


def make_plan(
    scenarios: list[Scenario],
    targets: list[Target],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
) -> Plan:
    """Bind each scenario for each target; raise one ScenarioError listing every problem."""
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
    for target in targets:
        for scenario in scenarios:
            values = {k: v for k, v in overrides.items() if k in scenario.variables}
            if len(scenarios) == 1:
                values = dict(overrides)
            # A mail domain target names the domain the scenario is about (issue: `domain`).
            if "domain" in scenario.variables and "domain" not in values:
                domain = target.details.get("domain") or (
                    None if target.is_address else target.host
                )
                if domain:
                    values["domain"] = str(domain)
            try:
                plan.jobs.append((bind(scenario, values, environ), target))
            except ScenarioError as exc:
                for problem in exc.problems:
                    if problem not in problems:
                        problems.append(problem)
    if problems:
        raise ScenarioError(problems)
    return plan


async def execute(plan: Plan, options: RunOptions, concurrency: int = 8) -> RunResult:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    table = load_table()
    limit = asyncio.Semaphore(max(1, concurrency))
    results: list[ServerResult | None] = [None] * len(plan.jobs)

    async def one(index: int, bound: BoundScenario, target: Target) -> None:
        async with limit:
            session = Session(bound, target.host, target.port, options, table)
            try:
                results[index] = await session.play(target.text)
            except asyncio.CancelledError:
                results[index] = _interrupted(bound, target, session.results)
                raise
            results[index].details.update(target.details)

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
    tasks = [asyncio.ensure_future(one(i, b, t)) for i, (b, t) in enumerate(plan.jobs)]
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
    for index, (bound, target) in enumerate(plan.jobs):
        final.append(results[index] or _interrupted(bound, target, []))
    return RunResult(
        results=final,
        profile=options.profile,
        strict=options.strict,
        started_at=started_at,
        duration=time.monotonic() - t0,
        interrupted=interrupted,
    )


def _interrupted(bound: BoundScenario, target: Target, done: list[StepResult]) -> ServerResult:
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
        target=target.text,
        address=None,
        verdict=verdict,
        steps=steps,
        reason="run interrupted before this session finished",
        details=dict(target.details),
    )
