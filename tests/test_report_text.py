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
from servers import Action, Behaviour, ScriptedServer, ehlo, sequence

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


def in_turn(*replies: bytes) -> Action:
    """Each reply in turn, then the last again (one connection: the count is the server's)."""
    sent = 0

    async def act(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.write(replies[min(sent, len(replies) - 1)])
        sent += 1
        await writer.drain()

    return act


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


def run_text(cli, tmp_path: Path, behaviour: Behaviour, steps: str, *options: str) -> list[str]:
    path = scenario(tmp_path, "s", steps)
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--no-report", "--timeout", "5", *options,
                     timeout=30)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return [line.replace(server.target, "SERVER") for line in lines(result.stdout)]


# ---- what EHLO advertised, and the TLS session, under the server's line --------------------

QUIT_MUST = (
    'quit: QUIT MUST be answered 221, got 250: "This command specifies that the receiver MUST '
    'send a "221 OK" reply, and then close the transmission channel."'
)


def test_a_failed_server_shows_the_ehlo_after_starttls_and_the_tls_session(cli, tmp_path: Path):
    # Before TLS the server offers STARTTLS; in the TLS session, AUTH: the line shows what the
    # last EHLO got, the one the session went on with.
    behaviour = tls_server(
        EHLO=in_turn(
            ehlo("PIPELINING", "SIZE 10240000", "STARTTLS"),
            ehlo("PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN"),
        ),
        QUIT=b"250 bye\r\n",
    )
    shown = run_text(cli, tmp_path, behaviour, TLS_STEPS)
    assert shown[:4] == [
        "FAIL  s -> SERVER  [4 pass, 1 fail]  N ms",
        f"      {QUIT_MUST}",
        "      EHLO: PIPELINING SIZE 10240000 AUTH PLAIN LOGIN",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
    ]
    assert shown[4].startswith("  FAIL  quit  (")


def test_a_starttls_with_no_ehlo_after_it_still_shows_what_ehlo_advertised(cli, tmp_path: Path):
    behaviour = tls_server(QUIT=b"250 bye\r\n")
    shown = run_text(cli, tmp_path, behaviour, "  - ehlo: a.test\n  - starttls\n  - quit\n")
    assert shown[2:4] == [
        "      EHLO: PIPELINING SIZE 10240000 8BITMIME STARTTLS",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
    ]


def test_a_passed_server_shows_ehlo_and_tls_with_v_only(cli, tmp_path: Path):
    quiet = run_text(cli, tmp_path, tls_server(), TLS_STEPS)
    assert quiet[:2] == ["PASS  s -> SERVER  [5 pass]  N ms", ""]
    assert not [line for line in quiet if "EHLO:" in line or "TLS:" in line]
    verbose = run_text(cli, tmp_path, tls_server(), TLS_STEPS, "-v")
    assert verbose[:4] == [
        "PASS  s -> SERVER  [5 pass]  N ms",
        "      EHLO: PIPELINING SIZE 10240000 8BITMIME STARTTLS",
        f"      TLS: {TLS_VERSION}, {TLS_CIPHER}",
        "  PASS  connect (implicit)  (" + str(tmp_path / "s.yaml") + ":3:5)",
    ]


LONG_EHLO = ehlo(
    "PIPELINING", "SIZE 52428800", "ETRN", "STARTTLS",
    "AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2",
    "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING",
)  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        pytest.param(
            LONG_EHLO,
            "      EHLO: PIPELINING SIZE 52428800 ETRN STARTTLS AUTH PLAIN LOGIN CRAM-MD5 "
            "DIGEST-MD5... ENHANCEDSTATUSCODES ... (+4 more)",
            id="cut-at-whole-words",
        ),
        pytest.param(
            ehlo("AUTH=PLAIN LOGIN", "SIZE"),
            "      EHLO: AUTH=PLAIN LOGIN SIZE",
            id="obsolete-auth-form",
        ),
        pytest.param(b"250 broken.test\r\n", "      EHLO: (no extensions)", id="none"),
        pytest.param(b"502 5.5.2 no EHLO here\r\n", None, id="ehlo-refused"),
    ],
)
def test_the_ehlo_line(cli, tmp_path: Path, reply: bytes, shown: str | None):
    report = run_text(
        cli, tmp_path, Behaviour(replies={"EHLO": reply}), "  - ehlo: a.test\n  - quit\n", "-v"
    )
    assert report[0].startswith("PASS  s -> SERVER  ["), report
    assert report[1] == shown if shown else report[1].startswith("  PASS  connect (implicit)")
