"""What both drivers share: the TLS client context, and how an OS error is put in words."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

CHUNK = 4096  # bytes per read: the reply parser's memory bound assumes reads of this size


def client_context(verify: bool) -> ssl.SSLContext:
    import ssl  # here, not above: a session without STARTTLS needs none of it

    context = ssl.create_default_context()
    if not verify:
        # A probe must reach servers with self-signed certificates; --tls-verify checks them.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def peer_chain(tls: ssl.SSLSocket | ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates the server sent (DER), its own first. Python 3.13 has
    get_unverified_chain(); 3.10-3.12 have it on the private _sslobj; else the leaf alone."""
    import ssl

    get = getattr(tls, "get_unverified_chain", None) or getattr(
        getattr(tls, "_sslobj", None), "get_unverified_chain", None
    )
    if get is not None:
        try:
            chain = get() or []
            return tuple(
                c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                for c in chain
            )
        except (ssl.SSLError, ValueError, AttributeError):
            pass
    leaf = tls.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def connect_error(exc: OSError) -> str:
    """asyncio's strerror is "Connect call failed (...)"; the errno says what happened."""
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))


def tls_error(exc: BaseException) -> str:
    """A TLS failure in words: the alert or library reason, or what the OS said, not the name
    of an exception class."""
    import ssl

    # asyncio raises a bare ConnectionResetError (no errno) when the peer closes mid-handshake.
    bare_reset = isinstance(exc, ConnectionResetError) and exc.errno is None
    # SSLZeroReturnError: some OpenSSL builds (Debian's 3.0) report a close that way.
    closed = (ssl.SSLEOFError, ssl.SSLZeroReturnError, EOFError)
    if isinstance(exc, closed) or bare_reset:
        return "the server closed the connection during the handshake"
    if isinstance(exc, ssl.SSLError):
        text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc))
        return text or exc.reason or "TLS error"
    if isinstance(exc, ConnectionResetError):
        return "the server reset the connection during the handshake"
    if isinstance(exc, (BrokenPipeError, ConnectionAbortedError)):
        return "the connection broke during the handshake"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or f"the handshake failed ({type(exc).__name__})"
