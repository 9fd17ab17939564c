"""The bundled scenarios (scenarios/ of the source tree), found wherever the package runs from:
a checkout or an editable install (the folder beside the package), or an installed wheel, in a
venv, a --user install or pipx alike (the data files its own metadata lists)."""

from __future__ import annotations

from pathlib import Path

DISTRIBUTION = "smtp-probe"


def bundled_dir() -> Path | None:
    """The folder holding the bundled scenarios, or None if this installation has none."""
    checkout = Path(__file__).resolve().parent.parent / "scenarios"
    if (checkout / "basic.yaml").is_file():
        return checkout
    from importlib import metadata  # an installed wheel: ask its metadata (slower to import)

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
