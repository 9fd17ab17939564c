"""`run --dry-run`: the steps each session would play, with variables bound, and nothing sent."""

from __future__ import annotations

from collections.abc import Callable

from probe.protocol.reply import printable
from probe.scenario.model import Step, StepKind
from probe.session.commands import Line, auth_lines, command_for, message_for
from probe.session.orchestrate import Job, Plan


def render(plan: Plan, redact: Callable[[str], str]) -> str:
    lines: list[str] = []
    for job in plan.jobs:
        where = ", ".join(c.hostport for c in job.candidates) or "nowhere (nothing to probe)"
        given = " ".join(f"{k}={v}" for k, v in job.target_vars.items())
        target = redact(f"{job.target.text} ({given})") if given else job.target.text
        lines.append(f"{job.bound.scenario.name} -> {target}: would connect to {where}")
        lines += _steps(job, redact)
    return "\n".join(lines) + "\n" if lines else ""


def _steps(job: Job, redact: Callable[[str], str]) -> list[str]:
    out: list[str] = []
    steps = job.bound.steps
    if not steps or steps[0].kind is not StepKind.CONNECT:
        out.append("  (connect)              judge the greeting")
    for number, step in enumerate(steps, 1):
        notes = _notes(step)
        out.append(f"  {number:>2}. {step.label}" + (f"   [{notes}]" if notes else ""))
        out += [f"        C: {redact(text)}" for text in _sent(step)]
    return out


def _notes(step: Step) -> str:
    notes = []
    if step.expect is not None:
        notes.append(f"expect {step.expect.describe()} ({step.expect.level})")
    if step.expect_end is not None:
        notes.append(f"after the data: {step.expect_end.describe()} ({step.expect_end.level})")
    if step.requires:
        notes.append(f"only if EHLO offers {' '.join(step.requires)}")
    if step.settle is not None:
        notes.append(f"settle {step.settle:g} s")
    if step.when is not None:
        notes.append(f"only when {step.when.describe()}")
    notes += [f"saves {save.describe()}" for save in step.save]
    if step.template is not None:
        notes.append("bound again with the saved values when it plays")
    return "; ".join(notes)


def _shown(line: Line) -> str:
    data = line.shown[:-2] if line.shown.endswith(b"\r\n") else line.shown
    return printable(data)


def _sent(step: Step) -> list[str]:
    """What the step would send, as reports show it (secrets masked)."""
    kind = step.kind
    if kind is StepKind.CONNECT:
        return []
    if kind is StepKind.AUTH and step.mechanism in ("PLAIN", "LOGIN", None):
        return [_shown(line) for line in auth_lines(step)]
    if kind is StepKind.AUTH:  # the rest answers the server's challenges: only the first line
        from probe.session.sasl import SaslClient

        first = SaslClient(step.mechanism or "", step.username or "", step.password or "").first()
        return [_shown(first)]
    if kind is StepKind.PIPELINE:
        return [text for member in step.steps for text in _sent(member)]
    if kind is StepKind.DATA and step.file is not None and not step.expand:
        return ["DATA", f"<message from {step.file}, streamed, after a 354>"]
    if kind is StepKind.DATA and step.oversize:
        return ["DATA", "<message data padded past the server's SIZE, after a 354>"]
    if kind is StepKind.DATA:
        return ["DATA", f"<message data, {len(message_for(step))} bytes, after a 354>"]
    if kind is StepKind.STARTTLS:
        return ["STARTTLS", "<TLS handshake, after a 220>"]
    if kind is StepKind.BDAT:
        from probe.session.commands import ChunkError, bdat_chunks, bdat_line, bdat_message

        try:
            chunks = bdat_chunks(step, bdat_message(step))
        except ChunkError as exc:
            return [f"<nothing: {exc}>"]
        return [printable(bdat_line(chunk, last)[:-2]) for chunk, last in chunks]
    return [_shown(command_for(step))]
