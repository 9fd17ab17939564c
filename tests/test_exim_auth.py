"""AUTH against a real MTA: the private Exim with its own `plaintext` and `cram_md5` authenticators
(tests/exim_server.py, auth="offered"), AUTH advertised only inside TLS.

auth.yaml with each mechanism Exim offers: the user's AUTH gets 235, the second AUTH 503, and every
rule of RFC 4954 §4 that needs no credentials holds (Exim passes them all). No output format shows
the password or any form of it: its base64, the PLAIN blob, the LOGIN response, the CRAM-MD5
digest (worked out here from the challenge Exim sent, which the report does show).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from tls_servers import PASSWORD, USER

ENV = {"SMTP_PROBE_PASSWORD": PASSWORD}
FORMATS = ("text", "markdown", "tap", "nagios", "jsonl")


def secret_forms(mechanism: str, session: dict[str, Any]) -> list[str]:
    forms = [PASSWORD, f"\0{USER}\0{PASSWORD}", f"{USER}\0{USER}\0{PASSWORD}"]
    if mechanism == "CRAM-MD5":
        step = next(s for s in session["steps"] if s["name"] == f"auth CRAM-MD5 {USER}")
        challenge = base64.b64decode(step["exchanges"][0]["reply"]["lines"][0][4:])
        digest = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
        forms += [digest, f"{USER} {digest}"]
    return [text for form in forms for text in (form, base64.b64encode(form.encode()).decode())]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_scenario_against_exim(cli, tmp_path: Path, exim_auth_target: str, mechanism: str):
    base = ["run", "auth", exim_auth_target, "--var", f"username={USER}",
            "--var", f"mechanism={mechanism}"]  # fmt: skip
    result = cli(*base, "--format", "json", "--report-dir", str(tmp_path / "reports"),
                 "--junit", str(tmp_path / "j.xml"), "--html", str(tmp_path / "r.html"),
                 env=ENV)  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    session = result.json()["results"][0]
    found = {step["name"]: step for step in session["steps"]}
    mine = found[f"auth {mechanism} {USER}"]
    assert (mine["verdict"], mine["reply"]["code"]) == ("pass", 235), mine
    second = found["a second AUTH after a successful one (503, RFC 4954 §4)"]
    assert (second["verdict"], second["reply"]["code"]) == ("pass", 503), second
    assert not [name for name, step in found.items() if step["verdict"] == "fail"]
    outputs = [result.stdout, result.stderr]
    for fmt in FORMATS:
        other = cli(*base, "--format", fmt, "--no-report", "-v", env=ENV)
        assert other.code in (0, 1), other.stdout + other.stderr  # nagios: 1 is WARNING
        assert "Traceback" not in other.stderr
        outputs += [other.stdout, other.stderr]
    files = [*(tmp_path / "reports").glob("*.json"), tmp_path / "j.xml", tmp_path / "r.html"]
    assert len(files) == 3
    outputs += [path.read_text(encoding="utf-8") for path in files]
    for form in secret_forms(mechanism, session):
        for text in outputs:
            assert form not in text, (mechanism, form)


def test_wrong_credentials_are_a_warning_not_a_failure(cli, exim_auth_target: str):
    """535 to your own credentials breaks no RFC: the scenario's `level: should` (a warning)."""
    result = cli("run", "auth", exim_auth_target, "--var", f"username={USER}", "--format",
                 "json", env={"SMTP_PROBE_PASSWORD": "not-the-password"})  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    found = {s["name"]: s for s in result.json()["results"][0]["steps"]}
    mine = found[f"auth PLAIN {USER}"]
    assert (mine["verdict"], mine["reply"]["code"]) == ("warn", 535), mine
    # Not authenticated: the "second AUTH after a successful one" has nothing to test, and is
    # skipped as not applicable (`when: {accepted: login}`), with nothing sent.
    second = found["a second AUTH after a successful one (503, RFC 4954 §4)"]
    assert second["verdict"] == "skip" and second["exchanges"] == [], second
    assert "not applicable: login was refused (535)" in second["reason"], second
