"""TLS servers for the tests, on loopback: server contexts from `certs.Authority`, scripted servers
that switch to TLS after STARTTLS (keeping, or discarding, what the client sent before the
handshake), and aiosmtpd with STARTTLS, implicit TLS and an authenticator."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servers import Action, Behaviour, ehlo, sequence

from probe.demo import LOOPBACK, free_port

USER, PASSWORD = "probe-user", "s3cret-Pa55word"


def server_context(chain: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain, key)
    return context


def upgrade(context: ssl.SSLContext, discard: bool = True) -> Action:
    """Switch to TLS after the 220. `discard`: drop what the client sent before the handshake
    (RFC 3207 §4.2); without it the server answers that plaintext inside TLS (CVE-2011-0411)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        if discard:
            reader: Any = writer._reader  # type: ignore[attr-defined]
            reader._buffer.clear()
        await writer.start_tls(context)

    return act


def starttls_server(
    context: ssl.SSLContext,
    discard: bool = True,
    ehlo_after: bytes | None = None,
    **replies: Action,
) -> Behaviour:
    """A scripted server offering STARTTLS; `ehlo_after` is its EHLO reply inside TLS."""
    before = ehlo("PIPELINING", "STARTTLS")
    after = ehlo_after if ehlo_after is not None else ehlo("PIPELINING")
    count = 0

    async def answer_ehlo(writer: asyncio.StreamWriter) -> None:
        nonlocal count
        writer.write(before if count == 0 else after)
        count += 1
        await writer.drain()

    starttls = sequence(b"220 2.0.0 ready to start TLS\r\n", upgrade(context, discard))
    return Behaviour(replies={"EHLO": answer_ehlo, "STARTTLS": starttls, **replies})


class _Authenticator:
    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(data, LoginPassword):
            ok = data.login == USER.encode() and data.password == PASSWORD.encode()
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


@contextmanager
def aiosmtpd_tls(
    context: ssl.SSLContext, implicit: bool = False, handler: Any = None, **options: Any
) -> Iterator[str]:
    """aiosmtpd on loopback with STARTTLS (or implicit TLS) and AUTH PLAIN/LOGIN for USER; yields
    HOST:PORT."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    port = free_port()
    settings: dict[str, Any] = {
        "authenticator": _Authenticator(),
        "auth_require_tls": True,
        **options,
    }
    if implicit:
        settings["ssl_context"] = context
    else:
        settings["tls_context"] = context
    handler = handler if handler is not None else Sink()
    controller = Controller(handler, hostname=LOOPBACK, port=port, **settings)
    controller.start()
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        controller.stop()


class AuthHandler:
    """aiosmtpd handler (a sink) adding CRAM-MD5, XOAUTH2 and SCRAM-SHA-256 for USER/PASSWORD
    (the XOAUTH2 token is PASSWORD); `responses` keeps every client response it decoded, so a
    test can look for them in the reports."""

    def __init__(self) -> None:
        self.responses: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"

    async def auth_CRAM__MD5(self, server: Any, args: list[str]) -> Any:
        import hashlib
        import hmac

        from aiosmtpd.smtp import MISSING, AuthResult

        challenge = b"<1896.697170952@mx.probe.test>"
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=False)
        self.responses.append(response)
        digest = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest().encode()
        return AuthResult(success=response == USER.encode() + b" " + digest, handled=False)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        import base64

        from aiosmtpd.smtp import AuthResult

        blob = base64.b64decode(args[1]) if len(args) > 1 else b""
        self.responses.append(blob)
        wanted = f"user={USER}\x01auth=Bearer {PASSWORD}\x01\x01".encode()
        return AuthResult(success=blob == wanted, handled=False)

    async def auth_SCRAM__SHA__256(self, server: Any, args: list[str]) -> Any:
        import base64
        import hashlib
        import hmac
        import os

        from aiosmtpd.smtp import MISSING, AuthResult

        first = base64.b64decode(args[1])  # the client-first message holds no secret
        bare = first.split(b",", 2)[2]
        fields = dict(part.split(b"=", 1) for part in bare.split(b","))
        nonce = fields[b"r"] + base64.b64encode(os.urandom(12))
        salt, rounds = os.urandom(16), 4096
        server_first = (
            b"r=" + nonce + b",s=" + base64.b64encode(salt) + b",i=" + str(rounds).encode()
        )
        final = await server.challenge_auth(server_first)
        if final is MISSING:
            return AuthResult(success=False, handled=False)
        self.responses.append(final)
        without_proof, _, proof = final.rpartition(b",p=")
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, rounds)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        message = bare + b"," + server_first + b"," + without_proof
        signature = hmac.new(stored, message, "sha256").digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        if base64.b64decode(proof) != expected:
            return AuthResult(success=False, handled=False)
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        verifier = hmac.new(server_key, message, "sha256").digest()
        await server.challenge_auth(b"v=" + base64.b64encode(verifier))
        return AuthResult(success=True)
