"""Scenario authoring (issue 18), each feature through the CLI against a real local server."""

from __future__ import annotations

import json
from pathlib import Path

from servers import Behaviour, ScriptedServer, ehlo


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_env_values_are_shown_and_secrets_are_masked(cli, tmp_path: Path):
    scenario = _write(
        tmp_path,
        "name: env\nvars:\n  domain: ${env:MAIL_DOMAIN}\n  token: ${secret:TOKEN}\n"
        "  helo: ${env:HELO_NAME:-client.example.test}\n"
        "steps:\n  - ehlo: ${helo}\n  - mail: probe@${domain}\n  - send: XTOKEN ${token}\n"
        "  - quit\n",
    )
    # The server echoes the domain in its greeting, as real ones echo their own name.
    behaviour = Behaviour(
        greeting=b"220 mx.example.test ESMTP\r\n", replies={"EHLO": ehlo("PIPELINING")}
    )
    env = {"MAIL_DOMAIN": "example.test", "TOKEN": "s3cr3t-t0ken"}
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(scenario), server.target, "-v", "--format", "json", env=env)
        sent = b"".join(server.received)
    assert result.code in (0, 1), result.stdout + result.stderr
    assert b"XTOKEN s3cr3t-t0ken" in sent and b"EHLO client.example.test" in sent
    steps = json.loads(result.stdout)["results"][0]["steps"]
    commands = [s["command"] for s in steps]
    assert "MAIL FROM:<probe@example.test>" in commands
    assert "XTOKEN ****" in commands
    assert "s3cr3t-t0ken" not in result.stdout + result.stderr
    greeting = steps[0]["reply"]["lines"][0]
    assert greeting == "220 mx.example.test ESMTP"  # not "mx.**** ESMTP"
