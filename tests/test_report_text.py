"""The report a user reads, through the CLI against servers on loopback: what EHLO advertised and
what TLS was negotiated under each server, the closing line's counts, the per-server roll-up of
several scenarios, and one line where several findings say the same thing about one reply code.
Every test asserts the exact lines a user sees (timings aside)."""

from __future__ import annotations

import asyncio
import re
import ssl
import tempfile
from pathlib import Path

import pytest
from certs import write_tls_pair
from servers import Behaviour, ScriptedServer, ehlo, sequence

EHLO = ehlo("PIPELINING", "SIZE 10240000", "8BITMIME", "STARTTLS")


# What the server below negotiates: TLS 1.2 with one cipher, so that the report is known exactly.
TLS_VERSION, TLS_CIPHER = "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"


def _server_tls() -> ssl.SSLContext:
    """A server context with a fresh self-signed (EC) certificate for localhost, offering only
    TLS_VERSION and TLS_CIPHER."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS_CIPHER)
    with tempfile.TemporaryDirectory(prefix="smtp-probe-report-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        write_tls_pair(cert, key, "localhost")
        context.load_cert_chain(cert, key)
    return context


def tls_server(**replies: bytes) -> Behaviour:
    """A server that offers STARTTLS and switches to TLS after its 220; `replies` add to or
    replace its replies."""
    context = _server_tls()

    async def upgrade(writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(context)

    return Behaviour(
        replies={"EHLO": EHLO, "STARTTLS": sequence(b"220 2.0.0 go ahead\r\n", upgrade), **replies}
    )


def scenario(tmp_path: Path, name: str, steps: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nsteps:\n{steps}", encoding="utf-8")
    return path


def lines(stdout: str) -> list[str]:
    """The report's lines, with durations (which vary) written as `N ms`."""
    return [re.sub(r"\b\d+ ms$", "N ms", line) for line in stdout.splitlines()]


TLS_STEPS = "  - ehlo: a.test\n  - starttls\n  - ehlo: a.test\n  - quit\n"


# ---- the TLS session in the JSON report ----------------------------------------------------


@pytest.mark.parametrize("driver", ["blocking", "aio"])
def test_the_json_report_names_the_tls_version_and_cipher(cli, tmp_path: Path, driver: str):
    first = scenario(tmp_path, "tls", TLS_STEPS)
    plain = scenario(tmp_path, "plain", "  - ehlo: a.test\n  - quit\n")
    # One session plays on the blocking driver; two at once on the asyncio driver.
    paths = [first] if driver == "blocking" else [first, plain]
    folder = tmp_path / "several"
    folder.mkdir()
    for path in paths:
        (folder / path.name).write_text(path.read_text())
    with ScriptedServer(tls_server()) as server:
        result = cli("run", str(folder), server.target, "--format", "json", "--no-report",
                     "--timeout", "5", timeout=30)  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    results = {r["scenario"]: r for r in result.json()["results"]}
    assert results["tls"]["tls"] == {"version": TLS_VERSION, "cipher": TLS_CIPHER}
    if driver == "aio":
        assert results["plain"]["tls"] is None
