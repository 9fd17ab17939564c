"""DANE for SMTP (RFC 7672): the TLSA records of a host (RFC 6698) against the chain its TLS
session presented. Pure: the records come from `probe.resolve.dane`, the chain from the handshake.

When DANE is authoritative. smtp-probe does not validate DNSSEC itself: it asks its resolver
(--nameserver, or the system's) with the AD and DO bits set and believes the AD bit of the answer
(RFC 4035 §3.2.3, RFC 6840 §5.7), which is only as good as the resolver and the path to it (RFC
7672 §2.1.3: a trusted validating resolver, such as one on the loopback interface). The records
are authoritative, as a sending MTA that does DANE would use them, only when the TLSA answer, the
host's address records and, for a host reached through MX records, the MX answer all came with
the AD bit (RFC 7672 §2.2). Anything less is reported as information: records found but
"insecure", and whether they would match.

Matching (RFC 6698 §2.1, RFC 7672 §3.1): usages DANE-TA(2) and DANE-EE(3); PKIX-TA(0) and
PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3), as are unknown parameters and digests of the
wrong length. Selector Cert(0) (the whole certificate) or SPKI(1) (its public key), matching type
Full(0), SHA2-256(1) or SHA2-512(2). DANE-EE(3) matches the server's own certificate, with no name
or date checks (RFC 7672 §3.1.1). DANE-TA(2) matches a certificate the server presented above its
own (the server MUST send its trust anchor, RFC 7672 §3.1.2), the chain from the leaf up to it
must verify (signatures, validity dates), and the leaf must name the host or the mail domain
(RFC 7672 §3.2.2).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from typing import Any

from probe.record import field, record
from probe.results import DaneInfo, Finding, Verdict

DANE_TA, DANE_EE = 2, 3
USAGE_NAMES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
DIGEST_LENGTHS = {1: 32, 2: 64}  # SHA2-256, SHA2-512
SHOWN_HEX = 16  # hex digits of association data shown in one line of the text report


@record(frozen=True, slots=True)
class TlsaRecord:
    usage: int
    selector: int
    mtype: int  # the matching type
    data: bytes  # the certificate association data

    def text(self, short: bool = False) -> str:
        """Presentation form, `3 1 1 <hex>`; `short` cuts the data after SHOWN_HEX digits."""
        hexdata = self.data.hex()
        if short and len(hexdata) > SHOWN_HEX:
            hexdata = hexdata[:SHOWN_HEX] + "..."
        return f"{self.usage} {self.selector} {self.mtype} {hexdata}"

    @property
    def unusable(self) -> str:
        """Why a DANE SMTP client cannot use the record ("" when it can)."""
        if self.usage in (0, 1):
            return f"usage {USAGE_NAMES[self.usage]}({self.usage}) is unusable for SMTP"
        if self.usage not in (DANE_TA, DANE_EE):
            return f"unknown usage {self.usage}"
        if self.selector not in (0, 1):
            return f"unknown selector {self.selector}"
        if self.mtype not in (0, 1, 2):
            return f"unknown matching type {self.mtype}"
        wanted = DIGEST_LENGTHS.get(self.mtype)
        if wanted is not None and len(self.data) != wanted:
            return f"a {len(self.data)}-byte digest where matching type {self.mtype} has {wanted}"
        return ""

    def as_dict(self) -> dict[str, object]:
        return {
            "usage": self.usage,
            "selector": self.selector,
            "matching_type": self.mtype,
            "data": self.data.hex(),
            "unusable": self.unusable,
        }


@record(frozen=True, slots=True)
class DaneLookup:
    """What DNS said about one host's TLSA records (probe.resolve.dane)."""

    host: str  # the TLSA base domain: the MX host name, or the host of a HOST:PORT target
    port: int
    resolver: str  # who was asked, "127.0.0.1:53"
    domain: str | None = None  # the mail domain (next-hop domain), for DANE-TA name checks
    records: tuple[TlsaRecord, ...] = ()
    tlsa_secure: bool = False  # the TLSA answer (or its denial) came with the AD bit
    address_secure: bool | None = None  # the host's A/AAAA answer; None: not asked
    mx_secure: bool | None = None  # the domain's MX answer; None: not reached through MX
    failure: str = ""  # the TLSA lookup failed (SERVFAIL, timeout...): why
    not_applicable: str = ""  # no lookup at all (an IP address has no TLSA records): why
    # The MX host name when `host` is its CNAME expansion (RFC 7672 §2.2.2): a reference
    # identifier too (§3.2.2)
    original: str | None = None

    @property
    def name(self) -> str:
        return f"_{self.port}._tcp.{self.host}" if not self.not_applicable else ""

    @property
    def insecure(self) -> list[str]:
        """The answers that did not come DNSSEC-validated (the AD bit)."""
        out = []
        if not self.tlsa_secure:
            out.append("TLSA")
        if self.address_secure is False:
            out.append("address")
        if self.mx_secure is False:
            out.append("MX")
        return out

    @property
    def status(self) -> str:
        if self.not_applicable:
            return "not-applicable"
        if self.failure:
            return "failed"
        if not self.records:
            return "none"
        return "insecure" if self.insecure else "secure"

    @property
    def usable(self) -> tuple[TlsaRecord, ...]:
        return tuple(r for r in self.records if not r.unusable)

    @property
    def binding(self) -> bool:
        """A DANE sender must use TLS and authenticate the server with these records."""
        return self.status == "secure" and bool(self.usable)

    @property
    def tls_required(self) -> bool:
        """A DANE sender must use TLS: validated records, usable or not (RFC 7672 §2.2)."""
        return self.status == "secure"

    @property
    def references(self) -> list[str]:
        """The names the server's certificate may carry for DANE-TA (RFC 7672 §3.2.2)."""
        return list(dict.fromkeys(n for n in (self.host, self.original, self.domain) if n))


@record(slots=True)
class _Outcome:
    matched: TlsaRecord | None = None
    certificate: int | None = None
    problems: list[str] = field(default_factory=list)  # why each usable record did not match


def association(der: bytes, selector: int, mtype: int) -> bytes:
    """The data a TLSA record with `selector` and `mtype` holds for this DER certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if selector == 1:
        key = x509.load_der_x509_certificate(der).public_key()
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if mtype == 1:
        return hashlib.sha256(der).digest()
    if mtype == 2:
        return hashlib.sha512(der).digest()
    return der


def evaluate(
    lookup: DaneLookup, chain: tuple[bytes, ...] | None, now: datetime.datetime
) -> DaneInfo:
    """The lookup, and how its records fare against `chain` (None: no TLS session to match)."""

    def info(match: str, reason: str, **more: Any) -> DaneInfo:
        return DaneInfo(
            name=lookup.name,
            resolver=lookup.resolver,
            status=lookup.status,
            dnssec={
                "tlsa": lookup.tlsa_secure,
                "address": lookup.address_secure,
                "mx": lookup.mx_secure,
            },
            records=lookup.records,
            binding=lookup.binding,
            match=match,
            reason=reason,
            **more,
        )

    if lookup.status in ("not-applicable", "failed", "none"):
        return info(
            "not-checked",
            lookup.not_applicable or lookup.failure or f"no TLSA records at {lookup.name}",
        )
    if not lookup.usable:
        unusable = "; ".join(f"{r.text(True)}: {r.unusable}" for r in lookup.records)
        return info("no-usable-records", unusable + _cname(lookup))
    if chain is None:
        return info("not-checked", "the session did not switch to TLS")
    if not chain:
        return info("mismatch", "the server sent no certificate")
    outcome = _match(lookup, chain, now)
    if outcome.matched is not None:
        what = (
            f"matches certificate {outcome.certificate}"
            if outcome.certificate is not None
            else "holds the trust anchor in full, and the chain verifies up to it "
            f"({ANCHOR_ABSENT})"
        )
        return info(
            "match",
            f"{outcome.matched.text(True)} {what}{_cname(lookup)}",
            matched=outcome.matched,
            matched_certificate=outcome.certificate,
        )
    leaf = association(chain[0], 1, 1).hex()
    reason = "; ".join(outcome.problems) + _cname(lookup)
    return info("mismatch", reason, leaf_record=f"3 1 1 {leaf}")


ANCHOR_ABSENT = "the server did not send the trust anchor"


def _cname(lookup: DaneLookup) -> str:
    """Where the records came from, when not from the host name itself (RFC 7672 §2.2.2)."""
    if not lookup.original:
        return ""
    return f"; found at {lookup.host}, the CNAME expansion of {lookup.original} (RFC 7672 §2.2.2)"


def _match(lookup: DaneLookup, chain: tuple[bytes, ...], now: datetime.datetime) -> _Outcome:
    outcome = _Outcome()
    for tlsa in lookup.usable:
        if tlsa.usage == DANE_EE:
            if _same(tlsa, chain[0]):
                return _Outcome(tlsa, 0)
            outcome.problems.append(f"{tlsa.text(True)} does not match the server's certificate")
            continue
        found = [i for i in range(1, len(chain)) if _same(tlsa, chain[i])]
        if not found and _same(tlsa, chain[0]):
            outcome.problems.append(
                f"{tlsa.text(True)} matches no certificate the server sent above its own (it "
                "matches the server's own certificate: DANE-EE(3) is the usage for that)"
            )
            continue
        if not found:
            problem = _absent_anchor(tlsa, chain, lookup, now)
            if not problem:
                return _Outcome(tlsa, None)
            outcome.problems.append(f"{tlsa.text(True)}: {problem}")
            continue
        problem = _chain_problem(chain[: found[0] + 1], lookup, now)
        if problem:
            outcome.problems.append(
                f"{tlsa.text(True)} matches certificate {found[0]}, but {problem}"
            )
            continue
        return _Outcome(tlsa, found[0])
    return outcome


def _absent_anchor(
    record: TlsaRecord, chain: tuple[bytes, ...], lookup: DaneLookup, now: datetime.datetime
) -> str:
    """A DANE-TA(2) record whose trust anchor the server did not send (RFC 7672 §3.1.2 says it
    MUST): "" when the record holds the anchor in full (Full(0): the certificate, or its public
    key) and the chain the server sent verifies up to it; else why it cannot be matched."""
    absent = "the trust anchor is not among the certificates the server sent"
    if record.mtype != 0:
        return (
            f"unverifiable: {absent}, and the record holds only its digest (RFC 7672 §3.1.2: "
            '"SMTP servers that rely on certificate usage DANE-TA(2) TLSA records for TLS '
            "authentication MUST include the TA certificate as part of the certificate chain "
            'presented in the TLS handshake")'
        )
    key = _anchor_key(record)
    if key is None:
        what = "certificate" if record.selector == 0 else "public key"
        return f"{absent}, and the record's data is not a {what}"
    from cryptography import x509

    for top in range(len(chain) - 1, -1, -1):
        try:
            cert = x509.load_der_x509_certificate(chain[top])
        except ValueError:
            continue
        if _signed_by(cert, key):
            problem = _chain_problem(chain[: top + 1], lookup, now)
            return (
                f"{absent}; the chain verifies up to the key in the record, but {problem}"
                if problem
                else ""
            )
    return f"{absent}, and no certificate the server sent is signed by the key in the record"


def _anchor_key(record: TlsaRecord) -> Any:
    """The public key a Full(0) DANE-TA record holds (in a certificate, or as SPKI), or None."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        if record.selector == 0:
            return x509.load_der_x509_certificate(record.data).public_key()
        return serialization.load_der_public_key(record.data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _signed_by(cert: Any, key: Any) -> bool:
    """Whether `key` made the signature on `cert` (RSA, ECDSA, Ed25519, Ed448)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                cert.signature_algorithm_parameters,
                cert.signature_hash_algorithm,
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, cert.signature_algorithm_parameters
            )
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _same(record: TlsaRecord, der: bytes) -> bool:
    try:
        return association(der, record.selector, record.mtype) == record.data
    except ValueError:  # an unparseable certificate matches nothing (but Cert(0) Full(0))
        return record.selector == 0 and record.mtype == 0 and der == record.data


def _chain_problem(chain: tuple[bytes, ...], lookup: DaneLookup, now: datetime.datetime) -> str:
    """Why the leaf does not chain up to the trust anchor (the last of `chain`) for this host, or
    "" when it does: each certificate signed by the next, every one below the anchor within its
    dates, the leaf naming the host or the mail domain."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    from probe import tlsfacts

    try:
        certs: list[Any] = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError as exc:
        return f"a certificate cannot be parsed ({exc})"
    for index, (cert, issuer) in enumerate(itertools.pairwise(certs)):
        try:
            cert.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as exc:
            why = str(exc) or "the signature does not verify"
            return f"certificate {index} is not signed by certificate {index + 1} ({why})"
        if cert.not_valid_after_utc < now:
            return f"certificate {index} expired on {cert.not_valid_after_utc.date()}"
        if cert.not_valid_before_utc > now:
            return f"certificate {index} is not valid before {cert.not_valid_before_utc.date()}"
    names = tlsfacts.certificates(chain[:1], now)[0].sans
    wanted = lookup.references
    if not any(tlsfacts.name_matches(names, name) for name in wanted):
        return (
            f"the server's certificate does not name {' or '.join(wanted)} (it names "
            f"{', '.join(names) or 'no subjectAltName'}; RFC 7672 §3.2.2)"
        )
    return ""


# ---- findings ------------------------------------------------------------------------------

AD_NOTE = "the AD bit of {resolver}"


def findings(info: DaneInfo) -> list[Finding]:
    """What a TLS session's DANE facts say about the server (--dane)."""
    where = info.name
    match info.status:
        case "not-applicable":
            return [Finding(Verdict.INFO, f"DANE not checked: {info.reason}", "RFC 7672 §2.2")]
        case "failed":
            # Not "no records": a DANE sender cannot tell whether there are any, so it may not
            # fall back to unauthenticated (or no) TLS, and treats the host as unreachable.
            return [
                Finding(
                    Verdict.ERROR,
                    f'DANE: the TLSA lookup failed ({info.reason}), which is not "no TLSA '
                    'records": a sending MTA that does DANE cannot tell whether records exist, '
                    "and treats this host as unreachable (no mail goes to it)",
                    "RFC 7672 §2.1.1, §2.2",
                    topic="tls",
                )
            ]
        case "none":
            return [Finding(Verdict.INFO, f"DANE: no TLSA records at {where}", "RFC 7672 §2.2")]
        case "insecure":
            names = [k.upper() if k != "address" else "address" for k, v in info.dnssec.items()]
            missing = [n for n, v in zip(names, info.dnssec.values(), strict=True) if v is False]
            answers = " and ".join(missing) + (" answers" if len(missing) > 1 else " answer")
            would = {"match": "would match", "mismatch": "would not match"}.get(
                info.match, "were not matched"
            )
            return [
                Finding(
                    Verdict.INFO,
                    f"DANE does not apply: the TLSA records at {where} are not DNSSEC-validated "
                    f"(no AD bit from {info.resolver} on the {answers}); they "
                    f"{would} ({info.reason})",
                    "RFC 7672 §2.1.1, §2.2",
                )
            ]
    if info.match == "no-usable-records":
        return [
            Finding(
                Verdict.INFO,
                f"DANE: no usable TLSA record at {where} ({info.reason}); validated records "
                'that are all unusable still mean "Any connection to the MTA MUST be made via '
                'TLS, but authentication is not required": TLS was used, nothing to authenticate',
                "RFC 7672 §2.2, §3.1.3",
            )
        ]
    if info.match == "match":
        found = [
            Finding(
                Verdict.PASS,
                f"DANE: {info.reason} (TLSA at {where}, DNSSEC-validated by {info.resolver})",
                "RFC 7672 §3",
            )
        ]
        if info.matched_certificate is None:
            found.append(
                Finding(
                    Verdict.WARN,
                    f"DANE: {ANCHOR_ABSENT} of {info.matched.text(True) if info.matched else ''} "
                    '(matched only because the record holds it in full): "SMTP servers that '
                    "rely on certificate usage DANE-TA(2) TLSA records for TLS authentication "
                    "MUST include the TA certificate as part of the certificate chain presented "
                    'in the TLS handshake"; a client with only a digest cannot authenticate it',
                    "RFC 7672 §3.1.2",
                    topic="tls",
                )
            )
        return found
    return [
        Finding(
            Verdict.FAIL,
            f"DANE: no usable TLSA record at {where} matches the chain the server presented "
            f"({info.reason}); a sending MTA that does DANE MUST NOT deliver to it. The "
            f"server's certificate would match {info.leaf_record}",
            "RFC 7672 §2.2, §3",
            topic="tls",
        )
    ]


def starttls_missing(info: DaneInfo) -> Finding:
    """EHLO without STARTTLS, from a host that publishes DNSSEC-validated TLSA records (usable
    or not: unusable ones still require TLS, RFC 7672 §2.2)."""
    unusable = " (none of them usable, which still requires TLS)" if not info.binding else ""
    return Finding(
        Verdict.FAIL,
        f"the server does not offer STARTTLS, but publishes DNSSEC-validated TLSA records at "
        f"{info.name}{unusable}: a sending MTA that does DANE MUST NOT deliver to it without TLS",
        "RFC 7672 §2.2",
        topic="tls",
    )
