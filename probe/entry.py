"""The `smtp-probe` command: `--version` answered at once, everything else by `probe.cli`.

`--version` alone needs only the version string; `probe.cli` imports argparse, pathlib and typing
first (about 30 ms of a cold start), so the answer comes before that import.
"""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from probe import __version__

        sys.stdout.write(f"smtp-probe {__version__}\n")  # what argparse's version action prints
        return 0
    from probe.cli import main as cli_main

    return cli_main()
