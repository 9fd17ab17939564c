"""Reply-code rules as data, with their sources.

The table lives in `table.yaml` beside this file; `table.py` loads it once (checking its shape)
and answers lookups, `render.py` turns it into text for the `codes` and `explain` commands.
"""

from typing import TYPE_CHECKING

from probe.codes.table import (
    PROFILES,
    UNKNOWN,
    Allowance,
    CodeInfo,
    CodeTable,
    CodeTableError,
    CommandSpec,
    FixedReply,
    Tier,
    canonical_command,
    load_table,
    parse_table,
)

if TYPE_CHECKING:
    from probe.codes.render import render_codes, render_explain


def __getattr__(name: str) -> object:
    """render_codes and render_explain (textwrap and all) are imported when first asked for."""
    if name in ("render_codes", "render_explain"):
        from probe.codes import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PROFILES",
    "UNKNOWN",
    "Allowance",
    "CodeInfo",
    "CodeTable",
    "CodeTableError",
    "CommandSpec",
    "FixedReply",
    "Tier",
    "canonical_command",
    "load_table",
    "parse_table",
    "render_codes",
    "render_explain",
]
