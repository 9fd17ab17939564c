"""A cache of parsed and validated scenarios, so that a run whose scenario file has not changed
skips the YAML parser and the validating loader (a cold start cost).

The YAML file stays the source of truth. An entry is used only when everything that went into it
is the same, compared exactly (not by a hash): the file's bytes, the path as given (positions and
the default name come from it), the Python version, and the smtp-probe package itself (its version
and the name, size and modification time of each of its files). Anything else is a miss, and the
file is loaded as if there were no cache. A corrupt, foreign or unreadable entry is ignored.

Not cached: a scenario whose steps name a message file (`data: {file: ...}`: loading checks that
file, so its answer depends on more than the scenario's bytes), a folder of scenarios, a load with
a `check` (validate), and a scenario that does not come back equal from its stored form.

The folder, its safety rules and the entry format are `probe.cache`'s; entries live in its
"scenarios" folder.
"""

from __future__ import annotations

import marshal
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from probe import cache as store

if TYPE_CHECKING:
    from probe.scenario.model import Scenario, Step

MAX_SOURCE = 256 * 1024  # bytes, as probe.scenario.yamlnodes.MAX_BYTES: a larger file never loads


def load_path(path: Path, check: Callable[[Scenario], object] | None = None) -> list[Scenario]:
    """`probe.scenario.loader.load_path`, through the cache where it can be."""
    path = Path(path)
    folder = cache_dir() if check is None else None
    data = _regular_bytes(path) if folder is not None else None
    if folder is not None and data is not None:
        from probe.scenario.model import Scenario

        hit = store.read_entry(folder, _header(path, data), Scenario)
        if hit is not None:
            return [hit]
    from probe.scenario.loader import load_path as load

    scenarios = load(path, check)
    # Stored only if the file did not change while it was being loaded.
    if (
        folder is not None
        and data is not None
        and len(scenarios) == 1
        and _regular_bytes(path) == data
        and cacheable(scenarios[0])
    ):
        store.write_entry(folder, _header(path, data), scenarios[0], operator.eq)
    return scenarios


def cacheable(scenario: Scenario) -> bool:
    """Whether the scenario depends on nothing but its own file's bytes and path."""
    return not any(step.file is not None for step in _all_steps(scenario.steps))


def _all_steps(steps: Iterable[Step]) -> Iterable[Step]:
    for step in steps:
        yield step
        yield from _all_steps(step.steps)
        if step.template is not None:
            yield from _all_steps((step.template,))


def cache_dir() -> Path | None:
    """The scenarios' cache folder, or None when the cache is off or the folder is not ours."""
    return store.cache_dir("scenarios")


def _regular_bytes(path: Path) -> bytes | None:
    """The file's bytes if it is a regular file of at most the loader's size (else None: the
    loader reports what is wrong with it)."""
    from probe.inputfile import InputFileError, read_bounded

    try:
        data = read_bounded(path, MAX_SOURCE)
    except (InputFileError, OSError, ValueError):
        return None
    return data if len(data) <= MAX_SOURCE else None


def _header(path: Path, data: bytes) -> bytes:
    return marshal.dumps((store.fingerprint(), str(path), data))
