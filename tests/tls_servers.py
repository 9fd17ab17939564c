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
            return AuthResult(success=ok)
        return AuthResult(success=False)


@contextmanager
def aiosmtpd_tls(context: ssl.SSLContext, implicit: bool = False, **options: Any) -> Iterator[str]:
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
    controller = Controller(Sink(), hostname=LOOPBACK, port=port, **settings)
    controller.start()
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        controller.stop()
