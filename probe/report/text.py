"""The readable report: per server its verdict and counts, then every step that did not pass."""

from __future__ import annotations

from collections.abc import Iterable

from probe.inputfile import shown
from probe.protocol.ehlo import parse_ehlo
from probe.protocol.reply import printable
from probe.report.redact import Redactor
from probe.report.wire import sent_text
from probe.results import (
    DaneInfo,
    Exchange,
    Finding,
    RunResult,
    ServerResult,
    StepResult,
    TlsInfo,
    Verdict,
    strongest,
)

_MARK = {
    Verdict.PASS: "PASS",
    Verdict.WARN: "WARN",
    Verdict.FAIL: "FAIL",
    Verdict.ERROR: "ERROR",
    Verdict.SKIP: "SKIP",
    Verdict.NO_MAIL: "NO-MAIL",
    Verdict.NO_SERVICE: "NO-SERVICE",
}


_TALLY = (
    (Verdict.PASS, "passed"),
    (Verdict.FAIL, "failed"),
    (Verdict.ERROR, "error"),
    (Verdict.NO_MAIL, "no-mail"),
    (Verdict.NO_SERVICE, "no-service"),
)


def render(run: RunResult, redact: Redactor, verbose: bool = False) -> str:
    out: list[str] = []
    for result in run.results:
        out += _server(result, redact, verbose)
        out.append("")
    rollup = _by_server(run.results)
    if rollup:
        out += ["By server:", *rollup, ""]
    out.append(_closing(run))
    # One line each, whatever the scenario (a name, a label, a pattern) or the server put in them.
    return "\n".join(shown(line) for line in out) + "\n"


# A server's verdict over its scenarios: the worst, as the exit code ranks them.
_OVERALL = (Verdict.FAIL, Verdict.ERROR, Verdict.NO_SERVICE, Verdict.NO_MAIL, Verdict.PASS)


def _by_server(results: list[ServerResult]) -> list[str]:
    """One line per server (a target and the address it was probed at) when some server ran
    several scenarios: its verdict over all of them, then each scenario's verdict and warnings.
    Nothing when every server ran one scenario (each result line already says it all)."""
    servers: dict[tuple[str, str], list[ServerResult]] = {}
    for result in results:
        servers.setdefault((result.target, result.address or ""), []).append(result)
    if all(len(group) < 2 for group in servers.values()):
        return []
    lines = []
    for group in servers.values():
        verdicts = {r.verdict for r in group}
        overall = next((v for v in _OVERALL if v in verdicts), Verdict.PASS)
        each = []
        for result in group:
            warnings = _warnings(result)
            noted = f" ({warnings} warning{'s' if warnings > 1 else ''})" if warnings else ""
            each.append(f"{result.scenario} {result.verdict}{noted}")
        first = group[0]
        lines.append(f"  {_MARK[overall]}  {first.target}{_where(first)}: {', '.join(each)}")
    return lines


def _closing(run: RunResult) -> str:
    """How many results had each verdict (passed and failed always, the others when there are
    any), how many of the passed had warnings, and how many warnings the report shows."""
    warnings = [_warnings(r) for r in run.results]
    parts = []
    for verdict, label in _TALLY:
        count = sum(r.verdict is verdict for r in run.results)
        if count or verdict in (Verdict.PASS, Verdict.FAIL):
            parts.append(f"{count} {label}")
        if verdict is Verdict.PASS:
            warned = sum(
                1 for r, n in zip(run.results, warnings, strict=True) if n and r.verdict is verdict
            )
            if warned:
                parts[-1] += f" ({warned} with warnings)"
    return (
        f"{len(run.results)} server result(s): {', '.join(parts)}"
        + (" (interrupted)" if run.interrupted else "")
        + f"; {sum(warnings)} warning(s); profile {run.profile}{', strict' if run.strict else ''}"
    )


def _warnings(result: ServerResult) -> int:
    """The `warn:` lines of a result's block: its target's warnings (MX notes) and its steps'
    warnings, counted as shown (findings that say the same thing are one)."""
    shown = sum(
        1
        for step in result.steps
        for finding, _, _ in _merged(step.findings)
        if finding.verdict is Verdict.WARN
    )
    return len(_as_list(result.details.get("warnings"))) + shown


def _server(result: ServerResult, redact: Redactor, verbose: bool) -> list[str]:
    counts = result.counts()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines = [
        f"{_MARK[result.verdict]}  {result.scenario} -> {result.target}{_where(result)}"
        f"  [{summary}]  {result.duration * 1000:.0f} ms"
    ]
    if result.reason:
        lines.append(f"      {redact(result.reason)}")
    for warning in _as_list(result.details.get("warnings")):
        lines.append(f"      warn: {warning}")
    for attempt in _as_list(result.details.get("fallback")):
        lines.append(f"      fell back after: {attempt}")
    if verbose or result.verdict is not Verdict.PASS:
        lines += _session_facts(result, redact)
    skipped: list[StepResult] = []
    for step in [*result.steps, None]:
        if (
            step is not None
            and step.verdict is Verdict.SKIP
            and (not skipped or skipped[0].reason == step.reason)
        ):
            skipped.append(step)
            continue
        if skipped:
            lines += _skipped(skipped)
            skipped = [step] if step is not None and step.verdict is Verdict.SKIP else []
            if skipped:
                continue
        if step is not None and (verbose or step.verdict is not Verdict.PASS or _notes(step)):
            lines += _step(step, redact)
    return lines


def _where(result: ServerResult) -> str:
    """Where the session went: the address, and the MX host it belongs to."""
    details = result.details
    parts = []
    if result.address and result.address != result.target:
        parts.append(result.address)
    if details.get("mx_host"):
        parts.append(f"MX {details.get('preference')} {details['mx_host']}")
    return f" ({', '.join(parts)})" if parts else ""


EHLO_WIDTH = 100  # characters of advertised extensions shown on the EHLO line
EHLO_ITEM_WIDTH = 40  # characters of one extension with its parameters (AUTH's list can be long)


def _session_facts(result: ServerResult, redact: Redactor) -> list[str]:
    """What the server offered and what was negotiated: the extensions its last 250 reply to EHLO
    advertised (whether or not a later STARTTLS made the session forget them), and the TLS
    version and cipher when the session switched to TLS."""
    lines = []
    replies = [
        e.reply
        for step in result.steps
        for e in step.exchanges
        if e.command == "EHLO" and e.reply is not None and e.reply.code == 250
    ]
    if replies:
        items = [_extension(k, v) for k, v in parse_ehlo(replies[-1]).extensions.items()]
        lines.append(f"      EHLO: {redact(_fit(items)) if items else '(no extensions)'}")
    if result.tls is not None:
        lines += [redact(line) for line in tls_block(result.tls)]
    if result.dane is not None:
        lines.append(redact(dane_line(result.dane)))
    return lines


def dane_line(dane: DaneInfo) -> str:
    """The host's TLSA records (--dane) in one line: where, whether DNSSEC vouched for them,
    and how they fared against the chain."""
    if dane.status == "not-applicable":
        return f"      DANE: not checked: {dane.reason}"
    if dane.status == "failed":
        return f"      DANE: {dane.name}: the TLSA lookup failed ({dane.reason})"
    if dane.status == "none":
        return f"      DANE: {dane.name}: no TLSA records (asked {dane.resolver})"
    count = len(dane.records)
    records = f"{count} TLSA record{'s' if count != 1 else ''}"
    if dane.status == "secure":
        trust = f"DNSSEC-validated (the AD bit from {dane.resolver})"
    else:
        missing = " and ".join(
            k.upper() if k != "address" else k for k, v in dane.dnssec.items() if v is False
        )
        trust = (
            f"not DNSSEC-validated (no AD bit from {dane.resolver} on {missing}: "
            "DANE does not apply)"
        )
    outcome = {
        "match": dane.reason,
        "mismatch": f"no match: {dane.reason}"
        + (
            f"; the server's certificate would match {dane.leaf_record}" if dane.leaf_record else ""
        ),
        "no-usable-records": f"none usable: {dane.reason}",
    }.get(dane.match, f"not matched: {dane.reason}")
    return f"      DANE: {dane.name}: {records}, {trust}; {outcome}"


def tls_block(tls: TlsInfo) -> list[str]:
    """The TLS session at a glance: version and cipher (and "implicit TLS" for RFC 8314), each
    certificate of the chain (subject, names, end of validity, issuer), then whether the chain
    verifies and names the host."""
    facts = [tls.version or "version not reported"]
    if tls.cipher:
        facts.append(tls.cipher)
    if tls.mode == "implicit":
        facts.append("implicit TLS")
    lines = [f"      TLS: {', '.join(facts)}"]
    for index, cert in enumerate(tls.chain):
        names = " ".join(cert.sans) or "no subjectAltName"
        if cert.days_left < 0:
            left = f"expired {-cert.days_left} days ago"
        else:
            left = f"{cert.days_left} days left"
        issuer = "self-signed" if cert.self_signed else f"issuer {cert.issuer}"
        lines.append(
            f"        cert {index}: {cert.subject}; {names}; until {cert.not_after[:10]} "
            f"({left}); {issuer}"
        )
    check = tls.verification
    if check is not None:
        if check.trusted:
            trust = f"verifies against {check.trust_store}"
        elif check.trusted is None:
            trust = f"not verified ({check.error})"
        else:
            trust = f"does not verify against {check.trust_store} ({check.error})"
        match = "names" if check.name_matches else "does not name"
        lines.append(f"        chain: {trust}; {match} {check.name}")
    return lines


def _extension(keyword: str, params: list[str] | tuple[str, ...]) -> str:
    """`KEYWORD PARAM...`, cut after a whole parameter when long: "AUTH PLAIN LOGIN CRAM-MD5..."."""
    # The obsolete "AUTH=PLAIN LOGIN" form is kept under the key "AUTH=": shown as it was sent.
    if keyword.endswith("=") and params:
        words = [keyword + params[0], *params[1:]]
    else:
        words = [keyword, *params]
    words = [printable(word.encode()) for word in words]  # a broken parameter, escaped
    text = " ".join(words)
    if len(text) <= EHLO_ITEM_WIDTH:
        return text
    text = words[0]
    for word in words[1:]:
        if len(f"{text} {word}...") > EHLO_ITEM_WIDTH:
            break
        text = f"{text} {word}"
    return (text if len(text) <= EHLO_ITEM_WIDTH - 3 else text[: EHLO_ITEM_WIDTH - 3]) + "..."


def _fit(items: list[str]) -> str:
    """As many whole items as fit in EHLO_WIDTH, then how many more there are."""
    shown: list[str] = []
    for item in items:
        if shown and len(" ".join([*shown, item])) > EHLO_WIDTH:
            break
        shown.append(item)
    rest = len(items) - len(shown)
    return " ".join(shown) + (f" ... (+{rest} more)" if rest else "")


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _skipped(steps: list[StepResult]) -> list[str]:
    if len(steps) == 1:
        return _step(steps[0], Redactor(()))
    names = f"{steps[0].label} ... {steps[-1].label}"
    return [f"  {'SKIP':5} {len(steps)} steps ({names})", f"        skipped: {steps[0].reason}"]


def _notes(step: StepResult) -> bool:
    return any(f.verdict is not Verdict.PASS for f in step.findings)


def step_transcript(step: StepResult, redact: Redactor) -> list[str]:
    """The lines under a step's line in this report, unindented: what was sent (`C:`) and
    received (`S:`), each finding with what was expected and its source, the scenario's `why`,
    or why the step was skipped. The CI reports (JUnit, Markdown, TAP, HTML) show the same."""
    block = _step(step, redact)[1:]
    return [line[8:] if line.startswith(" " * 8) else line.strip() for line in block]


def _step(step: StepResult, redact: Redactor) -> list[str]:
    where = f"  ({step.position})" if step.position else ""
    lines = [f"  {_MARK[step.verdict]:5} {step.label}{where}"]
    if step.verdict is Verdict.SKIP:
        lines.append(f"        skipped: {step.reason}")
        return lines
    for exchange in step.exchanges:
        lines += _exchange(exchange, redact)
    errors = {e.error for e in step.exchanges}
    for finding, expected, source in _merged(step.findings):
        if finding.verdict is Verdict.PASS and not finding.message.startswith("expected"):
            continue
        if finding.verdict is Verdict.ERROR and finding.message in errors:
            continue  # already shown on its exchange
        lines.append(f"        {finding.verdict}: {redact(finding.message)}")
        if expected:
            lines.append(f"          expected: {expected}")
        if source:
            lines.append(f"          source: {source}")
    shown = {f.source for f in step.findings}
    if step.why and step.verdict is not Verdict.PASS and step.why not in shown:
        lines.append(f"        why: {step.why}")
    return lines


def _merged(findings: list[Finding]) -> list[tuple[Finding, str, str]]:
    """The findings to show, each with its `expected` and `source` lines: findings that say the
    same thing about one reply's code (the same Finding.about: the code table, a fixed reply, the
    scenario's expectation...) become one, in the place of the first, with the strongest verdict
    and its message (the first of them at equal verdicts), the first `expected` not already in
    that message, and the sources of all of them."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.about:
            groups.setdefault(finding.about, []).append(finding)
    out = []
    for finding in findings:
        group = groups.get(finding.about, [finding]) if finding.about else [finding]
        if group[0] is not finding:
            continue  # shown with the first of its group
        shown = strongest(group)
        same = [shown, *(f for f in group if f is not shown)]
        expected = next(
            (f.expected for f in same if f.expected and f.expected not in shown.message), ""
        )
        out.append((shown, expected, _sources(f.source for f in same)))
    return out


def _sources(sources: Iterable[str]) -> str:
    """Sources joined with "; ", each part once: a part that another one continues ("RFC 5321
    §4.1.1.10" and "RFC 5321 §4.1.1.10: the receiver MUST...") is shown as the longer one."""
    parts: list[str] = []
    for source in sources:
        for part in filter(None, source.split("; ")):
            if any(_continues(kept, part) for kept in parts):
                continue
            longer = next((i for i, kept in enumerate(parts) if _continues(part, kept)), None)
            if longer is None:
                parts.append(part)
            else:
                parts[longer] = part
    return "; ".join(dict.fromkeys(parts))


def _continues(longer: str, part: str) -> bool:
    """Whether `longer` is `part` or holds it as a whole reference ("RFC 5321 §4.1.1" is not in
    "RFC 5321 §4.1.1.10")."""
    at = longer.find(part)
    return at >= 0 and (at + len(part) == len(longer) or longer[at + len(part)] in ":, );")


def _exchange(exchange: Exchange, redact: Redactor) -> list[str]:
    lines: list[str] = []
    if exchange.sent:
        lines.append(f"        C: {redact(sent_text(exchange))}"[:300])
    if exchange.reply is not None:
        display = exchange.reply.display_lines
        unasked = "  (unsolicited)" if exchange.command == "UNSOLICITED" else ""
        for number, line in enumerate(display[:8]):
            lines.append(f"        S: {redact(line)}"[:300] + (unasked if number == 0 else ""))
        if len(display) > 8:
            lines.append(f"        S: ... ({len(display) - 8} more lines)")
    if exchange.error:
        lines.append(f"        !  {exchange.error}")
    return lines
