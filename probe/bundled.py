"""The bundled scenarios (scenarios/ of the source tree), found wherever the package runs from:
a checkout or an editable install (the folder beside the package), or an installed wheel, in a
venv, a --user install or pipx alike (the data files its own metadata lists)."""

from __future__ import annotations

import sys
from pathlib import Path

DISTRIBUTION = "smtp-probe"


def bundled_dir() -> Path | None:
    """The folder holding the bundled scenarios, or None if this installation has none."""
    checkout = Path(__file__).resolve().parent.parent / "scenarios"
    if (checkout / "basic.yaml").is_file():
        return checkout
    # A wheel installed in a venv or system-wide puts its data files under sys.prefix: found
    # without importing importlib.metadata (about 10 ms of a cold start).
    prefixed = Path(sys.prefix) / "share" / DISTRIBUTION / "scenarios"
    if (prefixed / "basic.yaml").is_file() and _ours(prefixed):
        return prefixed
    from importlib import metadata  # elsewhere (a --user install): ask the wheel's metadata

    try:
        files = metadata.distribution(DISTRIBUTION).files or []
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "basic.yaml" and entry.parent.name == "scenarios":
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path.parent
    return None


def _ours(folder: Path) -> bool:
    """Whether this package was installed into the same prefix as that folder (not run from
    somewhere else by an interpreter that has another copy installed)."""
    try:
        return Path(__file__).resolve().is_relative_to(folder.parent.parent.parent.resolve())
    except OSError:
        return False


def bundled() -> list[Path]:
    """Every bundled scenario file, by name."""
    folder = bundled_dir()
    return sorted(folder.glob("*.yaml")) if folder is not None else []


def find_bundled(name: str) -> Path | None:
    """A bundled scenario by name: `basic` or `basic.yaml`."""
    folder = bundled_dir()
    if folder is None or "/" in name or name.startswith("."):
        return None
    path = folder / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    return path if path.is_file() else None
