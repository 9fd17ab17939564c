"""Print the README's table of what the scenario library says about the real servers the tests
start (Postfix, Exim, aiosmtpd), read from the golden files in tests/golden/, and the list of every
failure a real server gets there. `python3 scripts/verdict_matrix.py --write` puts it between the
markers in README.md; tests/test_readme.py checks the README shows what the golden files hold."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SERVERS = (("postfix", "Postfix 3.7"), ("exim", "Exim 4.96"), ("aiosmtpd", "aiosmtpd 1.4"))
BEGIN, END = "<!-- BEGIN verdict matrix -->", "<!-- END verdict matrix -->"


def load(scenario: str, server: str) -> dict[str, Any] | None:
    path = GOLDEN / f"{scenario}-{server}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def scenarios() -> list[str]:
    names = {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}
    return sorted(n for n in names if any(load(n, s) for s, _ in SERVERS))


def cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    counts = result["counts"]
    parts = [f"{counts[k]} {k}" for k in ("fail", "error", "warn") if counts.get(k)]
    skipped = counts.get("skip", 0)
    if skipped:
        parts.append(f"{skipped} n/a")
    verdict = result["verdict"].upper()
    return f"{verdict} ({', '.join(parts)})" if parts else verdict


def failures() -> list[str]:
    rows = []
    for scenario in scenarios():
        for server, label in SERVERS:
            result = load(scenario, server)
            for step in result["steps"] if result else []:
                if step["verdict"] in ("fail", "error"):
                    reason = " ".join(step["reason"].split()).replace("|", "\\|")
                    rows.append(f"| `{scenario}` | {label} | {step['name']} | {reason} |")
    return rows


def markdown() -> str:
    head = "| scenario | " + " | ".join(label for _, label in SERVERS) + " |"
    rows = [head, "|---" * (len(SERVERS) + 1) + "|"]
    for scenario in scenarios():
        cells = " | ".join(cell(load(scenario, server)) for server, _ in SERVERS)
        rows.append(f"| `{scenario}` | {cells} |")
    fails = ["| scenario | server | step | why |", "|---|---|---|---|", *failures()]
    return (
        "\n".join(rows)
        + "\n\nEvery failure and error a real server gets there:\n\n"
        + "\n".join(fails)
        + "\n"
    )


def write() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n\n" + markdown() + "\n" + text[stop:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(markdown(), end="")
