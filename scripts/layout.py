"""Print the README's Layout tables: every module of probe/ and every test helper, each with the
first sentence of its docstring. `python3 scripts/layout.py` and paste between the markers in
README.md; tests/test_readme.py checks the README names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def first_sentence(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split("\n\n", 1)[0].split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence.replace("|", "\\|")


def modules() -> list[Path]:
    found = sorted((ROOT / "probe").rglob("*.py"))
    return [p for p in found if p.name != "__main__.py"]


def helpers() -> list[Path]:
    return sorted(p for p in (ROOT / "tests").glob("*.py") if not p.name.startswith("test_"))


def table(paths: list[Path]) -> str:
    rows = ["| file | what it is |", "|---|---|"]
    for path in paths:
        name = path.relative_to(ROOT).as_posix()
        shown = name.removesuffix("/__init__.py") + "/" if name.endswith("__init__.py") else name
        rows.append(f"| `{shown}` | {first_sentence(path)} |")
    return "\n".join(rows)


def markdown() -> str:
    return (
        f"{table(modules())}\n\nTest helpers (`tests/`, beside the `test_*.py` files):\n\n"
        f"{table(helpers())}\n"
    )


if __name__ == "__main__":
    print(markdown(), end="")
