"""What a run produces: exchanges (what was said), findings and verdicts (what we judged)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from probe.protocol.reply import Reply
from probe.record import field, record

if TYPE_CHECKING:
    from probe.dane import TlsaRecord


class Verdict(StrEnum):
    PASS = "pass"
    INFO = "info"  # findings only: reported, never worse than pass (policy, the probe's own doing)
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    NO_MAIL = "no-mail"  # server level only: the domain publishes a null MX (RFC 7505)
    NO_SERVICE = "no-service"  # server level only: a 554 greeting, a correct refusal (§3.1)


_EIGHT_BIT = re.compile(rb"[\x80-\xff]")

# Worst first: a step's verdict is the worst of its findings.
_RANK = {
    Verdict.FAIL: 4,
    Verdict.ERROR: 3,
    Verdict.WARN: 2,
    Verdict.PASS: 1,
    Verdict.INFO: 1,
    Verdict.SKIP: 0,
    Verdict.NO_MAIL: 0,
    Verdict.NO_SERVICE: 0,
}


def worst(
    verdicts: list[Verdict] | tuple[Verdict, ...], default: Verdict = Verdict.PASS
) -> Verdict:
    found = max(verdicts, key=_RANK.__getitem__, default=default)
    return Verdict.PASS if found is Verdict.INFO else found


@record(frozen=True, slots=True)
class Finding:
    """One judgement about one exchange: what is wrong (or notable), and which text says so."""

    verdict: Verdict
    message: str
    source: str = ""  # e.g. "RFC 5321 §4.3.2"; empty for findings with no document behind them
    expected: str = ""  # what the tables or the scenario expected, for the report
    # What the finding is about, for choosing a step's headline: a rule about what the reply
    # means comes before a note on its syntax or its enhanced status code.
    topic: str = "meaning"  # "meaning", "syntax" or "enhanced"
    # The reply whose code the finding judges, when it judges only the code ("251 to EHLO: EHLO
    # a.test"): the code table, a fixed reply, a sequence or a duty, and the scenario's
    # expectation may each say that one code is wrong. Findings with the same `about` say the
    # same thing, and the text report shows them as one. Not in the JSON (it keeps every finding).
    about: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "verdict": str(self.verdict),
            "message": self.message,
            "source": self.source,
            "expected": self.expected,
        }


# Headline order within one verdict: the command's meaning first, then syntax, then enhanced codes.
_TOPIC_RANK = {"meaning": 0, "syntax": 1, "enhanced": 2}


def effective(finding: Finding, strict: bool) -> Verdict:
    """A finding's verdict as it counts: under --strict a warning is a failure."""
    return Verdict.FAIL if strict and finding.verdict is Verdict.WARN else finding.verdict


def headline(findings: list[Finding], strict: bool = False) -> Finding | None:
    """The most important finding: fail before error before warn (with --strict a warning counts
    as the failure it became), and a rule about the command's meaning before a syntax or an
    enhanced-code note; the first such in list order. None when nothing is worse than pass."""
    ranked = [
        (-_RANK[effective(f, strict)], _TOPIC_RANK.get(f.topic, 0), index, f)
        for index, f in enumerate(findings)
        if effective(f, strict) in (Verdict.FAIL, Verdict.ERROR, Verdict.WARN)
    ]
    return min(ranked)[3] if ranked else None


def strongest(findings: list[Finding]) -> Finding:
    """The first finding with the strongest verdict (fail, error, warn, then the rest)."""
    return max(findings, key=lambda f: _RANK[f.verdict])


@record(frozen=True, slots=True)
class Streamed:
    """A message streamed from a file: `Exchange.sent` keeps only its start, this the rest of
    what judging and reports need."""

    file: str  # the file's name as the scenario gave it
    size: int  # octets sent, dot-stuffing and the final dot included
    longest_line: int  # octets, without its CRLF
    eight_bit: bool


@record(slots=True)
class Exchange:
    """One command (or the greeting) and the reply it got, as seen on the wire.

    `sent` is already masked: secrets never reach an Exchange. `error` is set when no judgeable
    reply came (timeout, reset, close); then `reply` may be None.
    """

    command: str  # canonical table name: CONNECT, EHLO, DATA, DATA-END, UNKNOWN, ...
    sent: bytes
    started: float  # seconds since the session began
    elapsed: float = 0.0
    reply: Reply | None = None
    error: str | None = None
    has_argument: bool = False  # RSET's MUST only binds without arguments
    pipelined: bool = False  # sent in one write with other commands
    streamed: Streamed | None = None  # message data sent in chunks from a file

    @property
    def size(self) -> int:
        """Octets sent (a streamed message keeps only its start in `sent`)."""
        return self.streamed.size if self.streamed is not None else len(self.sent)

    @property
    def eight_bit(self) -> bool:
        if self.streamed is not None:
            return self.streamed.eight_bit
        return _EIGHT_BIT.search(self.sent) is not None


@record(slots=True)
class StepResult:
    label: str
    kind: str
    position: str  # file:line:col of the step
    verdict: Verdict
    exchanges: list[Exchange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    why: str = ""  # the scenario's `why`, shown when an expectation was not met
    reason: str = ""  # for skip/error: why
    applicable: bool = True  # False: skipped because the server does not offer what it needs


@record(frozen=True, slots=True)
class CertInfo:
    """One certificate the server presented, in words (probe.tlsfacts)."""

    subject: str  # RFC 4514, e.g. "CN=mx.example.test"
    issuer: str
    sans: tuple[str, ...] = ()  # "DNS:mx.example.test", "IP:192.0.2.1"
    not_before: str = ""  # ISO 8601, UTC
    not_after: str = ""
    days_left: int = 0  # whole days until not_after; negative once expired
    sha256: str = ""  # fingerprint of the DER certificate, hex
    self_signed: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "sha256": self.sha256,
        }


@record(frozen=True, slots=True)
class TlsVerification:
    """Whether the chain verifies against a trust store, and whether it names the host."""

    trusted: bool | None  # None: no trust store to judge against
    trust_store: str  # a --cafile path, or "the system CAs"
    error: str  # why not trusted ("" when trusted)
    name: str  # the name checked: the MX host name, or the address of an IP target
    name_matches: bool | None

    def as_dict(self) -> dict[str, object]:
        return {
            "trusted": self.trusted,
            "trust_store": self.trust_store,
            "error": self.error,
            "name": self.name,
            "name_matches": self.name_matches,
        }


@record(frozen=True, slots=True)
class TlsInfo:
    """What the TLS handshake negotiated (after STARTTLS, RFC 3207, or at once, RFC 8314), as the
    ssl object reports it."""

    version: str | None  # e.g. "TLSv1.3"
    cipher: str | None  # e.g. "TLS_AES_256_GCM_SHA384"
    mode: str = "starttls"  # or "implicit"
    chain: tuple[CertInfo, ...] = ()  # as presented, the server's own certificate first
    verification: TlsVerification | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "mode": self.mode,
            "chain": [cert.as_dict() for cert in self.chain],
            "verification": self.verification.as_dict() if self.verification else None,
        }


@record(frozen=True, slots=True)
class DaneInfo:
    """DANE for the host (RFC 7672, with --dane): its TLSA records, whether DNSSEC vouched for
    them, and whether they match the chain the TLS session presented (probe.dane)."""

    name: str  # "_25._tcp.mx.example.test"; "" when not looked up (an IP target)
    resolver: str  # who was asked, and whose AD bit was believed
    status: str  # "secure", "insecure", "none", "failed" or "not-applicable"
    dnssec: dict[str, bool | None]  # the AD bit of the tlsa, address, mx answers (None: not asked)
    records: tuple[TlsaRecord, ...]
    binding: bool  # secure and usable: a DANE sender must authenticate the server with them
    match: str  # "match", "mismatch", "no-usable-records" or "not-checked"
    reason: str  # in words: what matched, why nothing did, or why nothing was checked
    matched: TlsaRecord | None = None
    matched_certificate: int | None = None  # its index in the chain, the server's own first
    leaf_record: str = ""  # on a mismatch: the 3 1 1 record the server's certificate would match

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "resolver": self.resolver,
            "status": self.status,
            "dnssec": dict(self.dnssec),
            "records": [record.as_dict() for record in self.records],
            "binding": self.binding,
            "match": self.match,
            "reason": self.reason,
            "matched": self.matched.text() if self.matched is not None else None,
            "matched_certificate": self.matched_certificate,
            "leaf_record": self.leaf_record or None,
        }


@record(slots=True)
class ServerResult:
    scenario: str
    scenario_path: str
    target: str
    address: str | None  # host:port actually connected to, if any
    verdict: Verdict
    steps: list[StepResult] = field(default_factory=list)
    started_at: str = ""  # ISO 8601 UTC
    duration: float = 0.0
    reason: str = ""  # one line: why error/fail at server level (connect refused, ...)
    extensions: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)  # target facts (domain, MX, ...)
    waited: float = 0.0  # seconds the session spent in quiet windows (waiting on timers)
    tls: TlsInfo | None = None  # set when the session switched to TLS with STARTTLS
    dane: DaneInfo | None = None  # with --dane: the host's TLSA records and how they matched

    def counts(self) -> dict[str, int]:
        out = {str(v): 0 for v in Verdict if v is not Verdict.INFO}  # INFO: findings only
        for step in self.steps:
            out[str(step.verdict)] += 1
        return out


@record(slots=True)
class RunResult:
    results: list[ServerResult]
    profile: str
    strict: bool
    started_at: str
    duration: float = 0.0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 all passed; 1 something failed; 3 something could not be probed (an error, a null MX
        domain, a server refusing service with 554, an interrupted run) and nothing failed."""
        verdicts = [r.verdict for r in self.results]
        if Verdict.FAIL in verdicts:
            return 1
        unprobed = {Verdict.ERROR, Verdict.NO_MAIL, Verdict.NO_SERVICE}
        if unprobed & set(verdicts) or self.interrupted:
            return 3
        return 0
