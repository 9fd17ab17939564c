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


# Where the JSON report goes by default: ./reports in a checkout of smtp-probe, nowhere else.


def test_outside_a_checkout_a_run_writes_no_files(cli, aiosmtpd_server: str, tmp_path: Path):
    result = cli("run", "basic", aiosmtpd_server, "--var", "domain=example.test")
    assert result.code == 0, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []
    assert "report:" not in result.stderr


def test_in_a_checkout_the_report_goes_to_reports(cli, aiosmtpd_server: str, tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    result = cli("run", "basic", aiosmtpd_server, "--var", "domain=example.test")
    assert result.code == 0, result.stdout + result.stderr
    reports = list((tmp_path / "reports").glob("smtp-probe-*-basic.json"))
    assert len(reports) == 1, list(tmp_path.rglob("*"))
    assert f"report: reports/{reports[0].name}" in result.stderr


def test_another_projects_pyproject_is_not_a_checkout(cli, aiosmtpd_server: str, tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    result = cli("run", "basic", aiosmtpd_server, "--var", "domain=example.test")
    assert result.code == 0, result.stdout + result.stderr
    assert not (tmp_path / "reports").exists()


def test_report_dir_writes_anywhere(cli, aiosmtpd_server: str, tmp_path: Path):
    result = cli(
        "run", "basic", aiosmtpd_server, "--var", "domain=example.test", "--report-dir", "out"
    )
    assert result.code == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "out").glob("smtp-probe-*.json"))) == 1
