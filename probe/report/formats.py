"""The stdout formats of `run --format`, by name. Each renders a finished run; another format is
one more entry in RENDERERS (and its name in FORMATS). Files written beside stdout (--junit,
--html, --summary) are the CLI's business; a format that streams results as sessions end hooks
into the run instead of rendering it here."""

from __future__ import annotations

from collections.abc import Callable

from probe.report.redact import Redactor
from probe.results import RunResult

FORMATS = ("text", "json", "markdown")

Renderer = Callable[[RunResult, Redactor, bool], str]


def _text(run: RunResult, redact: Redactor, verbose: bool) -> str:
    from probe.report import text

    return text.render(run, redact, verbose=verbose)


def _json(run: RunResult, redact: Redactor, verbose: bool) -> str:
    from probe.report import json_report

    return json_report.render(run, redact)


def _markdown(run: RunResult, redact: Redactor, verbose: bool) -> str:
    from probe.report import markdown

    return markdown.render(run, redact)


RENDERERS: dict[str, Renderer] = {
    "text": _text,
    "json": _json,
    "markdown": _markdown,
}


def render(name: str, run: RunResult, redact: Redactor, verbose: bool = False) -> str:
    return RENDERERS[name](run, redact, verbose)
