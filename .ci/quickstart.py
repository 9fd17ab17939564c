"""Print the code block under the README's `## Quick start` heading (what .ci/run executes)."""

import sys
from pathlib import Path

lines = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
start = lines.index("## Quick start")
fence = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
print("\n".join(lines[fence + 1 : end]))
