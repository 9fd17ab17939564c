"""JUnit XML (`run --junit FILE`), as GitHub, GitLab and Jenkins read it.

A testsuite per result (one scenario against one server), a testcase per step named
`SCENARIO › STEP` (what a CI page lists), `classname` the suite's name (`SCENARIO -> TARGET`).
A failed step carries a <failure>, a step that could not be judged an <error>, each with the
step's headline as `message` and the exchange in its text (sent, received, expected, the rule and
its source); a skipped step is <skipped> with its reason; warnings and notes go to the testcase's
<system-out>. The shape follows the Jenkins xunit schema (junit-10.xsd), which pytest's own
`junit_family=xunit2` output follows too: no attribute or element outside it.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET

from probe.report.redact import Redactor
from probe.report.text import step_transcript
from probe.results import RunResult, ServerResult, StepResult, Verdict

# Characters XML 1.0 cannot carry at all, even escaped (C0 controls but tab, CR, LF; lone
# surrogates; U+FFFE/U+FFFF). Server text is already escaped for display; this is the last guard.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot hold written as \\xHH (or \\uHHHH)."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(escape, text)


def suite_name(result: ServerResult) -> str:
    return f"{result.scenario} -> {result.target}"


def case_name(result: ServerResult, step: StepResult) -> str:
    """`basic › rcpt <postmaster@example.test>`: the scenario and the step, as a CI page lists
    them (the pytest plugin names its steps the same way)."""
    return f"{result.scenario} › {step.label}"


def render(run: RunResult, redact: Redactor) -> str:
    root = ET.Element("testsuites", name="smtp-probe")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for number, result in enumerate(run.results):
        suite = _suite(result, number, redact)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", _seconds(run.duration))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _suite(result: ServerResult, number: int, redact: Redactor) -> ET.Element:
    steps = result.steps
    failures = sum(s.verdict is Verdict.FAIL for s in steps)
    errors = sum(s.verdict is Verdict.ERROR for s in steps)
    skipped = sum(s.verdict is Verdict.SKIP for s in steps)
    suite = ET.Element(
        "testsuite",
        name=xml_text(suite_name(result)),
        tests=str(len(steps)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=_seconds(result.duration),
        id=str(number),
        hostname=socket.gethostname() or "localhost",
    )
    if result.started_at:
        suite.set("timestamp", result.started_at.replace("+00:00", ""))
    properties = ET.SubElement(suite, "properties")
    facts = {
        "scenario": result.scenario,
        "scenario_path": result.scenario_path,
        "target": result.target,
        "address": result.address or "",
        "verdict": str(result.verdict),
        "reason": redact(result.reason),
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", name=name, value=xml_text(value))
    for step in steps:
        suite.append(_case(result, step, redact))
    notes = [f"warn: {w}" for w in _as_list(result.details.get("warnings"))]
    if result.reason:
        notes.insert(0, f"{result.verdict}: {redact(result.reason)}")
    if notes:
        ET.SubElement(suite, "system-out").text = xml_text("\n".join(notes) + "\n")
    return suite


def _case(result: ServerResult, step: StepResult, redact: Redactor) -> ET.Element:
    case = ET.Element(
        "testcase",
        name=xml_text(case_name(result, step)),
        classname=xml_text(suite_name(result)),
        time=_seconds(sum(e.elapsed for e in step.exchanges)),
    )
    transcript = step_transcript(step, redact)
    where = [f"at {step.position}"] if step.position else []
    text = xml_text("\n".join([*where, *transcript]) + "\n")
    headline = xml_text(redact(step.reason))
    if step.verdict is Verdict.SKIP:
        ET.SubElement(case, "skipped", message=headline)
    elif step.verdict is Verdict.FAIL:
        ET.SubElement(case, "failure", message=headline, type="fail").text = text
    elif step.verdict is Verdict.ERROR:
        ET.SubElement(case, "error", message=headline, type="error").text = text
    elif any(f.verdict is not Verdict.PASS for f in step.findings):
        # Passed, with warnings or notes: visible in the CI page's output of the case.
        ET.SubElement(case, "system-out").text = text
    return case


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []
