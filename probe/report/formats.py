"""The stdout formats of `run --format`, by name. Each renders a finished run; another format is
one more entry in RENDERERS (and its name in FORMATS). Files written beside stdout (--junit,
--html, --summary) are the CLI's business; a format that streams results as sessions end hooks
into the run instead of rendering it here."""

from __future__ import annotations

from collections.abc import Callable

from probe.record import field, record
from probe.report.redact import Redactor
from probe.results import RunResult
from probe.thresholds import Thresholds

FORMATS = ("text", "json", "markdown", "tap", "nagios")


@record(frozen=True)
class Context:
    """What a renderer may need beyond the run: -v, and the response-time thresholds."""

    verbose: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)


Renderer = Callable[[RunResult, Redactor, Context], str]


def _text(run: RunResult, redact: Redactor, context: Context) -> str:
    from probe.report import text

    return text.render(run, redact, verbose=context.verbose)


def _json(run: RunResult, redact: Redactor, context: Context) -> str:
    from probe.report import json_report

    return json_report.render(run, redact)


def _markdown(run: RunResult, redact: Redactor, context: Context) -> str:
    from probe.report import markdown

    return markdown.render(run, redact)


def _tap(run: RunResult, redact: Redactor, context: Context) -> str:
    from probe.report import tap

    return tap.render(run, redact)


def _nagios(run: RunResult, redact: Redactor, context: Context) -> str:
    from probe.report import nagios

    return nagios.render(run, redact, context.thresholds)


RENDERERS: dict[str, Renderer] = {
    "text": _text,
    "json": _json,
    "markdown": _markdown,
    "tap": _tap,
    "nagios": _nagios,
}


def render(name: str, run: RunResult, redact: Redactor, context: Context | None = None) -> str:
    return RENDERERS[name](run, redact, context or Context())
