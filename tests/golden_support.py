"""Golden verdicts: a normalised, run-independent form of one server result of a JSON report.

    golden = normalise_result(report, "127.0.0.1:PORT", aliases={socket.getfqdn(): "<HOSTNAME>"})
    text = dump(golden)            # what tests/golden/*.json hold
    problem = compare(text, path)  # None, or a readable unified diff

What is kept: what the session decided and why (verdicts, reasons, findings), and what was said
on the wire to decide it (commands, bytes sent, reply codes and lines, errors), plus the CLI's
exit code, the counts and the EHLO extensions derived from them.

What is dropped, because it changes from run to run while the verdicts do not:
- timings: `started_at`, `duration_ms`, `elapsed_ms`, `started_ms`;
- the tool's version and the absolute paths of the checkout (`scenario_path`, `position`);
- `details` (it repeats the target and port; nothing in it is judged for a direct target).

What is rewritten, in every string kept:
- the server's port: `HOST:PORT` of the target and any `127.0.0.1:N` / `[::1]:N` in text
  become `127.0.0.1:<PORT>` (the servers are started on a free port each run);
- Postfix queue ids (`250 2.0.0 Ok: queued as 2DC5020C61D`): `queued as <QUEUE-ID>`;
- dates in reply text (RFC 5322 dates, ISO 8601 timestamps): `<DATE>`;
- exact strings given as `aliases` (for aiosmtpd: the machine's FQDN in its greeting and EHLO
  reply, and its version), so that the files do not depend on the machine they were made on.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PORT = "<PORT>"
QUEUE_ID = "<QUEUE-ID>"
DATE = "<DATE>"

# 127.0.0.1:2525, [::1]:2525 (any port: the probe's own ephemeral port would vary too).
_LOOPBACK_PORT = re.compile(r"(127\.0\.0\.1|\[::1\]):\d{1,5}\b")
# Postfix: "queued as 2DC5020C61D" (short ids) or "queued as 4Xk2Lq1Zy9z9vDT" (long ids).
_QUEUE_ID = re.compile(r"\b(queued as) [0-9A-Za-z]+\b")
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# RFC 5322 §3.3: "Tue, 3 Dec 2024 09:33:38 +0000 (UTC)", the day name and zone comment optional.
_RFC5322_DATE = re.compile(
    rf"(?:{_DAY},?\s+)?\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\s+\d{{2}}:\d{{2}}(?::\d{{2}})?"
    r"(?:\s+(?:[+-]\d{4}|[A-Z]{1,5}))?(?:\s+\([A-Za-z ]+\))?"
)
# ISO 8601: "2024-12-03T09:33:38+00:00", "2024-12-03 09:33:38.123Z".
_ISO_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d])"
)


def normalise_text(text: str, target: str, aliases: Mapping[str, str] | None = None) -> str:
    """One string with the run-dependent parts replaced by placeholders."""
    host, _, port = target.rpartition(":")
    if port.isdigit():
        text = re.sub(rf"(?<![\w.-]){re.escape(host)}:{port}\b", f"{host}:{PORT}", text)
    text = _LOOPBACK_PORT.sub(rf"\1:{PORT}", text)
    text = _QUEUE_ID.sub(rf"\1 {QUEUE_ID}", text)
    text = _RFC5322_DATE.sub(DATE, text)
    text = _ISO_DATE.sub(DATE, text)
    for value, placeholder in (aliases or {}).items():
        if value:
            # Whole names only: "localhost" is rewritten ("220 localhost", "250-localhost"),
            # "localhost.example" and "my-localhost" are not.
            start = r"(?:(?<=^\d{3}-)|(?<![\w.-]))"
            text = re.sub(rf"{start}{re.escape(value)}(?![\w-]|\.\w)", placeholder, text)
    return text


def _walk(value: Any, fix) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, list):
        return [_walk(v, fix) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, fix) for k, v in value.items()}
    return value


def _reply(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {"code": reply["code"], "lines": reply["lines"]}


def _step(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": step["name"],
        "kind": step["kind"],
        "command": step["command"],
        "verdict": step["verdict"],
        "reason": step["reason"],
        "findings": [
            {
                "verdict": f["verdict"],
                "message": f["message"],
                "source": f["source"],
                "expected": f["expected"],
            }
            for f in step["findings"]
        ],
        "exchanges": [
            {
                "command": e["command"],
                "sent": e["sent"],
                "reply": _reply(e["reply"]),
                "error": e["error"],
            }
            for e in step["exchanges"]
        ],
    }


def normalise_result(
    report: dict[str, Any],
    target: str,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The golden form of a `--format json` report holding one result (one scenario x server)."""
    results = report["results"]
    if len(results) != 1:
        raise ValueError(f"expected one result in the report, got {len(results)}")
    result = results[0]
    golden = {
        "exit_code": report["exit_code"],
        "scenario": result["scenario"],
        "target": result["target"],
        "address": result["address"],
        "verdict": result["verdict"],
        "reason": result["reason"],
        "counts": result["counts"],
        "extensions": result["extensions"],
        "steps": [_step(s) for s in result["steps"]],
    }
    return _walk(golden, lambda text: normalise_text(text, target, aliases))


def dump(golden: dict[str, Any]) -> str:
    """The text of a golden file: stable key order, readable diffs, UTF-8 as is."""
    return json.dumps(golden, indent=2, ensure_ascii=False) + "\n"


def compare(actual: str, path: Path) -> str | None:
    """None when `path` holds exactly `actual`, else a message with a unified diff."""
    try:
        expected = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"no golden file {path}\n(create it with SMTP_PROBE_UPDATE_GOLDEN=1)"
    if expected == actual:
        return None
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"{path.name} (golden)",
        tofile=f"{path.name} (this run)",
        n=4,
    )
    return (
        f"the verdicts differ from the golden file {path}\n"
        "(if the change is intended, rewrite it with SMTP_PROBE_UPDATE_GOLDEN=1 and review the "
        "git diff)\n\n" + "".join(diff)
    )
