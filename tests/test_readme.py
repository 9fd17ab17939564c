"""The README's promises that can drift: its Layout names every module and test helper."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import layout  # scripts/ is not a package

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_layout_names_every_module_and_test_helper():
    section = README[README.index("<!-- BEGIN layout -->") : README.index("<!-- END layout -->")]
    missing = []
    for path in [*layout.modules(), *layout.helpers()]:
        name = path.relative_to(ROOT).as_posix()
        name = name.removesuffix("__init__.py") if name.endswith("__init__.py") else name
        if f"`{name}`" not in section:
            missing.append(name)
    assert not missing, f"README Layout misses {missing}: run python3 scripts/layout.py"


def test_the_verdict_matrix_shows_what_the_golden_files_hold():
    import verdict_matrix  # scripts/ is on the path (above)

    start = README.index(verdict_matrix.BEGIN) + len(verdict_matrix.BEGIN)
    shown = README[start : README.index(verdict_matrix.END)].strip()
    assert shown == verdict_matrix.markdown().strip(), (
        "README verdict matrix is stale: python3 scripts/verdict_matrix.py --write"
    )
