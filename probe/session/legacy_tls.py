"""TLS 1.0 and 1.1 offered (RFC 8996): a handshake in which the client offers only those versions,
and what its outcome says. The context is built here; the handshake is the driver's, on a
connection of its own (`legacy_tls: true` on a starttls step, or on connect with implicit TLS).

RFC 8996 §4 and §5: "TLS 1.0 MUST NOT be used. Negotiation of TLS 1.0 from any version of TLS MUST
NOT be permitted." (and the same of TLS 1.1). A server that completes the handshake is reported
as a warning, the level the TLS issue sets for old versions offered: the probe itself offered
only what the same sentences forbid a client, and the session it got is closed at once.

Whether this client can offer them at all depends on the local OpenSSL (Debian's raises the
security level so that TLS 1.1 has no usable cipher unless asked for `@SECLEVEL=0`): when it
cannot, the check is not applicable, never a pass.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from typing import TYPE_CHECKING

from probe.results import Finding, Verdict

if TYPE_CHECKING:
    import ssl

SOURCE = "RFC 8996 §4, §5"
RULE = (
    '"TLS 1.1 MUST NOT be used. Negotiation of TLS 1.1 from any version of TLS MUST NOT be '
    'permitted." (§5; §4 says the same of TLS 1.0)'
)
CIPHERS = "DEFAULT:@SECLEVEL=0"  # OpenSSL 3 has no TLS 1.0/1.1 cipher at the default level


def legacy_context() -> ssl.SSLContext:
    """A client context offering TLS 1.0 and 1.1 only, never verifying (the chain is not judged
    on this connection)."""
    import ssl  # the drivers' business: the machine and the handlers stay free of it

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the versions are the point
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers(CIPHERS)
    return context


@functools.cache
def unavailable() -> str:
    """Why this client cannot offer TLS 1.1 ("" when it can): the ClientHello is built in memory,
    so a library that compiled the versions out, or refuses them by policy, says so here."""
    import ssl

    if not getattr(ssl, "HAS_TLSv1_1", False):
        return f"this client's OpenSSL cannot offer TLS 1.1 ({ssl.OPENSSL_VERSION})"
    try:
        context = legacy_context()
        hello = context.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO())
        # SSLWantReadError: the ClientHello is out, waiting for the server: the versions are
        # offered.
        with contextlib.suppress(ssl.SSLWantReadError):
            hello.do_handshake()
    except (ssl.SSLError, ValueError) as exc:
        return f"this client's OpenSSL cannot offer TLS 1.1 ({ssl.OPENSSL_VERSION}: {exc})"
    if not outgoing.pending:
        return f"this client's OpenSSL cannot offer TLS 1.1 ({ssl.OPENSSL_VERSION})"
    return ""


def completed(version: str | None) -> Finding:
    return Finding(
        Verdict.WARN,
        f"the server completed a TLS handshake in which the probe offered only TLS 1.0 and 1.1 "
        f"({version or 'version unknown'}): {RULE}",
        SOURCE,
        "a handshake failure (protocol_version alert)",
        topic="tls",
    )


def refused(failure: str) -> Finding:
    return Finding(
        Verdict.PASS,
        f"the server refused a TLS handshake offering only TLS 1.0 and 1.1 ({failure})",
        SOURCE,
    )


__all__ = ["completed", "legacy_context", "refused", "unavailable"]
