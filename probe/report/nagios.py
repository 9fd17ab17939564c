"""`run --format nagios`: the monitoring-plugin convention (Nagios, Icinga, Naemon, Checkmk).

One status line, `SMTP-PROBE STATE - what | perfdata`, then a line per result (the plugin's
long output). The state is the exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Perfdata, as
check_smtp writes it: `time=0.042s;WARN;CRIT;0` for the session and one entry per phase that
happened (`greeting`, `ehlo`, `mail`, ...: the slowest exchange of each), in seconds, with the
thresholds of --warn-ms/--crit-ms. With several results each label is quoted and names its result
(`'basic@mx.example.org greeting'=...`).
"""

from __future__ import annotations

from probe.report.redact import Redactor
from probe.results import RunResult, ServerResult, Verdict
from probe.thresholds import SESSION, Thresholds, timings

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
# Worst first when results disagree, as the monitoring plugins' max_state() ranks them.
_RANK = (CRITICAL, WARNING, UNKNOWN, OK)
PREFIX = "SMTP-PROBE"


def result_state(result: ServerResult) -> int:
    """fail, error (refused, timed out, DNS) and no-service (a 554 greeting): CRITICAL, the
    server does not do its job; warnings: WARNING; no-mail (a null MX: nothing to check):
    UNKNOWN; a clean pass: OK."""
    if result.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.NO_SERVICE):
        return CRITICAL
    if result.verdict is Verdict.NO_MAIL:
        return UNKNOWN
    return WARNING if _warned(result) else OK


def state(run: RunResult) -> int:
    found = {result_state(r) for r in run.results}
    if run.interrupted or not run.results:
        found.add(UNKNOWN)
    return next(s for s in _RANK if s in found)


def _warned(result: ServerResult) -> bool:
    return bool(result.details.get("warnings")) or any(
        s.verdict is Verdict.WARN for s in result.steps
    )


def render(run: RunResult, redact: Redactor, limits: Thresholds | None = None) -> str:
    limits = limits or Thresholds()
    code = state(run)
    several = len(run.results) > 1
    if several:
        tally = ", ".join(
            f"{sum(r.verdict is v for r in run.results)} {v}"
            for v in Verdict
            if any(r.verdict is v for r in run.results)
        )
        summary = f"{len(run.results)} results: {tally}"
        worst = next((r for r in run.results if result_state(r) == code), None)
        if worst is not None and code != OK:
            summary += f"; {_title(worst)}: {_why(worst, redact)}"
    elif run.results:
        summary = _line(run.results[0], redact, titled=False)
    else:
        summary = "nothing was probed"
    if run.interrupted:
        summary += " (interrupted)"
    perf = " ".join(_perfdata(r, limits, several) for r in run.results).strip()
    first = f"{PREFIX} {STATES[code]} - {_clean(summary)}" + (f" | {perf}" if perf else "")
    long = [_clean(f"{r.verdict.upper()} {_line(r, redact, titled=True)}") for r in run.results]
    return "\n".join([first, *long]) + "\n"


def _title(result: ServerResult) -> str:
    return f"{result.scenario} -> {result.target}"


def _line(result: ServerResult, redact: Redactor, titled: bool) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in result.counts().items() if n)
    head = _title(result) if titled else result.scenario
    text = f"{head}: {counts}, {result.duration * 1000:.0f} ms"
    why = _why(result, redact)
    return f"{text} ({why})" if why else text


def _why(result: ServerResult, redact: Redactor) -> str:
    if result.reason:
        return redact(result.reason)
    warned = next((s for s in result.steps if s.verdict is Verdict.WARN), None)
    if warned is not None:
        return redact(f"{warned.label}: {warned.reason}")
    warnings = result.details.get("warnings")
    return str(warnings[0]) if isinstance(warnings, list) and warnings else ""


def _clean(text: str) -> str:
    """One line, without the `|` that starts perfdata."""
    return " ".join(text.replace("|", "/").split())


def _perfdata(result: ServerResult, limits: Thresholds, several: bool) -> str:
    out = []
    for phase, ms in timings(result).items():
        name = "time" if phase == SESSION else phase
        label = _label(f"{result.scenario}@{result.target} {name}") if several else name
        warn, crit = limits.warn.get(phase), limits.crit.get(phase)
        out.append(f"{label}={ms / 1000:.6f}s;{_seconds(warn)};{_seconds(crit)};0")
    return " ".join(out)


def _label(text: str) -> str:
    """A quoted perfdata label: no quote or equals sign inside."""
    return "'" + text.replace("'", "_").replace("=", "_") + "'"


def _seconds(ms: float | None) -> str:
    return "" if ms is None else f"{ms / 1000:g}"
