"""What a TLS session shows of the server: its certificate chain, whether the chain verifies, and
whether it names the host. Pure functions over the DER chain the handshake received.

The handshake itself never verifies (a probe must reach servers with self-signed certificates):
the chain is checked here afterwards, with `cryptography`'s RFC 5280 path validation against the
system's CA file or `--cafile`, so every session gets the same facts whether or not `--tls-verify`
turns problems into failures. `cryptography` is imported only when a TLS session happened.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
from pathlib import Path
from typing import Any

from probe.results import CertInfo, TlsVerification

MAX_ERROR = 200  # characters of a verifier's message kept


def certificates(chain: tuple[bytes, ...], now: datetime.datetime) -> tuple[CertInfo, ...]:
    """Each DER certificate in words; one that cannot be parsed says so."""
    from cryptography import x509

    out = []
    for der in chain:
        try:
            cert = x509.load_der_x509_certificate(der)
            out.append(_info(cert, now))
        except ValueError as exc:
            out.append(CertInfo(subject=f"(unparseable certificate: {exc})", issuer=""))
    return tuple(out)


def _info(cert: Any, now: datetime.datetime) -> CertInfo:
    from cryptography.hazmat.primitives import hashes

    after = cert.not_valid_after_utc
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=_sans(cert),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=after.isoformat(),
        days_left=(after - now).days if after >= now else -((now - after).days + 1),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        self_signed=cert.issuer == cert.subject,
    )


def _sans(cert: Any) -> tuple[str, ...]:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError:
        return ("(unparseable subjectAltName)",)
    out = [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
    out += [f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)]
    return tuple(out)


def name_matches(sans: tuple[str, ...], name: str) -> bool:
    """RFC 6125 §6.4: the reference identity against the DNS-ID (or IP) subjectAltNames; a
    wildcard only as the whole left-most label, matching one label."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return any(san == f"IP:{address}" for san in sans)
    wanted = name.rstrip(".").lower()
    for san in sans:
        if not san.startswith("DNS:"):
            continue
        pattern = san[4:].rstrip(".").lower()
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            head, rest = wanted.split(".", 1)
            if head and rest == pattern[2:]:
                return True
    return False


def verify(
    chain: tuple[bytes, ...],
    infos: tuple[CertInfo, ...],
    name: str,
    cafile: str | None,
    now: datetime.datetime,
) -> TlsVerification:
    """Whether the chain verifies (RFC 5280 path validation) against `cafile` or the system CAs,
    and whether the leaf names `name` (the MX host name, or the address for an IP target)."""
    store_name = cafile or "the system CAs"
    matches = name_matches(infos[0].sans, name) if infos else None
    if not chain:
        return TlsVerification(False, store_name, "the server sent no certificate", name, matches)
    roots = _roots(cafile)
    if isinstance(roots, str):
        return TlsVerification(None, store_name, roots, name, matches)
    return TlsVerification(*_path(chain, infos, roots, now, store_name), name, matches)


def _path(
    chain: tuple[bytes, ...],
    infos: tuple[CertInfo, ...],
    roots: tuple[Any, ...],
    now: datetime.datetime,
    store_name: str,
) -> tuple[bool, str, str]:
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    leaf_info = infos[0]
    if leaf_info.days_left < 0:
        return False, store_name, f"the certificate expired on {leaf_info.not_after[:10]}"
    if now.isoformat() < leaf_info.not_before:
        return False, store_name, f"the certificate is not valid before {leaf_info.not_before}"
    try:
        leaf = x509.load_der_x509_certificate(chain[0])
        rest = [x509.load_der_x509_certificate(der) for der in chain[1:]]
    except ValueError as exc:
        return False, store_name, f"unparseable certificate: {exc}"
    # The chain is judged on its own here (the name is judged apart): validate it for a name
    # the leaf does carry.
    subject: Any = None
    for san in leaf_info.sans:
        if san.startswith("DNS:") and "*" not in san:
            subject = x509.DNSName(san[4:])
            break
        if san.startswith("IP:"):
            subject = x509.IPAddress(ipaddress.ip_address(san[3:]))
            break
    if subject is None:
        return False, store_name, "the certificate has no subjectAltName to validate"
    try:
        verifier = (
            PolicyBuilder().store(Store(list(roots))).time(now).build_server_verifier(subject)
        )
        verifier.verify(leaf, rest)
    except VerificationError as exc:
        if leaf_info.self_signed and len(chain) == 1:
            return False, store_name, "self-signed certificate, not in the trust store"
        return False, store_name, _cut(str(exc))
    except ValueError as exc:
        return False, store_name, _cut(str(exc))
    return True, store_name, ""


@functools.lru_cache(maxsize=4)
def _roots(cafile: str | None) -> tuple[Any, ...] | str:
    """The trust anchors (certificates), or why there are none."""
    from cryptography import x509

    path = cafile
    if path is None:
        paths = ssl.get_default_verify_paths()
        path = next(
            (p for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).exists()), None
        )
        if path is None:
            return "no system CA file found (give --cafile)"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        certs = ()
        for block in data.split(b"-----END CERTIFICATE-----"):
            if b"-----BEGIN CERTIFICATE-----" in block:
                try:
                    certs += (
                        x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----\n"),
                    )
                except ValueError:
                    continue
    return certs or f"no certificates in {path}"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
