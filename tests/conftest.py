"""Shared fixtures: real servers on loopback, and a way to run the CLI as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "scenarios" / "basic.yaml"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@pytest.fixture
def cli(tmp_path: Path):
    """Run `python -m probe ARGS` in a subprocess, as a user would, with a time limit."""

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> CliResult:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "probe", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=full_env,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def aiosmtpd_server() -> Iterator[str]:
    """A real aiosmtpd server on a free loopback port; yields HOST:PORT."""
    from probe.demo import demo_server

    with demo_server() as (host, port):
        yield f"{host}:{port}"


# Private Postfix and Exim instances for a test module (module scope: each module that asks gets
# its own, stopped when the module is done, so two never run at once). Skipped where the server
# cannot run here; with SMTP_PROBE_REQUIRE_SERVERS=1 (CI) that is a failure instead.


@pytest.fixture(scope="module")
def postfix_target() -> Iterator[str]:
    from postfix_server import PostfixError, postfix_server, require_postfix

    require_postfix()
    try:
        with postfix_server() as server:
            yield server.target
    except PostfixError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def exim_target() -> Iterator[str]:
    yield from _exim(None)


@pytest.fixture(scope="module")
def exim_auth_target() -> Iterator[str]:
    """The private Exim taking AUTH PLAIN, LOGIN and CRAM-MD5 inside TLS (an MX offering AUTH)."""
    yield from _exim("offered")


@pytest.fixture(scope="module")
def exim_submission_target() -> Iterator[str]:
    """The private Exim as a submission server: AUTH inside TLS, MAIL refused (530) before it."""
    yield from _exim("required")


def _exim(auth: str | None) -> Iterator[str]:
    from exim_server import EximError, exim_server, require_exim

    require_exim()
    try:
        with exim_server(auth=auth) as server:
            yield server.target
    except EximError as exc:
        pytest.fail(str(exc), pytrace=False)
