"""What both drivers share: the TLS client context, and how an OS error is put in words."""

from __future__ import annotations

import os
import ssl

CHUNK = 4096  # bytes per read: the reply parser's memory bound assumes reads of this size


def client_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        # A probe must reach servers with self-signed certificates; --tls-verify checks them.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_error(exc: OSError) -> str:
    """asyncio's strerror is "Connect call failed (...)"; the errno says what happened."""
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))


def tls_error(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
