"""JSON Lines: one result a line as each session ends, then one summary line (`--format jsonl`).

A result line is the object a JSON report holds in `results[]`, with `"record": "result"` and
`"order"` (the target's place in the list, then the session's place among that target's: a merge
puts shards back in the order of the list). The last line has `"record": "summary"`: the run's
fields (as at the top of a JSON report), the counts by verdict, and the exit code.

`smtp-probe merge` reads shard files back (`read`) and rebuilds results for every reporter
(`result_from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from probe import __version__
from probe.record import field, record
from probe.report.redact import Redactor
from probe.results import Exchange, Finding, ServerResult, StepResult, TlsInfo, Verdict

SCHEMA_VERSION = 1
_TALLY = (
    (Verdict.PASS, "passed"),
    (Verdict.FAIL, "failed"),
    (Verdict.ERROR, "error"),
    (Verdict.NO_MAIL, "no-mail"),
    (Verdict.NO_SERVICE, "no-service"),
)


@record
class Tally:
    """What the summary needs, counted as results go by (the results themselves are not kept)."""

    results: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    passed_with_warnings: int = 0
    interrupted: bool = False
    problems: int = 0  # targets skipped for a mistake in their line or their variables

    def add(self, verdict: str, warnings: int) -> None:
        self.results += 1
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        self.warnings += warnings
        if warnings and verdict == Verdict.PASS:
            self.passed_with_warnings += 1

    @property
    def exit_code(self) -> int:
        """As for a whole report: 1 something failed; 2 a target was skipped for a mistake in the
        input; 3 something could not be probed or the run was interrupted; else 0."""
        if self.verdicts.get(Verdict.FAIL):
            return 1
        if self.problems:
            return 2
        unprobed = (Verdict.ERROR, Verdict.NO_MAIL, Verdict.NO_SERVICE)
        if any(self.verdicts.get(v) for v in unprobed) or self.interrupted:
            return 3
        return 0

    def closing(self, profile: str, strict: bool) -> str:
        """The closing line of the text report, from the counts."""
        parts = []
        for verdict, label in _TALLY:
            count = self.verdicts.get(verdict, 0)
            if count or verdict in (Verdict.PASS, Verdict.FAIL):
                parts.append(f"{count} {label}")
            if verdict is Verdict.PASS and self.passed_with_warnings:
                parts[-1] += f" ({self.passed_with_warnings} with warnings)"
        skipped = f", {self.problems} target(s) skipped (bad input)" if self.problems else ""
        return (
            f"{self.results} server result(s): {', '.join(parts)}{skipped}"
            + (" (interrupted)" if self.interrupted else "")
            + f"; {self.warnings} warning(s); profile {profile}{', strict' if strict else ''}"
        )


def warnings_of(result: ServerResult) -> int:
    from probe.report.text import _warnings

    return _warnings(result)


def result_line(order: Any, result: ServerResult, redact: Redactor) -> str:
    from probe.report.json_report import _result

    record = {"record": "result", "order": order, **_result(result, redact)}
    return _LINE.encode(record) + "\n"


# json.dumps(record, ensure_ascii=False, separators=(",", ":")), with one encoder made once and no
# check for circular references (a result's dict is a tree; it may hold one dict twice, which is
# not a cycle): the same text.
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def summary_line(
    tally: Tally, profile: str, strict: bool, started_at: str, duration: float, **extra: Any
) -> str:
    record = {
        "record": "summary",
        "tool": "smtp-probe",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "started_at": started_at,
        "duration_ms": round(duration * 1000, 1),
        "profile": profile,
        "strict": strict,
        "interrupted": tally.interrupted,
        "exit_code": tally.exit_code,
        "results": tally.results,
        "counts": dict(sorted(tally.verdicts.items())),
        "warnings": tally.warnings,
        "passed_with_warnings": tally.passed_with_warnings,
        "skipped_targets": tally.problems,
        **extra,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class Writer:
    """Writes each line whole and flushes it, so a reader (or a crash) never sees half a line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, line: str) -> None:
        self.stream.write(line)
        self.stream.flush()


# --- reading shards back ------------------------------------------------------------------------


class ShardError(ValueError):
    """A file that is not a JSONL shard; the message names the file and line."""


@record
class Shards:
    results: list[dict[str, Any]]  # in the order of the target list
    summaries: list[dict[str, Any]]  # one per file that was complete


def read(paths: Iterable[Path]) -> Shards:
    """Every result of every file, in list order; a file without a summary line was cut short
    (its run did not finish), which `merge` reports as an interrupted run."""
    results: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    for path in paths:
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            raise ShardError(f"{path}: cannot read: {exc.strerror}") from None
        with handle:
            summary = None
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    raise ShardError(f"{path}:{number}: not a JSON line") from None
                kind = record.get("record") if isinstance(record, dict) else None
                if kind == "result":
                    results.append(record)
                elif kind == "summary":
                    summary = record
                else:
                    raise ShardError(f"{path}:{number}: not a smtp-probe result or summary line")
            summaries.append(summary or {"interrupted": True, "file": str(path)})
    results.sort(key=lambda r: _order_key(r.get("order")))
    return Shards(results, summaries)


def _order_key(order: Any) -> tuple[int, ...]:
    if isinstance(order, list) and all(isinstance(n, int) for n in order):
        return tuple(order)
    return (1 << 62,)


def result_from_dict(data: dict[str, Any]) -> ServerResult:
    """A result as a JSON report wrote it, for the reporters (what the JSON drops, such as the
    bytes of a reply beyond its printable form, stays dropped)."""
    tls = data.get("tls")
    return ServerResult(
        scenario=data.get("scenario", ""),
        scenario_path=data.get("scenario_path", ""),
        target=data.get("target", ""),
        address=data.get("address"),
        verdict=Verdict(data.get("verdict", "error")),
        steps=[_step(s) for s in data.get("steps", [])],
        started_at=data.get("started_at", ""),
        duration=data.get("duration_ms", 0.0) / 1000,
        reason=data.get("reason", ""),
        extensions=data.get("extensions") or {},
        details=data.get("details") or {},
        waited=data.get("waited_ms", 0.0) / 1000,
        tls=TlsInfo(tls.get("version"), tls.get("cipher")) if isinstance(tls, dict) else None,
    )


def _step(data: dict[str, Any]) -> StepResult:
    return StepResult(
        label=data.get("name", ""),
        kind=data.get("kind", ""),
        position=data.get("position", ""),
        verdict=Verdict(data.get("verdict", "skip")),
        exchanges=[_exchange(e) for e in data.get("exchanges", [])],
        findings=[
            Finding(Verdict(f["verdict"]), f["message"], f.get("source", ""), f.get("expected", ""))
            for f in data.get("findings", [])
        ],
        why=data.get("why", ""),
        reason=data.get("reason", ""),
    )


def _exchange(data: dict[str, Any]) -> Exchange:
    from probe.protocol.reply import Reply, ReplyLine

    reply = None
    if isinstance(data.get("reply"), dict):
        lines = []
        for text in data["reply"].get("lines", []):
            code = text[:3] if text[:3].isdigit() else None
            lines.append(
                ReplyLine(text.encode(), code, text[3:4] if code else "", text[4:], b"\r\n")
            )
        reply = Reply(tuple(lines), data["reply"].get("code"))
    return Exchange(
        command=data.get("command", ""),
        sent=data.get("sent", "").encode(),
        started=data.get("started_ms", 0.0) / 1000,
        elapsed=data.get("elapsed_ms", 0.0) / 1000,
        reply=reply,
        error=data.get("error"),
    )
