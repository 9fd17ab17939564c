"""The bundled auth and submission scenarios (RFC 4954, RFC 6409) through the CLI, against aiosmtpd
on loopback with STARTTLS (or implicit TLS) and an authenticator (tests/tls_servers.py).

The credentials never sit in a file: the user name is a --var, the password comes from the
environment (`${secret:SMTP_PROBE_PASSWORD}`), and no output shows the password or any form of it
(base64, the PLAIN blob, the CRAM response, the SCRAM proof)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from certs import Authority
from servers import Behaviour, ScriptedServer, ehlo
from tls_servers import PASSWORD, USER, AuthHandler, aiosmtpd_tls, server_context, starttls_server

ENV = {"SMTP_PROBE_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def context(authority: Authority) -> Any:
    return server_context(*authority.issue("mx", "mx.probe.test", ip="127.0.0.1"))


def run(cli, authority: Authority, scenario: str, target: str, *options: str, **env: str) -> Any:
    args = [
        "run",
        scenario,
        target,
        "--var",
        f"username={USER}",
        "--cafile",
        str(authority.ca_path),
    ]
    result = cli(*args, "--timeout", "5", "--format", "json", *options, env={**ENV, **env})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def steps(result: Any) -> dict[str, dict[str, Any]]:
    session = result.json()["results"][0]
    return {step["name"]: step for step in session["steps"]}


def secret_forms(handler: AuthHandler) -> list[bytes]:
    forms = [PASSWORD.encode(), f"\0{USER}\0{PASSWORD}".encode(), *handler.responses]
    return [f for form in forms for f in (form, base64.b64encode(form))]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_auth_scenario_with_each_mechanism(cli, tmp_path: Path, authority, context, mechanism):
    handler = AuthHandler()
    with aiosmtpd_tls(context, handler=handler) as target:
        result = run(cli, authority, "auth", target, "--var", f"mechanism={mechanism}",
                     "--report-dir", str(tmp_path))  # fmt: skip
        text = run(cli, authority, "auth", target, "--var", f"mechanism={mechanism}",
                   "--format", "text", "-v")  # fmt: skip
    found = steps(result)
    first = found[f"auth {mechanism} {USER}"]
    assert (first["verdict"], first["reply"]["code"]) == ("pass", 235), json.dumps(first)
    second = found["a second AUTH after a successful one (503, RFC 4954 §4)"]
    assert (second["verdict"], second["reply"]["code"]) == ("pass", 503), json.dumps(second)
    # aiosmtpd 1.4 checks the credentials of an AUTH inside a mail transaction (535) where
    # RFC 4954 §4 wants 503: the one failure of the run.
    assert result.code == 1, result.stdout
    failed = [name for name, step in found.items() if step["verdict"] == "fail"]
    assert failed == [TRANSACTION], failed
    assert found[TRANSACTION]["reply"]["code"] == 535
    report = next(tmp_path.glob("*.json")).read_bytes()
    for output in (result.stdout.encode(), result.stderr.encode(), text.stdout.encode(), report):
        for secret in secret_forms(handler):
            assert secret not in output, (mechanism, secret)


TRANSACTION = "AUTH inside a mail transaction (503, RFC 4954 §4; dummy credentials)"
CANCEL = 'AUTH PLAIN without an initial response, cancelled with "*" (501, RFC 4954 §4)'
NOT_BASE64 = "a response that is not base64 (501 5.5.2, RFC 4954 §4)"
AUTH_PARAMETER = "MAIL with AUTH=<> before authenticating (RFC 4954 §5)"
BEFORE_EHLO = "AUTH before EHLO (dummy credentials)"


def test_the_exchange_rules_need_no_credentials(cli, authority, context):
    """aiosmtpd keeps RFC 4954 §4's rules of the exchange: "*" gets 501, a response that is not
    base64 gets 501 5.5.2, AUTH PLAIN alone gets the empty challenge "334 "; it refuses AUTH
    before EHLO (503) and does not know MAIL's AUTH= parameter (555: a warning)."""
    with aiosmtpd_tls(context, handler=AuthHandler()) as target:
        result = cli("run", "auth", target, "--format", "json", env={"SMTP_PROBE_PASSWORD": ""})
    found = steps(result)
    cancel = found[CANCEL]
    assert cancel["verdict"] == "pass", json.dumps(cancel)
    assert [e["reply"]["lines"] for e in cancel["exchanges"]] == [
        ["334 "],
        ["501 5.7.0 Auth aborted"],
    ]
    assert [e["sent"] for e in cancel["exchanges"]] == ["AUTH PLAIN\r\n", "*\r\n"]
    undecodable = found[NOT_BASE64]
    assert undecodable["verdict"] == "pass" and undecodable["reply"]["code"] == 501
    assert undecodable["reply"]["lines"][0].startswith("501 5.5.2")
    assert found[BEFORE_EHLO]["reply"]["code"] == 503 and found[BEFORE_EHLO]["verdict"] == "pass"
    parameter = found[AUTH_PARAMETER]
    assert (parameter["verdict"], parameter["reply"]["code"]) == ("warn", 555)
    assert "MUST support the AUTH parameter" in json.dumps(parameter["findings"][0])


def careless_auth_server(context: Any) -> Behaviour:
    """A STARTTLS server whose AUTH breaks each rule of RFC 4954 §4: a challenge with text to
    AUTH PLAIN, 535 to the cancel line, a 501 without 5.5.2 (ENHANCEDSTATUSCODES advertised) to a
    response that is not base64, a 334 to AUTH inside a mail transaction."""
    return starttls_server(
        context,
        ehlo_after=ehlo("ENHANCEDSTATUSCODES", "AUTH PLAIN"),
        AUTH=b"334 UGxlYXNlIGF1dGhlbnRpY2F0ZQ==\r\n",
        **{
            "*": b"535 5.7.8 no\r\n",
            "!!!NOT-BASE64!!!": b"501 5.5.4 bad\r\n",
        },
    )


def test_a_server_that_breaks_the_exchange_rules_fails(cli, authority, context):
    with ScriptedServer(careless_auth_server(context)) as server:
        result = cli("run", "auth", server.target, "--format", "json",
                     env={"SMTP_PROBE_PASSWORD": ""})  # fmt: skip
    assert result.code == 1, result.stdout
    found = steps(result)

    def messages(name: str, verdict: str) -> list[str]:
        return [f["message"] for f in found[name]["findings"] if f["verdict"] == verdict]

    assert found[CANCEL]["verdict"] == "fail"
    assert any("334 reply with no text part" in m for m in messages(CANCEL, "warn"))
    assert any("by sending a 501 reply" in m for m in messages(CANCEL, "fail"))
    assert any("with enhanced code 5.5.4" in m for m in messages(NOT_BASE64, "fail"))
    assert any("a mail transaction is open" in m for m in messages(TRANSACTION, "fail"))


def test_a_second_auth_that_is_accepted_fails(cli, authority, context):
    """A server that lets a client authenticate twice breaks RFC 4954 §4's MUST (503)."""
    careless = starttls_server(
        context,
        ehlo_after=ehlo("AUTH PLAIN LOGIN"),
        AUTH=b"235 2.7.0 Authentication successful\r\n",
    )
    with ScriptedServer(careless) as server:
        result = run(cli, authority, "auth", server.target)
    assert result.code == 1, result.stdout
    second = steps(result)["a second AUTH after a successful one (503, RFC 4954 §4)"]
    assert second["verdict"] == "fail"
    assert second["findings"][0]["source"] == "RFC 4954 §4", second
    assert "MUST reject any further AUTH commands with a 503" in second["findings"][0]["message"]


@pytest.mark.parametrize(
    ("options", "verdict", "mail_before"),
    [
        ({}, "fail", 250),  # AUTH offered, MAIL accepted without it
        ({"auth_required": True}, "pass", 530),
    ],
    ids=["open", "auth-required"],
)
def test_submission_requires_auth_before_mail(
    cli, authority, context, options: dict, verdict: str, mail_before: int
):
    with aiosmtpd_tls(context, handler=AuthHandler(), **options) as target:
        result = run(cli, authority, "submission", target)
    session = result.json()["results"][0]
    assert session["verdict"] == verdict, result.stdout
    found = steps(result)
    before = found["MAIL inside TLS, before AUTH"]
    assert before["reply"]["code"] == mail_before
    if verdict == "fail":
        [finding] = [f for f in before["findings"] if f["verdict"] == "fail"]
        assert finding["source"] == "scenario auth: required; RFC 6409 §4.3"
        assert "MUST by default issue an error reply to the MAIL command" in finding["message"]
    else:
        # 530 is RFC 4954's answer, and the scenario declares the policy: no warning about it.
        assert before["verdict"] == "pass" and not [
            f for f in before["findings"] if f["verdict"] == "warn"
        ], before
    assert found[f"auth PLAIN {USER}"]["reply"]["code"] == 235
    assert found["MAIL after AUTH"]["reply"]["code"] == 250
    assert not [s for s in session["steps"] if s["kind"] == "data"]  # nothing is submitted


def test_submission_over_implicit_tls(cli, authority, context):
    # aiosmtpd's auth_require_tls looks for STARTTLS only: with implicit TLS it would hide AUTH.
    settings = {"auth_required": True, "auth_require_tls": False}
    with aiosmtpd_tls(context, implicit=True, handler=AuthHandler(), **settings) as target:
        result = run(cli, authority, "submission", f"smtps://{target}")
    assert result.code == 0, result.stdout
    found = steps(result)
    assert found["MAIL before STARTTLS and AUTH"]["verdict"] == "skip"  # never in the clear
    assert found["starttls"]["verdict"] == "skip"
    assert found["MAIL inside TLS, before AUTH"]["reply"]["code"] == 530
    assert found[f"auth PLAIN {USER}"]["reply"]["code"] == 235


def test_no_password_in_the_clear(cli, authority):
    """A server offering AUTH without TLS: the AUTH steps with your credentials do not run (when:
    {tls: true}); only the dummy credentials of the exchange rules go out in the clear."""
    server_behaviour = Behaviour(replies={"EHLO": ehlo("AUTH PLAIN LOGIN")})
    for scenario in ("auth", "submission"):
        with ScriptedServer(server_behaviour) as server:
            result = run(cli, authority, scenario, server.target)
        received = b"".join(server.received)
        assert PASSWORD.encode() not in received and USER.encode() not in received, scenario
        for line in server.received:
            if line.startswith(b"AUTH PLAIN "):
                assert base64.b64decode(line.split()[2]).startswith(b"\0smtp-probe-nobody\0")
        auths = [s for s in result.json()["results"][0]["steps"] if s["kind"] == "auth"]
        mine = [s for s in auths if s["name"].endswith(USER)]
        assert mine and all(s["verdict"] == "skip" for s in mine)
        assert all("not inside TLS" in s["reason"] for s in mine), mine


def test_the_mechanism_is_checked_when_bound(cli, tmp_path: Path):
    result = cli("run", "auth", "127.0.0.1:9", "--var", f"username={USER}",
                 "--var", "mechanism=PLAN", env=ENV)  # fmt: skip
    assert result.code == 2 and result.stdout == ""
    assert "after expanding variables, 'mechanism' must be PLAIN or LOGIN" in result.stderr
    assert "got 'PLAN'" in result.stderr
    result = cli("validate", "auth", "submission")
    assert result.code == 0, result.stdout + result.stderr


def test_without_credentials_the_auth_steps_are_not_applicable(cli, authority, context):
    # No SMTP_PROBE_PASSWORD: the AUTH steps with credentials are skipped as not applicable (only
    # the dummy ones of the exchange rules go out), and the rest of the scenario is judged (so
    # `run scenarios/ TARGET` works too).
    environ = {"SMTP_PROBE_PASSWORD": ""}  # set but empty counts as not given, as unset does
    with aiosmtpd_tls(context, handler=AuthHandler()) as target:
        result = cli(
            "run", "auth", target, "--var", f"username={USER}", "--cafile",
            str(authority.ca_path), "--format", "json", env=environ,
        )  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr  # aiosmtpd: AUTH in a transaction
    steps = result.json()["results"][0]["steps"]
    auths = [s for s in steps if s["kind"] == "auth" and "given" in (s.get("reason") or "")]
    assert len(auths) == 2 and all(s["verdict"] == "skip" for s in auths)
    assert auths[0]["reason"] == (
        "not applicable: no value was given for password (when: given username password and "
        "tls true)"
    )
    # Only the dummy credentials went out.
    sent = [e["sent"] for s in steps for e in s["exchanges"] if e["command"] == "AUTH"]
    assert sent and not any(USER in line for line in sent)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth: maybe\nsteps: [quit]\n", "'auth' must be required, got 'maybe'"),
        ("steps:\n  - quit: {when: {tls: maybe}}\n", "'tls' must be true or false"),
        ("steps:\n  - auth: {mechanism: PLAN, username: u, password: p}\n", "did you mean 'PLAIN'"),
    ],
)
def test_format_mistakes_are_named(cli, tmp_path: Path, text: str, message: str):
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", str(path))
    assert result.code == 2 and message in result.stdout + result.stderr, result.stderr


def test_respond_with_no_challenge_to_answer_sends_nothing(cli, tmp_path: Path):
    """PLAIN not offered (504): the cancel line is never sent, and the step says the rule could
    not be seen (information, not a pass of the rule)."""
    path = tmp_path / "cancel.yaml"
    path.write_text(
        "name: cancel\nsteps:\n  - ehlo: probe.test\n"
        "  - auth: {mechanism: PLAIN, initial_response: false, respond: '*'}\n",
        encoding="utf-8",
    )
    behaviour = Behaviour(
        replies={"EHLO": ehlo("AUTH CRAM-MD5"), "AUTH": b"504 5.5.4 unrecognized type\r\n"}
    )
    with ScriptedServer(behaviour) as server:
        result = cli("run", str(path), server.target, "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    step = result.json()["results"][0]["steps"][-1]
    assert [e["sent"] for e in step["exchanges"]] == ["AUTH PLAIN\r\n"]
    assert any(
        f["verdict"] == "info"
        and f["message"].startswith("not applicable: the server answered 504")
        for f in step["findings"]
    ), step
    assert b"*" not in server.received
