"""Implicit TLS (RFC 8314, port 465) through the CLI: an smtps:// target, --tls implicit and a
scenario's `tls: implicit`, against aiosmtpd listening with TLS on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from certs import Authority
from tls_servers import aiosmtpd_tls, server_context

from probe.targets import parse_target

PLAIN = "name: smtps\nsteps:\n  - ehlo: probe.test\n  - quit\n"


@pytest.fixture(scope="module")
def implicit_target(tmp_path_factory: pytest.TempPathFactory):
    authority = Authority(tmp_path_factory.mktemp("ca"))
    context = server_context(*authority.issue("mx", "mx.probe.test"))
    with aiosmtpd_tls(context, implicit=True) as target:
        yield target


def test_smtps_target_form():
    target = parse_target("smtps://mx.example.test")
    assert (target.host, target.port, target.implicit_tls) == ("mx.example.test", 465, True)
    assert target.explicit_port  # a host to submit to: no MX lookup
    assert parse_target("smtps://[::1]:2465").port == 2465
    assert not parse_target("mx.example.test").implicit_tls


@pytest.mark.parametrize("how", ["smtps-target", "option", "scenario"])
def test_implicit_tls_greets_inside_tls(cli, tmp_path: Path, implicit_target: str, how: str):
    text, target, options = PLAIN, implicit_target, []
    if how == "smtps-target":
        target = f"smtps://{implicit_target}"
    elif how == "option":
        options = ["--tls", "implicit"]
    else:
        text = text.replace("steps:", "tls: implicit\nsteps:")
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("run", str(path), target, "--format", "json", "--timeout", "5", *options)
    assert result.code == 0, result.stdout + result.stderr
    session = result.json()["results"][0]
    assert session["tls"]["mode"] == "implicit"
    assert session["tls"]["version"] == "TLSv1.3"
    connect = session["steps"][0]
    assert connect["reply"]["code"] == 220
    assert any(f["message"].startswith("implicit TLS established") for f in connect["findings"])


def test_implicit_tls_against_a_plaintext_server_is_an_error(cli, tmp_path: Path, aiosmtpd_server):
    path = tmp_path / "s.yaml"
    path.write_text(PLAIN, encoding="utf-8")
    result = cli(
        "run", str(path), f"smtps://{aiosmtpd_server}", "--timeout", "2", "--format", "json"
    )
    assert result.code == 3, result.stdout + result.stderr
    connect = result.json()["results"][0]["steps"][0]
    assert connect["verdict"] == "error"
    assert "TLS handshake" in connect["reason"]
