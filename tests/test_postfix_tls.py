"""TLS against a real Postfix on loopback: STARTTLS with the injection test, and implicit TLS
(RFC 8314) on a second port (smtpd_tls_wrappermode). One private instance for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postfix_server import DOMAIN, PostfixError, PostfixServer, postfix_server, require_postfix

HELO = "probe.smtp-probe.invalid"


@pytest.fixture(scope="module")
def postfix() -> Iterator[PostfixServer]:
    require_postfix()
    try:
        with postfix_server(implicit_tls=True) as server:
            yield server
    except PostfixError as exc:
        pytest.fail(str(exc), pytrace=False)


def run(cli, tmp_path: Path, text: str, target: str, *options: str) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("run", str(path), target, "--format", "json", "--timeout", "10", *options)
    assert "Traceback" not in result.stderr, result.stderr
    return result, result.json()["results"][0]


def test_postfix_implicit_tls_on_its_smtps_port(cli, tmp_path: Path, postfix: PostfixServer):
    text = f"name: smtps\nsteps:\n  - ehlo: {HELO}\n  - quit\n"
    result, session = run(cli, tmp_path, text, postfix.smtps_target)
    assert result.code == 0, result.stdout
    assert session["tls"]["mode"] == "implicit"
    assert session["steps"][0]["reply"]["code"] == 220
    # Inside implicit TLS Postfix does not offer STARTTLS.
    assert "STARTTLS" not in session["extensions"]


def test_postfix_discards_a_command_injected_with_starttls(
    cli, tmp_path: Path, postfix: PostfixServer
):
    text = (
        f"name: inject\nsteps:\n  - ehlo: {HELO}\n  - starttls: {{inject: NOOP}}\n"
        f"  - ehlo: {HELO}\n  - mail: probe@{HELO}\n  - rcpt: postmaster@{DOMAIN}\n  - quit\n"
    )
    result, session = run(cli, tmp_path, text, postfix.target)
    starttls = session["steps"][2]
    # Its self-signed certificate is a warning; the injected NOOP was not answered inside TLS.
    assert starttls["verdict"] in ("pass", "warn"), starttls
    assert any(
        f["verdict"] == "pass" and "did not answer 'NOOP'" in f["message"]
        for f in starttls["findings"]
    ), starttls
    assert result.code == 0, result.stdout
