"""Markdown (`run --format markdown`, `run --summary FILE`), for GitHub's job summary
($GITHUB_STEP_SUMMARY), merge-request notes and wikis: a line of totals, a table of results, then
per result a table of its steps and a collapsed details block for each step that did not pass
(the exchange, the findings with what was expected and their sources).

Server text is data, not markup: table cells escape what GitHub-flavoured Markdown would read
(pipes, emphasis, links, raw HTML); transcripts go in fenced blocks whose fence is longer than
any run of backticks inside them."""

from __future__ import annotations

import html
import re

from probe.report.redact import Redactor
from probe.report.text import step_transcript
from probe.results import RunResult, ServerResult, StepResult, Verdict

_MARK = {
    Verdict.PASS: "✅ pass",
    Verdict.WARN: "⚠️ warn",
    Verdict.FAIL: "❌ fail",
    Verdict.ERROR: "💥 error",
    Verdict.SKIP: "⏭️ skip",
    Verdict.NO_MAIL: "🚫 no-mail",
    Verdict.NO_SERVICE: "🚫 no-service",
}

# ASCII punctuation that inline Markdown gives a meaning to (a backslash makes it literal): code,
# emphasis, links and images, the cell separator, strikethrough; & < > become entities, so that no
# server text is read as HTML. A URL is kept from becoming a link (GitHub's autolinks take
# `scheme://` and `www.`, and would swallow an escape after them); an address may still become a
# mailto: link, showing the same text.
_INLINE = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_AUTOLINK = re.compile(r"(?i)(?<=\w)(:)(?=//)|(?<=\bwww)(\.)")


def cell(text: str) -> str:
    """`text` as the literal content of one table cell, on one line."""
    text = " ".join(text.split())
    text = html.escape(text, quote=False)
    text = _INLINE.sub(r"\\\1", text)
    return _AUTOLINK.sub(lambda m: "\\" + m.group(), text)


def render(run: RunResult, redact: Redactor) -> str:
    out = [f"## smtp-probe: {_totals(run)}", ""]
    out += ["| verdict | scenario | server | steps | time |", "|---|---|---|---|---:|"]
    for result in run.results:
        out.append(
            f"| {_MARK[result.verdict]} | {cell(result.scenario)} | {cell(_server(result))} "
            f"| {cell(_counts(result))} | {result.duration * 1000:.0f} ms |"
        )
    out.append("")
    for result in run.results:
        out += _result(result, redact)
    return "\n".join(out) + "\n"


def _totals(run: RunResult) -> str:
    parts = []
    for verdict in Verdict:
        count = sum(r.verdict is verdict for r in run.results)
        if count:
            parts.append(f"{count} {verdict}")
    profile = f"profile {run.profile}{', strict' if run.strict else ''}"
    interrupted = ", interrupted" if run.interrupted else ""
    return f"{', '.join(parts) or 'no results'} ({profile}{interrupted})"


def _server(result: ServerResult) -> str:
    if result.address and result.address != result.target:
        return f"{result.target} ({result.address})"
    return result.target


def _counts(result: ServerResult) -> str:
    return ", ".join(f"{n} {v}" for v, n in result.counts().items() if n)


def _result(result: ServerResult, redact: Redactor) -> list[str]:
    title = f"{result.scenario} -> {_server(result)}"
    out = [f"### {_MARK[result.verdict]}: {cell(title)}", ""]
    if result.reason:
        out += [cell(redact(result.reason)), ""]
    out += ["| # | step | verdict | reply | ms |", "|---:|---|---|---|---:|"]
    for number, step in enumerate(result.steps, 1):
        out.append(
            f"| {number} | {cell(step.label)} | {_MARK[step.verdict]} "
            f"| {cell(redact(_reply(step)))} | {_ms(step)} |"
        )
    out.append("")
    for step in result.steps:
        if step.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.WARN):
            out += _details(step, redact)
    return out


def _reply(step: StepResult) -> str:
    """The step's last reply, its first line; or why it was skipped."""
    if step.verdict is Verdict.SKIP:
        return step.reason
    replies = [e.reply for e in step.exchanges if e.reply is not None]
    if not replies:
        errors = [e.error for e in step.exchanges if e.error]
        return errors[-1] if errors else ""
    lines = replies[-1].display_lines
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return (lines[0] if lines else "") + more


def _ms(step: StepResult) -> str:
    if not step.exchanges:
        return ""
    return f"{sum(e.elapsed for e in step.exchanges) * 1000:.0f}"


def _details(step: StepResult, redact: Redactor) -> list[str]:
    headline = f"{_MARK[step.verdict]}: {step.label}: {redact(step.reason)}"
    body = step_transcript(step, redact)
    if step.position:
        body.insert(0, f"at {step.position}")
    text = "\n".join(body)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [
        "<details>",
        f"<summary>{html.escape(' '.join(headline.split()))}</summary>",
        "",
        f"{fence}text",
        text,
        fence,
        "",
        "</details>",
        "",
    ]
