"""The JSON report: a stable, documented shape (see README "JSON report")."""

from __future__ import annotations

import json
from typing import Any

from probe import __version__
from probe.report.redact import Redactor
from probe.report.wire import sent_text
from probe.results import Exchange, RunResult, ServerResult, StepResult

SCHEMA_VERSION = 1


def to_dict(run: RunResult, redact: Redactor) -> dict[str, Any]:
    return {
        "tool": "smtp-probe",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "started_at": run.started_at,
        "duration_ms": round(run.duration * 1000, 1),
        "profile": run.profile,
        "strict": run.strict,
        "interrupted": run.interrupted,
        "exit_code": run.exit_code,
        "results": [_result(r, redact) for r in run.results],
    }


def _result(result: ServerResult, redact: Redactor) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "scenario_path": result.scenario_path,
        "target": result.target,
        "address": result.address,
        "verdict": str(result.verdict),
        "reason": redact(result.reason),
        "counts": result.counts(),
        "started_at": result.started_at,
        "duration_ms": round(result.duration * 1000, 1),
        "waited_ms": round(result.waited * 1000, 1),
        "extensions": result.extensions,
        "tls": result.tls.as_dict() if result.tls is not None else None,
        "dane": result.dane.as_dict() if result.dane is not None else None,
        "details": result.details,
        "steps": [_step(s, redact) for s in result.steps],
    }


def _step(step: StepResult, redact: Redactor) -> dict[str, Any]:
    exchanges = [_exchange(e, redact) for e in step.exchanges]
    # The last exchange that was asked for (not an unsolicited reply): its reply is the step's,
    # the same object in both places (it is only written out).
    last = next(
        (
            i
            for i in range(len(step.exchanges) - 1, -1, -1)
            if step.exchanges[i].command != "UNSOLICITED"
        ),
        None,
    )
    return {
        "name": step.label,
        "kind": step.kind,
        "position": step.position,
        "command": _sent(step.exchanges[last], redact) if last is not None else None,
        "verdict": str(step.verdict),
        "reply": exchanges[last]["reply"] if last is not None else None,
        "reason": redact(step.reason),
        "why": step.why,
        "elapsed_ms": round(sum(e.elapsed for e in step.exchanges) * 1000, 1),
        "findings": [{**f.as_dict(), "message": redact(f.message)} for f in step.findings],
        "exchanges": exchanges,
    }


def _sent(exchange: Exchange, redact: Redactor) -> str:
    return redact(sent_text(exchange))


def _reply(exchange: Exchange, redact: Redactor) -> dict[str, Any] | None:
    if exchange.reply is None:
        return None
    return {
        "code": exchange.reply.code,
        "lines": [redact(line) for line in exchange.reply.display_lines],
    }


def _exchange(exchange: Exchange, redact: Redactor) -> dict[str, Any]:
    return {
        "command": exchange.command,
        "sent": redact(_bounded(exchange.sent, exchange.size).decode("utf-8", "replace")),
        "sent_bytes": exchange.size,
        "started_ms": round(exchange.started * 1000, 1),
        "elapsed_ms": round(exchange.elapsed * 1000, 1),
        "reply": _reply(exchange, redact),
        "error": exchange.error,
    }


SENT_KEPT = 64 * 1024  # bytes of one exchange's data kept in the report (a message can be large)


def _bounded(sent: bytes, size: int) -> bytes:
    if size <= SENT_KEPT:
        return sent
    return sent[:SENT_KEPT] + f"… ({size - SENT_KEPT} more bytes not kept)".encode()


def render(run: RunResult, redact: Redactor) -> str:
    return json.dumps(to_dict(run, redact), indent=2, ensure_ascii=False) + "\n"
