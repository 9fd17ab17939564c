"""Cold start: what a run imports, checked with `-X importtime` (machine-independent; the time
itself is measured in bench/bench_cold.py, never asserted here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"


def imported(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, set[str], str]:
    """(exit code, every module imported, stdout) of `python -X importtime -m probe ARGS`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "probe", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "SMTP_PROBE_DEBUG": "1", **(env or {})},
    )
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    return done.returncode, modules, done.stdout


def at_start() -> set[str]:
    """The modules `python -X importtime -c pass` imports: the interpreter's and its site's."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


def test_an_ip_target_run_imports_neither_dns_nor_asyncio(aiosmtpd_server, tmp_path) -> None:
    args = ["run", str(BASIC), aiosmtpd_server, "--var", "domain=example.test", "--no-report"]
    env = {"SMTP_PROBE_CACHE_DIR": str(tmp_path / "cache"), "SMTP_PROBE_NO_CACHE": ""}
    code, modules, stdout = imported(args, tmp_path, env)  # an empty cache
    assert code == 0, stdout
    assert "PASS" in stdout
    assert "probe.session.drivers.blocking" in modules  # the run did happen, on one socket
    assert not {"dns", "asyncio"} & top_level(modules)
    # The code table comes precomputed (not from YAML); the scenario file alone needs YAML.
    assert "probe.codes.table_data" in modules


def test_a_json_run_of_an_ip_target_imports_neither_dns_nor_asyncio(
    aiosmtpd_server, tmp_path
) -> None:
    args = ["run", str(BASIC), aiosmtpd_server, "--var", "domain=example.test", "--no-report"]
    code, modules, _ = imported([*args, "--format", "json"], tmp_path)
    assert code == 0
    assert not {"dns", "asyncio"} & top_level(modules)


def test_a_second_run_of_the_same_file_takes_it_from_the_cache(aiosmtpd_server, tmp_path) -> None:
    args = ["run", str(BASIC), aiosmtpd_server, "--var", "domain=example.test", "--no-report"]
    env = {"SMTP_PROBE_CACHE_DIR": str(tmp_path / "cache"), "SMTP_PROBE_NO_CACHE": ""}
    code, modules, first = imported(args, tmp_path, env)
    assert code == 0 and "probe.scenario.loader" in modules  # parsed, then stored
    code, modules, second = imported(args, tmp_path, env)
    assert code == 0 and "PASS" in second
    # Neither the YAML parser nor the validating loader, nor DANE or DNS, for a cached scenario;
    # basic.yaml has no STARTTLS and no reply-text pattern, so neither ssl nor RE2 either.
    assert not {"yaml", "dns", "asyncio", "ssl", "re2"} & top_level(modules)
    assert not {"probe.scenario.loader", "probe.scenario.steps", "probe.dane"} & modules
    # The code table comes from its cache entry, without its precomputed module or the checks.
    assert "probe.codes.table_data" not in modules
    # Nor modules a run without AUTH, a report file or a host name has no use for (beyond what
    # this interpreter's site-packages import at start: `python -c pass` shows those).
    unneeded = {"hashlib", "tempfile", "encodings.idna", "dataclasses", "inspect"}
    assert not unneeded & (modules - at_start())
    assert first.splitlines()[0].split()[:4] == second.splitlines()[0].split()[:4]


def test_a_name_target_still_resolves_with_dnspython(tmp_path) -> None:
    # --dry-run on a localhost name: planned through the resolver (no DNS query is sent).
    code, modules, _ = imported(["run", str(BASIC), "localhost", "--dry-run"], tmp_path)
    assert code == 0
    assert "asyncio" in top_level(modules)


def test_version_imports_no_scenario_machinery(tmp_path) -> None:
    # probe.entry answers it before probe.cli (argparse, pathlib, typing) is imported.
    code, modules, stdout = imported(["--version"], tmp_path)
    assert code == 0 and stdout.startswith("smtp-probe ")
    assert not {"dns", "asyncio", "yaml", "re2", "ssl", "argparse"} & top_level(modules)
    assert not {m for m in modules if m.startswith("probe.") and m != "probe.entry"}
