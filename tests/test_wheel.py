"""The package as a user installs it: a wheel, in a virtual environment, run from another folder.
Built and installed offline (no build isolation, no index): the suite talks only to loopback."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import ROOT


def test_an_installed_wheel_carries_the_bundled_scenarios(tmp_path: Path, aiosmtpd_server: str):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("smtp_probe-*.whl")
    venv = tmp_path / "venv"
    # The runtime dependencies come from this environment (itself perhaps a venv, whose packages
    # --system-site-packages would not reach: a .pth names its folders); smtp-probe comes only
    # from the wheel, whose own site-packages is searched first.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    outer = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (inner,) = venv.glob("lib/python*/site-packages")
    (inner / "outer-environment.pth").write_text("".join(f"{path}\n" for path in sorted(outer)))
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = venv / "bin" / "smtp-probe"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(probe), *args], capture_output=True, text=True, cwd=elsewhere, timeout=120
        )

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import probe; print(probe.__file__)"],
        capture_output=True, text=True, cwd=elsewhere, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's copy, not the checkout
    listed = run("list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line[:1].isalnum()]
    assert names == sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert str(venv) in listed.stdout  # found in the installation's share/ folder
    played = run("run", "basic", aiosmtpd_server, "--var", "domain=example.test", "--no-report")
    assert played.returncode == 0, played.stdout + played.stderr
    assert played.stdout.startswith("PASS  basic")
