"""The readable report: per server its verdict and counts, then every step that did not pass."""

from __future__ import annotations

from probe.inputfile import shown
from probe.report.redact import Redactor
from probe.report.wire import sent_text
from probe.results import Exchange, RunResult, ServerResult, StepResult, Verdict

_MARK = {
    Verdict.PASS: "PASS",
    Verdict.WARN: "WARN",
    Verdict.FAIL: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIP: "SKIP",
    Verdict.NO_MAIL: "NO-MAIL",
    Verdict.NO_SERVICE: "NO-SERVICE",
}


_TALLY = (
    (Verdict.PASS, "passed"),
    (Verdict.FAIL, "failed"),
    (Verdict.ERROR, "error"),
    (Verdict.NO_MAIL, "no-mail"),
    (Verdict.NO_SERVICE, "no-service"),
)


def render(run: RunResult, redact: Redactor, verbose: bool = False) -> str:
    out: list[str] = []
    for result in run.results:
        out += _server(result, redact, verbose)
        out.append("")
    tally = ", ".join(
        f"{sum(r.verdict is v for r in run.results)} {label}"
        for v, label in _TALLY
        if v in (Verdict.PASS, Verdict.FAIL) or any(r.verdict is v for r in run.results)
    )
    out.append(
        f"{len(run.results)} server result(s): {tally}"
        + (" (interrupted)" if run.interrupted else "")
        + f"; profile {run.profile}{', strict' if run.strict else ''}"
    )
    # One line each, whatever the scenario (a name, a label, a pattern) or the server put in them.
    return "\n".join(shown(line) for line in out) + "\n"


def _server(result: ServerResult, redact: Redactor, verbose: bool) -> list[str]:
    counts = result.counts()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines = [
        f"{_MARK[result.verdict]}  {result.scenario} -> {result.target}{_where(result)}"
        f"  [{summary}]  {result.duration * 1000:.0f} ms"
    ]
    if result.reason:
        lines.append(f"      {redact(result.reason)}")
    for warning in _as_list(result.details.get("warnings")):
        lines.append(f"      warn: {warning}")
    for attempt in _as_list(result.details.get("fallback")):
        lines.append(f"      fell back after: {attempt}")
    skipped: list[StepResult] = []
    for step in [*result.steps, None]:
        if (
            step is not None
            and step.verdict is Verdict.SKIP
            and (not skipped or skipped[0].reason == step.reason)
        ):
            skipped.append(step)
            continue
        if skipped:
            lines += _skipped(skipped)
            skipped = [step] if step is not None and step.verdict is Verdict.SKIP else []
            if skipped:
                continue
        if step is not None and (verbose or step.verdict is not Verdict.PASS or _notes(step)):
            lines += _step(step, redact)
    return lines


def _where(result: ServerResult) -> str:
    """Where the session went: the address, and the MX host it belongs to."""
    details = result.details
    parts = []
    if result.address and result.address != result.target:
        parts.append(result.address)
    if details.get("mx_host"):
        parts.append(f"MX {details.get('preference')} {details['mx_host']}")
    return f" ({', '.join(parts)})" if parts else ""


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _skipped(steps: list[StepResult]) -> list[str]:
    if len(steps) == 1:
        return _step(steps[0], Redactor(()))
    names = f"{steps[0].label} ... {steps[-1].label}"
    return [f"  {'SKIP':5} {len(steps)} steps ({names})", f"        skipped: {steps[0].reason}"]


def _notes(step: StepResult) -> bool:
    return any(f.verdict is not Verdict.PASS for f in step.findings)


def _step(step: StepResult, redact: Redactor) -> list[str]:
    where = f"  ({step.position})" if step.position else ""
    lines = [f"  {_MARK[step.verdict]:5} {step.label}{where}"]
    if step.verdict is Verdict.SKIP:
        lines.append(f"        skipped: {step.reason}")
        return lines
    for exchange in step.exchanges:
        lines += _exchange(exchange, redact)
    errors = {e.error for e in step.exchanges}
    for finding in step.findings:
        if finding.verdict is Verdict.PASS and not finding.message.startswith("expected"):
            continue
        if finding.verdict is Verdict.ERROR and finding.message in errors:
            continue  # already shown on its exchange
        lines.append(f"        {finding.verdict}: {redact(finding.message)}")
        if finding.expected and finding.expected not in finding.message:
            lines.append(f"          expected: {finding.expected}")
        if finding.source:
            lines.append(f"          source: {finding.source}")
    shown = {f.source for f in step.findings}
    if step.why and step.verdict is not Verdict.PASS and step.why not in shown:
        lines.append(f"        why: {step.why}")
    return lines


def _exchange(exchange: Exchange, redact: Redactor) -> list[str]:
    lines: list[str] = []
    if exchange.sent:
        lines.append(f"        C: {redact(sent_text(exchange))}"[:300])
    if exchange.reply is not None:
        display = exchange.reply.display_lines
        unasked = "  (unsolicited)" if exchange.command == "UNSOLICITED" else ""
        for number, line in enumerate(display[:8]):
            lines.append(f"        S: {redact(line)}"[:300] + (unasked if number == 0 else ""))
        if len(display) > 8:
            lines.append(f"        S: ... ({len(display) - 8} more lines)")
    if exchange.error:
        lines.append(f"        !  {exchange.error}")
    return lines
