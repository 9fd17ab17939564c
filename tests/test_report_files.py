"""Report files on a real full disk: a tiny tmpfs, mounted in a private mount namespace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASIC, ROOT


def _can_mount() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"cannot mount a tmpfs here: {probe.stderr.strip()}"


def test_a_full_disk_is_a_clear_error_and_the_report_is_still_printed(tmp_path: Path):
    why_not = _can_mount()
    if why_not:  # needs root (CAP_SYS_ADMIN) for a private mount namespace
        pytest.skip(why_not)
    full = tmp_path / "full"
    full.mkdir()
    # Fill the 16 KiB filesystem, then run: the report cannot be written.
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {full} && "
        f"(dd if=/dev/zero of={full}/fill bs=1k count=64 2>/dev/null; true) && "
        f'"$0" -m probe demo --report-dir {full}; rc=$?; '
        f"echo listing: $(ls -A {full}) >&2; exit $rc"  # the tmpfs vanishes with the namespace
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, sys.executable],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode in (2, 4), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "smtp-probe:" in line]) == 1
    # Nothing lost: the verdict still reached stdout, and no half-written file was left behind.
    assert proc.stdout.startswith("PASS") and BASIC.stem in proc.stdout
    listing = next(line for line in proc.stderr.splitlines() if line.startswith("listing:"))
    assert listing.split()[1:] == ["fill"]
