"""Response-time thresholds, as check_smtp has them (`run --warn-ms`, `--crit-ms`).

`--warn-ms MS` and `--crit-ms MS` judge the whole session; `--warn-ms PHASE=MS` one phase: the
greeting (connecting and waiting for the 220) or a command's reply (`ehlo`, `mail`, `rcpt`,
`data`, `data-end` for the reply after the final dot, ...), each exchange of it. Over the warning
threshold is a warn finding, over the critical one a fail, each naming the figure and the
threshold; a phase's finding goes on the step whose exchange was slow, the session's on a step of
its own, "session time", added after the others. The timings are the report's: `duration_ms` of
the result, `elapsed_ms` of each exchange.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.asserter import step_verdict
from probe.record import field, record
from probe.results import (
    Exchange,
    Finding,
    RunResult,
    ServerResult,
    StepResult,
    Verdict,
    headline,
)

SESSION = "session"
GREETING = "greeting"
# The phases a threshold can name, in the order perfdata lists them.
PHASES = (
    SESSION,
    GREETING,
    "ehlo",
    "helo",
    "starttls",
    "auth",
    "mail",
    "rcpt",
    "data",
    "data-end",
    "bdat",
    "rset",
    "vrfy",
    "expn",
    "help",
    "noop",
    "quit",
)
SESSION_STEP = "session time"


class ThresholdError(ValueError):
    """A --warn-ms/--crit-ms value that cannot be read; the message says which and why."""


@record
class Thresholds:
    """Milliseconds per phase; a phase missing has no threshold."""

    warn: dict[str, float] = field(default_factory=dict)
    crit: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, warn: Sequence[str], crit: Sequence[str]) -> Thresholds:
        out = cls(_parse(warn, "--warn-ms"), _parse(crit, "--crit-ms"))
        for phase, limit in out.crit.items():
            if phase in out.warn and out.warn[phase] > limit:
                raise ThresholdError(
                    f"--warn-ms {_spelled(phase, out.warn[phase])} is above --crit-ms "
                    f"{_spelled(phase, limit)}: the warning threshold must be the lower"
                )
        return out

    def __bool__(self) -> bool:
        return bool(self.warn or self.crit)

    def option(self, level: str, phase: str) -> str:
        limits = self.crit if level == "crit" else self.warn
        return f"--{level}-ms {_spelled(phase, limits[phase])}"


def _spelled(phase: str, limit: float) -> str:
    figure = f"{limit:g}"
    return figure if phase == SESSION else f"{phase}={figure}"


def _parse(values: Sequence[str], option: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        phase, sep, number = value.rpartition("=")
        phase = phase.strip().lower() if sep else SESSION
        if phase not in PHASES:
            import difflib  # only for a misspelt phase

            close = difflib.get_close_matches(phase, PHASES, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (phases: {', '.join(PHASES)})"
            raise ThresholdError(f"{option} {value!r}: unknown phase {phase!r}{hint}")
        try:
            limit = float(number)
        except ValueError:
            raise ThresholdError(
                f"{option} {value!r}: expected [PHASE=]MILLISECONDS, e.g. 2000 or greeting=500"
            ) from None
        if not 0 < limit <= 86_400_000:
            raise ThresholdError(f"{option} {value!r}: must be a positive number of milliseconds")
        out[phase] = limit
    return out


def phase_of(exchange: Exchange) -> str | None:
    """The phase an exchange's time counts for: the greeting, or the command's name."""
    if exchange.command == "CONNECT":
        return GREETING if exchange.reply is not None else None
    name = exchange.command.lower()
    return name if name in PHASES and exchange.reply is not None else None


def timings(result: ServerResult) -> dict[str, float]:
    """Milliseconds per phase of one result: the session, then the slowest exchange of each
    phase that happened, in PHASES order. Empty when nothing was connected to."""
    if result.address is None:
        return {}
    slowest: dict[str, float] = {}
    for step in result.steps:
        for exchange in step.exchanges:
            phase = phase_of(exchange)
            if phase is not None:
                slowest[phase] = max(slowest.get(phase, 0.0), exchange.elapsed * 1000)
    found = {SESSION: result.duration * 1000, **slowest}
    return {phase: found[phase] for phase in PHASES if phase in found}


def apply(run: RunResult, limits: Thresholds) -> None:
    """Judge every result's timings against the thresholds: findings on the slow steps (and on
    a "session time" step), verdicts updated as a session's own findings would update them."""
    if not limits:
        return
    for result in run.results:
        if result.address is not None:
            _judge(result, limits, run.strict)


def _judge(result: ServerResult, limits: Thresholds, strict: bool) -> None:
    for step in result.steps:
        for exchange in step.exchanges:
            phase = phase_of(exchange)
            if phase is None:
                continue
            finding = _over(limits, phase, exchange.elapsed * 1000, _what(phase))
            if finding is not None:
                _add(step, finding, strict)
    if SESSION in limits.warn or SESSION in limits.crit:
        session = StepResult(SESSION_STEP, "threshold", "", Verdict.PASS)
        finding = _over(limits, SESSION, result.duration * 1000, "the session")
        session.findings.append(finding or Finding(Verdict.PASS, "within the thresholds"))
        _add(session, None, strict)
        result.steps.append(session)
    _rejudge(result)


def _what(phase: str) -> str:
    return "the greeting" if phase == GREETING else f"the reply to {phase.upper()}"


def _over(limits: Thresholds, phase: str, ms: float, what: str) -> Finding | None:
    for level, verdict, limits_of in (
        ("crit", Verdict.FAIL, limits.crit),
        ("warn", Verdict.WARN, limits.warn),
    ):
        limit = limits_of.get(phase)
        if limit is not None and ms > limit:
            word = "critical" if level == "crit" else "warning"
            return Finding(
                verdict,
                f"{what} took {ms:.0f} ms, over the {word} threshold of {limit:g} ms",
                source=limits.option(level, phase),
                expected=f"at most {limit:g} ms",
                topic="time",
            )
    return None


def _add(step: StepResult, finding: Finding | None, strict: bool) -> None:
    if finding is not None:
        step.findings.append(finding)
    if step.verdict is Verdict.SKIP:
        return
    step.verdict = step_verdict(step.findings, strict)
    top = headline(step.findings, strict)
    if top is not None and step.verdict in (Verdict.FAIL, Verdict.WARN):
        step.reason = top.message


def _rejudge(result: ServerResult) -> None:
    """A step that now fails makes the server's verdict a fail, as in the session itself."""
    if result.verdict is Verdict.FAIL:
        return
    failed = next((s for s in result.steps if s.verdict is Verdict.FAIL), None)
    if failed is not None:
        result.verdict = Verdict.FAIL
        result.reason = f"{failed.label}: {failed.reason}"
