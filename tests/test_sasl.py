"""probe.session.sasl against the RFCs' own examples: PLAIN (RFC 4616 §4), CRAM-MD5 (RFC 2195 §2),
SCRAM-SHA-1 (RFC 5802 §5), SCRAM-SHA-256 (RFC 7677 §3), XOAUTH2 (the example of Google's
documentation). The client nonce is the only random input: the tests give it the RFC's.

Each line sent carries its report form (`Line.shown`): whatever gives the secret away (the
password, its base64, a CRAM digest, a SCRAM proof, the XOAUTH2 blob) is ****, and every such form
is in `client.secrets`, so the session masks it wherever else it turns up."""

from __future__ import annotations

import base64

import pytest

from probe.session import sasl
from probe.session.sasl import CANCEL, SaslClient, SaslError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sent(line: sasl.Line) -> bytes:
    assert line.data.endswith(b"\r\n")
    return line.data[:-2]


def shown(line: sasl.Line) -> bytes:
    return line.shown[:-2]


def nonce(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """The client nonce the RFC's example uses (the client sends base64 of random bytes)."""
    raw = base64.b64decode(text)
    assert base64.b64encode(raw).decode() == text
    monkeypatch.setattr(sasl.random, "token_bytes", lambda n: raw)


def test_plain_rfc_4616():
    # RFC 4616 §4: authorization identity empty, "tim", "tanstaaftanstaaf".
    client = SaslClient("PLAIN", "tim", "tanstaaftanstaaf")
    line = client.first()
    assert sent(line) == b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
    assert shown(line) == b"AUTH PLAIN ****"
    assert b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm" in client.secrets
    assert line.has_argument and client.done
    # A further 334 after everything was said is cancelled (RFC 4954 §4).
    assert client.respond("").data == CANCEL


def test_plain_without_the_initial_response_sends_it_after_the_empty_challenge():
    # RFC 4954 §4: "AUTH PLAIN" alone, the server's "334 " (no data), then the same message.
    client = SaslClient("PLAIN", "tim", "tanstaaftanstaaf", initial=False)
    line = client.first()
    assert sent(line) == b"AUTH PLAIN" and shown(line) == b"AUTH PLAIN" and line.has_argument
    response = client.respond("")
    assert sent(response) == b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm" and shown(response) == b"****"
    assert not response.has_argument  # a response inside the exchange, not a command
    assert client.respond("").data == CANCEL  # nothing more to say
    # LOGIN has no initial response: the option changes nothing.
    assert sent(SaslClient("LOGIN", "tim", "x", initial=False).first()) == b"AUTH LOGIN"


def test_login():
    client = SaslClient("LOGIN", "tim", "tanstaaftanstaaf")
    assert sent(client.first()) == b"AUTH LOGIN"
    user = client.respond(b64("Username:"))
    assert sent(user) == b"dGlt" and shown(user) == b"dGlt"
    password = client.respond(b64("Password:"))
    assert sent(password) == base64.b64encode(b"tanstaaftanstaaf")
    assert shown(password) == b"****"
    assert base64.b64encode(b"tanstaaftanstaaf") in client.secrets


def test_cram_md5_rfc_2195():
    # RFC 2195 §2: the challenge, user "tim", secret "tanstaaftanstaaf".
    client = SaslClient("CRAM-MD5", "tim", "tanstaaftanstaaf")
    assert sent(client.first()) == b"AUTH CRAM-MD5"
    line = client.respond("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
    assert sent(line) == b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    assert base64.b64decode(sent(line)) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert shown(line) == b"****"
    assert b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" in client.secrets
    assert b"b913a602c7eda7a495b4e6e7334d3890" in client.secrets


def test_cram_md5_challenge_not_base64():
    client = SaslClient("CRAM-MD5", "tim", "tanstaaftanstaaf")
    client.first()
    with pytest.raises(SaslError, match="not base64"):
        client.respond("<1896.697170952@postoffice.reston.mci.net>")


@pytest.mark.parametrize(
    ("mechanism", "client_nonce", "server_first", "client_final", "server_final"),
    [
        (  # RFC 5802 §5, user "user", password "pencil"
            "SCRAM-SHA-1",
            "fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        ),
        (  # RFC 7677 §3, user "user", password "pencil"
            "SCRAM-SHA-256",
            "rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
            "i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        ),
    ],
    ids=["rfc5802", "rfc7677"],
)
def test_scram_rfc_examples(
    monkeypatch: pytest.MonkeyPatch,
    mechanism: str,
    client_nonce: str,
    server_first: str,
    client_final: str,
    server_final: str,
):
    nonce(monkeypatch, client_nonce)
    client = SaslClient(mechanism, "user", "pencil")
    first = client.first()
    assert sent(first) == f"AUTH {mechanism} {b64(f'n,,n=user,r={client_nonce}')}".encode()
    assert shown(first) == sent(first)  # the client-first message holds no secret
    final = client.respond(b64(server_first))
    assert base64.b64decode(sent(final)).decode() == client_final
    proof = client_final.rpartition(",p=")[2].encode()
    # The report shows the message without the proof; the proof is a secret in every form.
    assert proof not in shown(final) and shown(final).endswith(b"****")
    assert base64.b64decode(shown(final)[: -len(b"****")]).decode() + "<proof>" == (
        client_final.rpartition(",p=")[0] + ",p=<proof>"
    )
    assert proof in client.secrets and sent(final) in client.secrets
    # The server proves it holds the verifier: the client has nothing more to say.
    last = client.respond(b64(server_final))
    assert sent(last) == b"" and client.done


def test_scram_server_signature_that_does_not_verify(monkeypatch: pytest.MonkeyPatch):
    nonce(monkeypatch, "fyko+d2lbbFgONRv9qkxdawL")
    client = SaslClient("SCRAM-SHA-1", "user", "pencil")
    client.first()
    client.respond(b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"))
    with pytest.raises(SaslError, match="server signature does not verify"):
        client.respond(b64("v=" + base64.b64encode(b"\0" * 20).decode()))


def test_scram_server_nonce_must_extend_the_clients(monkeypatch: pytest.MonkeyPatch):
    nonce(monkeypatch, "fyko+d2lbbFgONRv9qkxdawL")
    client = SaslClient("SCRAM-SHA-256", "user", "pencil")
    client.first()
    with pytest.raises(SaslError, match=r"RFC 5802 §5\.1"):
        client.respond(b64("r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096"))
    client = SaslClient("SCRAM-SHA-256", "user", "pencil")
    client.first()
    with pytest.raises(SaslError, match="lacks"):
        client.respond(b64("r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92"))


def test_scram_user_name_escaped_rfc_5802():
    # RFC 5802 §5.1: "=" and "," in the name are sent as "=3D" and "=2C".
    client = SaslClient("SCRAM-SHA-256", "a=b,c", "pencil")
    message = base64.b64decode(sent(client.first()).split()[2])
    assert message.startswith(b"n,,n=a=3Db=2Cc,r=")


def test_xoauth2_google_example():
    # Google's XOAUTH2 documentation: the user, the access token, ^A separators.
    token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
    client = SaslClient("XOAUTH2", "someuser@example.com", token)
    line = client.first()
    blob = (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhk"
        b"SFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )
    assert sent(line) == b"AUTH XOAUTH2 " + blob
    assert shown(line) == b"AUTH XOAUTH2 ****" and blob in client.secrets
    # A 334 after the token carries the error as JSON: the client answers with an empty line.
    error = b64('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}')
    assert sent(client.respond(error)) == b""


@pytest.mark.parametrize("mechanism", sasl.MECHANISMS)
def test_no_line_shows_the_password(monkeypatch: pytest.MonkeyPatch, mechanism: str):
    """Whatever the mechanism, no shown line holds the password or its base64."""
    nonce(monkeypatch, "fyko+d2lbbFgONRv9qkxdawL")
    password = "tanstaaftanstaaf"
    client = SaslClient(mechanism, "tim", password)
    lines = [client.first()]
    challenges = {
        "LOGIN": [b64("Username:"), b64("Password:")],
        "CRAM-MD5": ["PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"],
        "SCRAM-SHA-1": [b64("r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=4096")],
        "SCRAM-SHA-256": [b64("r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=4096")],
    }.get(mechanism, [])
    lines += [client.respond(c) for c in challenges]
    forbidden = [password.encode(), base64.b64encode(password.encode())]
    for line in lines:
        for secret in forbidden + client.secrets:
            assert secret not in line.shown, (mechanism, line.shown)
