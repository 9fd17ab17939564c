"""TAP version 14 (`run --format tap`), as Hurl and Venom offer it, for TAP consumers (prove,
tap-parser, CI plugins).

One test point per result (a scenario against a server), each a subtest holding a test point per
step: a passed step `ok`, a warned one `ok` with its findings in a YAML diagnostic block, a
failed one or one that could not be judged (error) `not ok` with the exchange, what was expected
and the source, a skipped one `ok ... # SKIP reason`. A result that could not be probed for want
of mail service (null MX, a 554 greeting) is skipped. Descriptions escape `#` and `\\` as TAP 14
asks; YAML blocks are written by a YAML library, never by hand.
"""

from __future__ import annotations

from typing import Any

import yaml

from probe.report.redact import Redactor
from probe.report.text import step_transcript
from probe.results import RunResult, ServerResult, StepResult, Verdict


def description(text: str) -> str:
    """A test point's description: one line, `\\` and `#` escaped (TAP 14)."""
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("#", "\\#")


def _reason(text: str) -> str:
    """A directive's reason: one line (the directive ends the line, nothing to escape)."""
    return " ".join(text.split())


def render(run: RunResult, redact: Redactor) -> str:
    out = ["TAP version 14", f"1..{len(run.results)}"]
    for number, result in enumerate(run.results, 1):
        out += _result(number, result, redact)
    if run.interrupted:
        out.append("# the run was interrupted: steps not played are skipped")
    return "\n".join(out) + "\n"


def _result(number: int, result: ServerResult, redact: Redactor) -> list[str]:
    name = description(f"{result.scenario} -> {result.target}")
    out = [f"# Subtest: {name}"]
    child = [f"1..{len(result.steps)}"]
    for index, step in enumerate(result.steps, 1):
        child += _step(index, step, redact)
    out += [f"    {line}" for line in child]
    verdict = result.verdict
    if verdict in (Verdict.NO_MAIL, Verdict.NO_SERVICE):
        out.append(f"ok {number} - {name} # SKIP {verdict}: {_reason(redact(result.reason))}")
        return out
    ok = verdict not in (Verdict.FAIL, Verdict.ERROR)
    out.append(f"{'ok' if ok else 'not ok'} {number} - {name}")
    facts: dict[str, Any] = {"verdict": str(verdict), "address": result.address or ""}
    if result.reason:
        facts["message"] = redact(result.reason)
    facts["duration_ms"] = round(result.duration * 1000, 1)
    out += _yaml(facts, "  ")
    return out


def _step(index: int, step: StepResult, redact: Redactor) -> list[str]:
    name = description(step.label)
    if step.verdict is Verdict.SKIP:
        return [f"ok {index} - {name} # SKIP {_reason(redact(step.reason))}"]
    ok = step.verdict not in (Verdict.FAIL, Verdict.ERROR)
    line = f"{'ok' if ok else 'not ok'} {index} - {name}"
    if step.verdict is Verdict.PASS and not _notes(step):
        return [line]
    diagnostics: dict[str, Any] = {"verdict": str(step.verdict)}
    if step.reason:
        diagnostics["message"] = redact(step.reason)
    severity = {Verdict.FAIL: "fail", Verdict.ERROR: "error", Verdict.WARN: "warn"}
    if step.verdict in severity:
        diagnostics["severity"] = severity[step.verdict]
    if step.position:
        diagnostics["at"] = step.position
    diagnostics["transcript"] = "\n".join(step_transcript(step, redact)) + "\n"
    return [line, *_yaml(diagnostics, "  ")]


def _notes(step: StepResult) -> bool:
    return any(f.verdict is not Verdict.PASS for f in step.findings)


class _Dumper(yaml.SafeDumper):
    """Multi-line text (a transcript) as a literal block, readable in a console."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def _yaml(data: dict[str, Any], indent: str) -> list[str]:
    """A YAML diagnostic block: `---`, the mapping, `...`, indented under its test point."""
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1000,
    )
    return [f"{indent}---", *(f"{indent}{line}" for line in body.splitlines()), f"{indent}..."]
