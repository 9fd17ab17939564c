"""The code table's precomputed form: `table.yaml` as a Python literal, so a run need not parse
YAML (nor import PyYAML for it) to start.

`table.yaml` stays the source of truth. `table_data.py` holds what PyYAML reads from it, with the
YAML's size and CRC-32: `load_table` uses the literal only when both match the YAML it finds,
and parses the YAML otherwise (a table edited without regenerating is slower, never stale).
`tests/test_codes_precomputed.py` fails until it is regenerated:

    python -m probe.codes.precompute          # rewrite probe/codes/table_data.py
    python -m probe.codes.precompute --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
YAML_PATH = HERE / "table.yaml"
DATA_PATH = HERE / "table_data.py"

HEADER = '''"""Generated from table.yaml by `python -m probe.codes.precompute`: do not edit.

What PyYAML reads from table.yaml (the source of truth), so that a run need not parse YAML. Used
only while YAML_SIZE and YAML_CRC32 match table.yaml (probe/codes/table.py, load_table).
"""

# fmt: off
from typing import Any

'''


def fingerprint(raw: bytes) -> tuple[int, int]:
    """(size, CRC-32) of the YAML: cheap to compute at start-up, and any edit changes it."""
    return len(raw), zlib.crc32(raw)


def parse_yaml(raw: bytes) -> Any:
    import yaml

    # libyaml's safe loader parses the file ~10x faster than the pure-Python one; both build
    # only plain data, so the fallback changes speed, not meaning.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(raw.decode("utf-8"), Loader=loader)


def render(raw: bytes) -> str:
    """The whole text of table_data.py for this YAML."""
    import pprint

    size, crc = fingerprint(raw)
    data = pprint.pformat(parse_yaml(raw), width=100, sort_dicts=False)
    return f"{HEADER}YAML_SIZE = {size}\nYAML_CRC32 = {crc}\n\nDATA: Any = {data}\n"


def main(argv: list[str]) -> int:
    expected = render(YAML_PATH.read_bytes())
    current = DATA_PATH.read_text(encoding="utf-8") if DATA_PATH.exists() else ""
    if "--check" in argv:
        if current != expected:
            print(f"{DATA_PATH} is out of date: run python -m probe.codes.precompute")
            return 1
        return 0
    if current != expected:
        DATA_PATH.write_text(expected, encoding="utf-8")
        print(f"wrote {DATA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
