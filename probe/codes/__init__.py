"""Reply-code rules as data, with their sources.

The table lives in `table.yaml` beside this file; `table.py` loads it once (checking its shape)
and answers lookups, `render.py` turns it into text for the `codes` and `explain` commands.
"""

from probe.codes.render import render_codes, render_explain
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
