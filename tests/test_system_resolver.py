"""Host targets resolve as every other program resolves them: getaddrinfo, so /etc/hosts works.

/etc/hosts is the machine's, so a private hosts file is given through nss_wrapper (Debian's
libnss-wrapper, which scripts/install-servers installs): LD_PRELOAD'ed into the CLI, it answers
getaddrinfo from NSS_WRAPPER_HOSTS. Only the names in that file are looked up here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from postfix_server import require_server

NAME = "mail.smtp-probe-hosts.test"


def _nss_wrapper() -> str | None:
    try:
        files = subprocess.run(
            ["dpkg-query", "-L", "libnss-wrapper"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    return next((f for f in files if f.endswith("/libnss_wrapper.so")), None)


@pytest.fixture
def hosts_env(tmp_path: Path) -> dict[str, str]:
    library = _nss_wrapper()
    require_server(None if library else "libnss-wrapper is not installed (scripts/install-servers)")
    assert library is not None
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 {NAME}\n")
    return {
        "LD_PRELOAD": library,
        "NSS_WRAPPER_HOSTS": str(hosts),
        "NSS_WRAPPER_PASSWD": "/etc/passwd",
        "NSS_WRAPPER_GROUP": "/etc/group",
    }


def test_a_name_port_target_comes_from_the_hosts_file(cli, aiosmtpd_server: str, hosts_env):
    port = aiosmtpd_server.rsplit(":", 1)[1]
    result = cli("run", "basic", f"{NAME}:{port}", "--var", "domain=example.test", env=hosts_env)
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"PASS  basic -> {NAME}:{port}")


def test_no_mx_takes_a_bare_name_as_a_host(cli, aiosmtpd_server: str, hosts_env):
    port = aiosmtpd_server.rsplit(":", 1)[1]
    plan = cli("run", "basic", NAME, "--port", port, "--no-mx", "--dry-run", env=hosts_env)
    assert plan.code == 0, plan.stderr
    assert f"{NAME}:{port}: --no-mx, so no MX lookup" in plan.stdout
    assert "addresses from the system resolver (getaddrinfo: /etc/hosts, then DNS)" in plan.stdout
    assert f"would connect to 127.0.0.1:{port}" in plan.stdout
    result = cli("run", "basic", NAME, "--port", port, "--no-mx", env=hosts_env)
    assert result.code == 0, result.stdout + result.stderr  # domain defaults to the name


def test_localhost_reaches_a_loopback_server(cli, aiosmtpd_server: str):
    port = aiosmtpd_server.rsplit(":", 1)[1]
    result = cli("run", "basic", f"localhost:{port}", "--var", "domain=example.test", "-4")
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"PASS  basic -> localhost:{port}")
