"""TLS facts through the CLI, against real TLS on loopback with certificates from a test
authority: the chain in the JSON and text reports, verification (a warning, a failure with
--tls-verify), the name checked being the MX host name, and --cert-days thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from certs import Authority
from servers import ScriptedServer
from tls_servers import server_context, starttls_server

SCENARIO = "name: tls\nsteps:\n  - ehlo: probe.test\n  - starttls\n  - ehlo: probe.test\n  - quit\n"
NAME = "mx.probe.test"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


def run(
    cli, tmp_path: Path, authority: Authority, cert: tuple[Path, Path], *options: str,
    name: bool = True, text: bool = False,
) -> tuple[Any, dict[str, Any] | str]:  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    with ScriptedServer(starttls_server(server_context(*cert))) as server:
        # The name the certificate is checked against is the host name of the target, not the
        # address it resolves to: --resolve pins it to the loopback server.
        target = f"{NAME}:{server.port}" if name else server.target
        args = ["run", str(path), target, "--resolve", f"{NAME}:127.0.0.1", "--timeout", "5"]
        args += ["--cafile", str(authority.ca_path), *options]
        if not text:
            args += ["--format", "json"]
        result = cli(*args)
    assert "Traceback" not in result.stderr, result.stderr
    return result, (result.stdout if text else result.json()["results"][0])


def starttls_findings(session: dict[str, Any]) -> list[tuple[str, str]]:
    step = next(s for s in session["steps"] if s["kind"] == "starttls")
    return [(f["verdict"], f["message"]) for f in step["findings"]]


def test_a_good_chain_verifies_and_the_json_holds_it(cli, tmp_path: Path, authority: Authority):
    result, session = run(cli, tmp_path, authority, authority.issue("good", NAME, days_after=90))
    assert result.code == 0, result.stdout
    tls = session["tls"]
    assert [c["subject"] for c in tls["chain"]] == [f"CN={NAME}", "CN=smtp-probe test CA"]
    leaf = tls["chain"][0]
    assert leaf["sans"] == [f"DNS:{NAME}"] and leaf["issuer"] == "CN=smtp-probe test CA"
    assert leaf["days_left"] in (89, 90)
    assert len(leaf["sha256"]) == 64
    assert tls["verification"] == {
        "trusted": True,
        "trust_store": str(authority.ca_path),
        "error": "",
        "name": NAME,
        "name_matches": True,
    }


@pytest.mark.parametrize(
    ("label", "issue", "message"),
    [
        ("expired", {"days_before": 60, "days_after": -3}, "the certificate expired on"),
        ("self-signed", {"self_signed": True}, "self-signed certificate"),
        ("wrong-name", {"hostname": "other.probe.test"}, f"does not name {NAME}"),
    ],
)
@pytest.mark.parametrize("verify", [False, True])
def test_certificate_problems_warn_and_fail_with_tls_verify(
    cli, tmp_path: Path, authority: Authority, label: str, issue: dict, message: str, verify: bool
):
    issue = dict(issue)  # the parameter is shared by both `verify` runs: do not change it
    hostname = issue.pop("hostname", NAME)
    cert = authority.issue(label, hostname, **issue)
    options = ["--tls-verify"] if verify else []
    result, session = run(cli, tmp_path, authority, cert, *options)
    wanted = "fail" if verify else "warn"
    found = [m for v, m in starttls_findings(session) if v == wanted and message in m]
    assert found, starttls_findings(session)
    assert result.code == (1 if verify else 0), result.stdout


def test_the_name_checked_is_the_host_name_not_the_address(
    cli, tmp_path: Path, authority: Authority
):
    _, session = run(cli, tmp_path, authority, authority.issue("good", NAME), name=False)
    assert session["tls"]["verification"]["name"] == "127.0.0.1"
    assert any("does not name 127.0.0.1" in m for v, m in starttls_findings(session) if v == "warn")


def test_cert_days_thresholds(cli, tmp_path: Path, authority: Authority):
    cert = authority.issue("soon", NAME, days_after=10)
    result, session = run(cli, tmp_path, authority, cert, "--cert-days", "30")
    assert result.code == 0
    assert any("within --cert-days 30" in m for v, m in starttls_findings(session) if v == "warn")
    result, session = run(
        cli, tmp_path, authority, cert, "--cert-days", "30", "--cert-days-critical", "14"
    )
    assert result.code == 1
    found = starttls_findings(session)
    assert any("within --cert-days-critical 14" in m for v, m in found if v == "fail"), found
    # Only the leaf is that close: the authority has years left.
    assert not [m for _, m in found if "certificate 1" in m]


def test_the_text_report_shows_the_tls_block(cli, tmp_path: Path, authority: Authority):
    cert = authority.issue("good", NAME, days_after=90)
    _, shown = run(cli, tmp_path, authority, cert, "-v", text=True)
    lines = [line for line in str(shown).splitlines() if line.startswith("      TLS:")]
    assert lines and lines[0].startswith("      TLS: TLSv1.3, TLS_")
    block = str(shown).split(lines[0], 1)[1].splitlines()[1:4]
    assert block[0].startswith(f"        cert 0: CN={NAME}; DNS:{NAME}; until ")
    assert block[0].endswith("; issuer CN=smtp-probe test CA")
    assert block[1].startswith("        cert 1: CN=smtp-probe test CA; no subjectAltName; until")
    assert block[2] == f"        chain: verifies against {authority.ca_path}; names {NAME}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda folder: folder / "missing.pem", "no such file"),
        (lambda folder: _folder(folder), "is a folder, not a regular file"),
        (lambda folder: _write(folder / "empty.pem", b""), "no PEM certificate"),
        (lambda folder: _write(folder / "key.pem", b"-----BEGIN PRIVATE KEY-----\n"), "no PEM"),
    ],
    ids=["missing", "folder", "empty", "not-a-certificate"],
)
def test_a_bad_cafile_is_a_usage_error_before_anything_is_sent(
    cli, tmp_path: Path, make: Any, reason: str
):
    import socket

    path = make(tmp_path / "ca")
    # A server that would see any connection, and a nameserver that would see any query.
    with socket.socket() as listener, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dns:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        dns.bind(("127.0.0.1", 0))
        dns.setblocking(False)
        nameserver = f"127.0.0.1:{dns.getsockname()[1]}"
        for target in (f"127.0.0.1:{port}", "example.test"):
            result = cli("run", "basic", target, "--var", "domain=example.test",
                         "--cafile", str(path), "--nameserver", nameserver)  # fmt: skip
            assert result.code == 2, result.stdout + result.stderr
            assert result.stdout == ""
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"smtp-probe: --cafile {path}: ")
            assert reason in lines[0], lines
        with pytest.raises(BlockingIOError):
            listener.accept()
        with pytest.raises(BlockingIOError):
            dns.recv(512)


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
