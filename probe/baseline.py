"""Comparing a run with a stored JSON report: `run --baseline FILE` and `smtp-probe diff OLD NEW`.

A team can adopt smtp-probe on a server that is not yet clean and still catch regressions: only
what got worse counts. Results are matched by scenario and target (the n-th result of the same
pair with the n-th, for --all-mx), steps by name (the n-th step of the same name with the n-th).
A step regressed when its verdict is now fail or error and was better before (pass, warn, skip,
or the step or the result was not in the baseline); a result regressed when it is now fail or
error, was better, and no step of it says why (a DNS error skips every step). A step improved
when it was fail, error or warn and is now better; a step newly warned is listed, and does not
count as a regression.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from probe.inputfile import InputFileError, read_bounded, shown
from probe.record import field, record

MAX_BYTES = 256 * 1024 * 1024
# How bad a verdict is; a result's no-mail and no-service are as bad as an error.
RANK = {"pass": 0, "skip": 0, "warn": 1, "no-mail": 2, "no-service": 2, "error": 2, "fail": 3}
BAD = ("fail", "error")


class BaselineError(ValueError):
    """A report that cannot be compared: one line saying which and why."""


@record(frozen=True)
class Change:
    where: str  # `basic -> 127.0.0.1:2525`
    step: str  # the step's name, or "" for the result as a whole
    before: str  # a verdict, or "" when it was not in the baseline
    after: str
    reason: str = ""  # the new headline, when the change is for the worse

    def line(self) -> str:
        what = f"{self.where}: {self.step}" if self.step else self.where
        before = self.before or "(not in the baseline)"
        reason = f" ({self.reason})" if self.reason else ""
        return f"{what}: {before} -> {self.after}{reason}"


@record
class Comparison:
    baseline: str  # what it was compared with: the file, and when that run started
    regressed: list[Change] = field(default_factory=list)
    improved: list[Change] = field(default_factory=list)
    warned: list[Change] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # results in the baseline only

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def render(self) -> str:
        out = [f"compared with {self.baseline}:"]
        if not (self.regressed or self.improved or self.warned or self.gone):
            out.append("  no step changed its verdict")
        for title, changes in (
            ("regressed", self.regressed),
            ("improved", self.improved),
            ("newly warned (not a regression)", self.warned),
        ):
            if changes:
                out.append(f"  {title}: {len(changes)}")
                out += [f"    {change.line()}" for change in changes]
        if self.gone:
            out.append(f"  in the baseline only: {len(self.gone)}")
            out += [f"    {where}" for where in self.gone]
        verdict = f"{len(self.regressed)} regression(s)" if self.regressed else "no regression"
        out.append(f"  {verdict}; {len(self.improved)} improvement(s)")
        return "\n".join(out) + "\n"


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report written by smtp-probe (`--report-dir`, `--format json`)."""
    name = shown(path)
    try:
        data = json.loads(read_bounded(path, MAX_BYTES).decode("utf-8"))
    except InputFileError as exc:
        raise BaselineError(f"{name}: cannot read the report: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{name}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("tool") != "smtp-probe":
        raise BaselineError(f'{name}: not a report of smtp-probe (no "tool": "smtp-probe")')
    if not isinstance(data.get("results"), list):
        raise BaselineError(f"{name}: the report has no results")
    return data


def compare(old: dict[str, Any], new: dict[str, Any], name: str) -> Comparison:
    comparison = Comparison(f"{name} ({old.get('started_at', 'time unknown')})")
    before = _keyed(old["results"], _result_key)
    after = _keyed(new["results"], _result_key)
    for key, result in after.items():
        where = f"{key[0]} -> {key[1]}"
        previous = before.get(key)
        _compare_result(comparison, where, previous, result)
    comparison.gone = [f"{key[0]} -> {key[1]}" for key in before if key not in after]
    return comparison


def _compare_result(
    comparison: Comparison, where: str, previous: dict[str, Any] | None, result: dict[str, Any]
) -> None:
    old_steps = _keyed(previous.get("steps", []) if previous else [], _step_key)
    found_worse = False
    for key, step in _keyed(result.get("steps", []), _step_key).items():
        old = old_steps.get(key)
        was, now = (str(old.get("verdict", "")) if old else ""), str(step.get("verdict", ""))
        change = Change(where, key[0], was, now, str(step.get("reason", "")))
        if now in BAD and (not was or RANK.get(was, 0) < RANK[now]):
            comparison.regressed.append(change)
            found_worse = True
        elif was and RANK.get(now, 0) < RANK.get(was, 0) and was in (*BAD, "warn"):
            comparison.improved.append(Change(where, key[0], was, now))
        elif now == "warn" and (not was or RANK.get(was, 0) < RANK["warn"]):
            comparison.warned.append(Change(where, key[0], was, now, change.reason))
    was = str(previous.get("verdict", "")) if previous else ""
    now = str(result.get("verdict", ""))
    if not found_worse and now in BAD and (not was or RANK.get(was, 0) < RANK[now]):
        comparison.regressed.append(Change(where, "", was, now, str(result.get("reason", ""))))


def _result_key(result: dict[str, Any]) -> tuple[str, str]:
    return str(result.get("scenario", "")), str(result.get("target", ""))


def _step_key(step: dict[str, Any]) -> tuple[str]:
    return (str(step.get("name", "")),)


def _keyed(items: Iterable[Any], key: Any) -> dict[Any, dict[str, Any]]:
    """Each item under its key, the n-th item of a repeated key under (key, n)."""
    out: dict[Any, dict[str, Any]] = {}
    seen: dict[Any, int] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        base = key(item)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out[base if count == 0 else (*base, count + 1)] = item
    return out
