"""Judge one exchange: reply syntax, code tables, the RFC's fixed replies, the expectation.

Pure functions over values: no I/O, no session. The runner hands in what it knows of the session
(`SessionFacts`) so conditional rows (503 after a 554 greeting, SIZE codes...) can be applied.
"""

from __future__ import annotations

import re
from typing import TypeVar

from probe.codes import Allowance, CodeTable, FixedReply, Tier
from probe.codes.table import AnswerRule, Duty, SequenceRule
from probe.protocol.ehlo import EHLO_PROBLEMS, names_a_host, parse_ehlo
from probe.protocol.enhanced import check_enhanced, parse_enhanced
from probe.protocol.reply import Reply, Severity, printable
from probe.record import field, record, replace
from probe.results import Exchange, Finding, Verdict, worst
from probe.scenario.model import CodePattern, Expectation, Level
from probe.secrets import MASK as SECRET_MASK

# Universal shutdown reply: any command may get it (RFC 5321 §3.8, §4.3.2), so it never breaks a
# fixed-reply MUST such as QUIT -> 221.
SHUTDOWN = 421
COMMAND_LINE_LIMIT = 512  # octets with CRLF, RFC 5321 §4.5.3.1.4
TEXT_LINE_LIMIT = 1000  # octets with CRLF, RFC 5321 §4.5.3.1.6

# Extension verbs and the EHLO keyword that advertises each (for the `not_advertised` condition).
_ADVERTISED_BY = {
    "STARTTLS": "STARTTLS",
    "AUTH": "AUTH",
    "BDAT": "CHUNKING",
    "ETRN": "ETRN",
    "ATRN": "ATRN",
}

# Conditions the client cannot observe (server policy, session kind): a row that needs one is
# accepted, and the report says what was assumed.
_ASSUMABLE = {"tls_required", "auth_required", "odmr_session"}


class _Rules:
    """What one code table says, looked up once per command (and code) and kept: the table is
    immutable, and every exchange of every session asks it the same questions."""

    def __init__(self, table: CodeTable) -> None:
        self.table = table
        self._allowances: dict[tuple[str, int], tuple[Allowance, ...]] = {}
        self._fixed: dict[str, FixedReply | None] = {}
        self._sequence: dict[str, tuple[SequenceRule, ...]] = {}
        self._required: dict[str, tuple[Duty, ...]] = {}
        self._answers: dict[str, tuple[AnswerRule, ...]] = {}

    def allowances(self, command: str, code: int) -> tuple[Allowance, ...]:
        key = (command, code)
        rows = self._allowances.get(key)
        if rows is None:
            rows = self._allowances[key] = tuple(self.table.allowances(command, code))
        return rows

    def fixed(self, command: str) -> FixedReply | None:
        if command not in self._fixed:
            self._fixed[command] = self.table.fixed(command)
        return self._fixed[command]

    def sequence(self, command: str) -> tuple[SequenceRule, ...]:
        """The table's sequence rules for this command, in the table's order."""
        return _for_command(self._sequence, self.table.sequence, command)

    def required(self, command: str) -> tuple[Duty, ...]:
        return _for_command(self._required, self.table.required, command)

    def answers(self, command: str) -> tuple[AnswerRule, ...]:
        return _for_command(self._answers, self.table.answers, command)


_Rule = TypeVar("_Rule", SequenceRule, Duty, AnswerRule)


def _for_command(
    kept: dict[str, tuple[_Rule, ...]], rules: tuple[_Rule, ...], command: str
) -> tuple[_Rule, ...]:
    """The rules about `command`, in the table's order, picked out once and kept in `kept`."""
    found = kept.get(command)
    if found is None:
        found = kept[command] = tuple(r for r in rules if r.command == command)
    return found


# By the table's identity; each entry holds its table, so an id is never reused while it is here.
_RULES: dict[int, _Rules] = {}


def _rules(table: CodeTable) -> _Rules:
    global _LAST
    rules = _LAST
    if rules is not None and rules.table is table:
        return rules  # a run has one table
    rules = _RULES.get(id(table))
    if rules is None or rules.table is not table:
        if len(_RULES) >= 8:
            _RULES.clear()  # tables made by tests: the bundled one is simply looked up again
        rules = _RULES[id(table)] = _Rules(table)
    _LAST = rules
    return rules


_LAST: _Rules | None = None


# CodePattern.matches(code), by the pattern's text and the code (both immutable).
_MATCHES: dict[tuple[str, int], bool] = {}


def _code_matches(patterns: tuple[CodePattern, ...], code: int) -> bool:
    for pattern in patterns:
        key = (pattern.text, code)
        hit = _MATCHES.get(key)
        if hit is None:
            if len(_MATCHES) >= 4096:
                _MATCHES.clear()
            hit = _MATCHES[key] = pattern.matches(code)
        if hit:
            return True
    return False


@record(slots=True)
class SessionFacts:
    """What the client has observed of the session so far."""

    greeting_code: int | None = None
    extensions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    in_transaction: bool = False
    recipients: int = 0  # RCPTs accepted in the open transaction
    tls_active: bool = False
    authenticated: bool = False  # an AUTH got 235 since the last EHLO/HELO (RFC 4954 §4)
    # Server policies the scenario declares (`tls: required`, `auth: required`): known, not
    # assumed, and their documents' rows count in every profile while the policy still applies.
    declared: frozenset[str] = frozenset()

    def holds(self, requirement: str) -> bool:
        """A sequence rule's requirement (probe.codes.REQUIREMENTS), as the session shows it."""
        if requirement == "transaction":
            return self.in_transaction
        if requirement == "no_transaction":
            return not self.in_transaction
        if requirement == "unauthenticated":
            return not self.authenticated
        return self.in_transaction and self.recipients > 0

    def condition(self, name: str, command: str) -> bool | None:
        """True/False when observable, None when it can only be assumed."""
        if name in self.declared:
            # Declared by the scenario: it holds until what it asks for was done.
            return not (self.tls_active if name == "tls_required" else self.authenticated)
        if name == "after_554_greeting":
            return self.greeting_code == 554
        if name == "after_521_greeting":
            return self.greeting_code == 521
        if name == "in_transaction":
            return self.in_transaction
        if name == "not_advertised":
            keyword = _ADVERTISED_BY.get(command)
            return keyword is not None and keyword not in self.extensions
        if name == "tls_insufficient":
            # Only a TLS session can be judged too weak; in the clear the row cannot apply.
            return None if self.tls_active else False
        if name.startswith("ext_"):
            return name[4:] in self.extensions
        # Server policy and session kind cannot be observed: assume them (and say so). The
        # table's loader accepts no other condition names.
        return None if name in _ASSUMABLE else False


def judge(
    exchange: Exchange,
    table: CodeTable,
    profile: str,
    facts: SessionFacts,
    expectation: Expectation | None = None,
) -> list[Finding]:
    """Every finding for one exchange (an empty list means a clean pass)."""
    breaches = probe_breaches(exchange, facts)
    if exchange.reply is None:
        return [*breaches, Finding(Verdict.ERROR, exchange.error or "no reply")]
    reply = exchange.reply
    command = exchange.command
    # (Each helper below says nothing outside its command: not called there.)
    syntax = _syntax_findings(reply) if reply.problems else []
    if command == "EHLO":
        syntax += _ehlo_findings(command, reply)
    if syntax and command != "DATA-END" and bare_line_end(exchange.sent):
        syntax = [_echoed(syntax)]
    if command == "CONNECT":
        syntax += _greeting_findings(command, reply)
    findings = _tls_ehlo_findings(command, reply, facts) if command == "EHLO" else []
    findings += _enhanced_findings(reply, command, facts)
    findings += _answer_findings(exchange, reply, table, facts)
    about = _about(exchange, reply)
    if reply.code is not None and not (
        reply.problems and any(p.kind == "bad-code" for p in reply.problems)
    ):
        findings += _code_findings(exchange, reply.code, table, profile, facts, about)
    if expectation is not None:
        waived = _waived(reply, facts)
        unmet = [] if waived else expectation_findings(reply, expectation, about)
        if unmet and _postmaster_deferred(exchange, reply):
            unmet = [_deferred(f) for f in unmet]
        if unmet and (refused := _refused_out_of_sequence(exchange.command, reply, table, facts)):
            waived = refused
        if waived:
            findings.append(Finding(Verdict.PASS, f"expectation not judged: {waived}", "RFC 5321"))
        else:
            findings += unmet
    if breaches:
        # What the probe's own breach provokes is not the server's fault: reported, never
        # counted (a malformed reply still is: no breach makes a reply's grammar optional).
        findings = [_provoked(f) for f in findings]
    return breaches + syntax + findings


def _about(exchange: Exchange, reply: Reply) -> str:
    """What a finding about this reply's code is about (Finding.about): the code, the command
    and the line sent (two replies to the same line in one step say the same thing)."""
    line = exchange.sent.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    return f"{reply.code} to {exchange.command}: {line}"


def _ehlo_findings(command: str, reply: Reply) -> list[Finding]:
    """What the EHLO parser finds in a 250 reply: a fail where the grammar binds, else a warning
    (probe.protocol.ehlo.EHLO_PROBLEMS)."""
    if command != "EHLO" or reply.code != 250:
        return []
    findings = []
    for problem in parse_ehlo(reply).problems:
        must, source = EHLO_PROBLEMS[problem.kind]
        findings.append(
            Finding(Verdict.FAIL if must else Verdict.WARN, problem, source, topic="syntax")
        )
    return findings


GREETING_SOURCE = "RFC 5321 §4.2 (Greeting)"


def _greeting_findings(command: str, reply: Reply) -> list[Finding]:
    """A 220 greeting starts with the server's name: `Greeting = ( "220 " (Domain /
    address-literal) [ SP textstring ] CRLF ) / ...` (must-level grammar)."""
    if command != "CONNECT" or reply.code != 220 or not reply.text_lines:
        return []
    first = reply.text_lines[0].split(" ", 1)[0]
    if names_a_host(first):
        return []
    shown = f"starts with {first!r}" if first else "does not name the server"
    return [
        Finding(
            Verdict.FAIL,
            f'the greeting {shown}, not a domain or address literal: Greeting = ( "220 " '
            "(Domain / address-literal) [ SP textstring ] CRLF ) / ...",
            GREETING_SOURCE,
            topic="syntax",
        )
    ]


# Mechanisms that send the password itself (RFC 4954 §4 calls them plaintext password mechanisms).
PLAINTEXT_MECHANISMS = ("PLAIN", "LOGIN")


def _tls_ehlo_findings(command: str, reply: Reply, facts: SessionFacts) -> list[Finding]:
    """What EHLO advertises about TLS and passwords: STARTTLS again inside TLS (RFC 3207 §4.2,
    a MUST), and a plaintext password mechanism offered in the clear (RFC 4954 §4, a SHOULD)."""
    if command != "EHLO" or reply.code != 250:
        return []
    capabilities = parse_ehlo(reply)
    findings = []
    if facts.tls_active and capabilities.has("STARTTLS"):
        findings.append(
            Finding(
                Verdict.FAIL,
                'the server advertises STARTTLS inside the TLS session: "A server MUST NOT '
                "return the STARTTLS extension in response to an EHLO command received after a "
                'TLS handshake has completed"',
                "RFC 3207 §4.2",
            )
        )
    plain = [m for m in capabilities.auth_mechanisms if m in PLAINTEXT_MECHANISMS]
    if not facts.tls_active and plain:
        findings.append(
            Finding(
                Verdict.WARN,
                f"the server offers AUTH {' '.join(plain)} without TLS, where the password "
                'would cross the network in the clear: "Server sites SHOULD NOT use any '
                "configuration which permits a plaintext password mechanism without such a "
                'protection mechanism against password snooping"',
                "RFC 4954 §4",
            )
        )
    return findings


_POSTMASTER = re.compile(rb"(?i)^RCPT TO: ?<postmaster(@[^>]*)?>")


def _postmaster_deferred(exchange: Exchange, reply: Reply) -> bool:
    """A 4xx to RCPT for postmaster: a deferral (greylisting, a busy queue), not the refusal
    §4.5.1's MUST forbids ("every reasonable effort to accept"); the client is to try again."""
    code = reply.code
    return (
        exchange.command == "RCPT"
        and code is not None
        and code // 100 == 4
        and code != SHUTDOWN
        and _POSTMASTER.match(exchange.sent) is not None
    )


def _deferred(finding: Finding) -> Finding:
    if finding.verdict is not Verdict.FAIL:
        return finding
    return replace(
        finding,
        verdict=Verdict.WARN,
        message=f"{finding.message} (a temporary refusal: postmaster deferred, not refused)",
    )


def _provoked(finding: Finding) -> Finding:
    if finding.verdict not in (Verdict.FAIL, Verdict.WARN):
        return finding
    return replace(
        finding,
        verdict=Verdict.INFO,
        message=f"provoked by the probe's own breach, not counted: {finding.message}",
    )


# ---- the probe's own breaches: what the client did outside the protocol ------------------------

_EIGHT_BIT = re.compile(rb"[\x80-\xff]")


def probe_breaches(exchange: Exchange, facts: SessionFacts) -> list[Finding]:
    """What the probe itself did that the server did not offer or the RFC forbids a client: never
    the server's fault (an INFO finding each)."""
    command, offered = exchange.command, facts.extensions
    found: list[tuple[str, str]] = []
    if exchange.pipelined and "PIPELINING" not in offered:
        found.append(("pipelined commands, and the server did not offer PIPELINING", "RFC 2920 §3"))
    if over_limit(exchange):
        limit = TEXT_LINE_LIMIT if command == "DATA-END" else COMMAND_LINE_LIMIT
        section = "§4.5.3.1.6" if command == "DATA-END" else "§4.5.3.1.4"
        found.append((f"sent a line over the {limit} octets the RFC allows", f"RFC 5321 {section}"))
    if command != "DATA-END" and bare_line_end(exchange.sent):
        found.append(
            (
                "sent a bare CR or LF inside a command line, which a client MUST NOT do",
                "RFC 5321 §2.3.8",
            )
        )
    if (
        command in ("MAIL", "RCPT")
        and _EIGHT_BIT.search(exchange.sent)
        and ("SMTPUTF8" not in offered)
    ):
        found.append(
            ("sent a non-ASCII address, and the server did not offer SMTPUTF8", "RFC 6531")
        )
    if command == "DATA-END" and exchange.eight_bit and "8BITMIME" not in offered:
        found.append(("sent 8-bit message data, and the server did not offer 8BITMIME", "RFC 6152"))
    keyword = _ADVERTISED_BY.get(command)
    if keyword is not None and keyword not in offered:
        found.append((f"sent {command}, and the server did not offer {keyword}", "RFC 5321 §2.2.1"))
    if command == "MAIL" and facts.in_transaction:
        found.append(
            ("sent MAIL inside an open transaction, which a client MUST NOT do", "RFC 5321 §4.1.4")
        )
    return [
        Finding(Verdict.INFO, f"the probe {what}", source, topic="probe") for what, source in found
    ]


def _echoed(syntax: list[Finding]) -> Finding:
    """A malformed reply to a command line holding the probe's own bare CR or LF: the server
    echoed it (§4.2's textstring excludes CR and LF, so the reply is broken: a warning), and the
    reader's split at it (a "line" with no code) is the probe's artefact, not a second fault."""
    first = syntax[0].message
    return Finding(
        Verdict.WARN,
        f"the reply holds the bare CR or LF the probe sent, which breaks its lines ({first})",
        "RFC 5321 §4.2 (textstring), §2.3.8",
        topic="syntax",
    )


def bare_line_end(sent: bytes) -> bool:
    """A CR or LF in the command line other than its final CRLF (what follows the first CRLF,
    a BDAT chunk say, is data, not the line)."""
    end = sent.find(b"\r\n")
    if end < 0:
        end = len(sent)
    return sent.find(b"\r", 0, end) >= 0 or sent.find(b"\n", 0, end) >= 0


def _waived(reply: Reply, facts: SessionFacts) -> str:
    """Why a scenario's expectation does not apply to this reply: the server shut the session
    down (421 is allowed at any time, §3.8), or refused service at the greeting (§3.1)."""
    if reply.code == SHUTDOWN:
        return "the server shut the session down (421, RFC 5321 §3.8)"
    if facts.greeting_code == 554:
        return "the server refused service at the greeting (554, RFC 5321 §3.1)"
    return ""


# The replies RFC 5321 gives a command out of sequence (§3.3, §4.1.4), by the unmet requirement.
_OUT_OF_SEQUENCE = {"transaction": (503,), "recipient": (503, 554)}


def _refused_out_of_sequence(
    command: str, reply: Reply, table: CodeTable, facts: SessionFacts
) -> str:
    """Why an unmet expectation is not judged: the command came out of sequence (RCPT after a
    refused MAIL, DATA after refused RCPTs) and got the refusal the RFC requires then, so what
    the step asks cannot be asked. A scenario that expects the refusal is judged as usual."""
    for rule in _rules(table).sequence(command):
        if facts.holds(rule.requires):
            continue
        if reply.code in _OUT_OF_SEQUENCE.get(rule.requires, ()):
            return (
                f"{_UNMET[rule.requires]}, and {reply.code} is the reply {rule.source} requires "
                "then (an earlier step was refused)"
            )
    return ""


def _syntax_findings(reply: Reply) -> list[Finding]:
    return [
        Finding(
            Verdict.FAIL if p.severity is Severity.FAIL else Verdict.WARN,
            p.message,
            p.source,
            topic="syntax",
        )
        for p in reply.problems
    ]


def _enhanced_findings(reply: Reply, command: str, facts: SessionFacts) -> list[Finding]:
    advertised = "ENHANCEDSTATUSCODES" in facts.extensions
    return [
        Finding(
            Verdict.FAIL if p.severity is Severity.FAIL else Verdict.WARN,
            p.message,
            p.source,
            topic="enhanced",
        )
        for p in check_enhanced(reply, advertised, command)
    ]


def _code_findings(
    exchange: Exchange,
    code: int,
    table: CodeTable,
    profile: str,
    facts: SessionFacts,
    about: str = "",
) -> list[Finding]:
    """What the tables say of this code; `about` (Finding.about) is set on each finding that says
    the code is wrong, not on one that says which looser document allows it."""
    command = exchange.command
    findings: list[Finding] = []
    applicable: list[Allowance] = []
    assumed: list[str] = []
    for row in _rules(table).allowances(command, code):
        if not row.when:
            applicable.append(row)  # unconditional: nothing to look at
            continue
        # Whether the probe sent an over-long line is seen on the exchange itself.
        states = [
            over_limit(exchange) if name == "line_too_long" else facts.condition(name, command)
            for name in row.when
        ]
        if any(state is False for state in states):
            continue
        applicable.append(row)
        assumed += [name for name, state in zip(row.when, states, strict=True) if state is None]

    # A row whose conditions the scenario declares (auth: required -> RFC 4954's 530) counts in
    # any profile: the scenario brought that document in.
    passing = [
        row
        for row in applicable
        if profile in row.profiles or (row.when and set(row.when) <= facts.declared)
    ]
    if passing:
        if assumed:
            described = "; ".join(table.conditions.get(name, name) for name in sorted(set(assumed)))
            findings.append(
                Finding(
                    Verdict.PASS,
                    f"{code} to {command} accepted assuming: {described}",
                    _cite(passing),
                )
            )
    elif applicable:
        findings.append(
            Finding(
                Verdict.WARN,
                _not_in_profile(code, command, profile, applicable),
                _cite(applicable),
                _expected_list(table, command, profile),
            )
        )
    elif code // 100 in table.classes(command):
        findings.append(
            Finding(
                Verdict.WARN,
                f"{code} to {command} is listed by no document; clients must act on its first "
                f"digit ({code // 100}xx)",
                "RFC 5321 §4.3.2",
                _expected_list(table, command, profile),
                about=about,
            )
        )
    else:
        findings.append(
            Finding(
                Verdict.FAIL,
                f"{command} can never answer {code // 100}xx ({code})",
                "RFC 5321 §4.3.2",
                _expected_list(table, command, profile),
                about=about,
            )
        )

    rules = _fixed_findings(exchange, code, table, applicable)
    rules += _argument_findings(exchange, code, table)
    rules += _sequence_findings(exchange, code, table, facts)
    rules += _duty_findings(exchange, code, table, facts)
    # The rule first: at equal verdicts it is the step's headline, and the line the text report
    # shows for the findings that say the same thing (it names the RFC's own words).
    return [replace(f, about=about) for f in rules] + findings


def _duty_findings(
    exchange: Exchange, code: int, table: CodeTable, facts: SessionFacts
) -> list[Finding]:
    """A duty refused: RCPT TO:<postmaster> (§4.5.1), VRFY answered 500 or 502 (§3.5.3)."""
    if facts.greeting_code == 554:
        return []  # after a 554 greeting every refusal is the point (§3.1)
    duties = _rules(table).required(exchange.command)
    if not duties:
        return []
    line = exchange.sent.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    findings = []
    for duty in duties:
        if code not in duty.codes:
            continue
        if duty.match is not None and not duty.match.search(line):
            continue
        if duty.requires and not facts.holds(duty.requires):
            continue
        findings.append(
            Finding(
                Verdict.FAIL if duty.must else Verdict.WARN,
                f'{code} to {line}: "{duty.rule}"',
                duty.source,
            )
        )
    return findings


_UNMET = {
    "transaction": "no mail transaction is open (no MAIL accepted since the last EHLO, HELO, "
    "RSET or end of data)",
    "recipient": "no recipient was accepted in this transaction",
    "no_transaction": "a mail transaction is open (MAIL was accepted)",
    "unauthenticated": "an AUTH command already succeeded (235) in this session",
}


def _sequence_findings(
    exchange: Exchange, code: int, table: CodeTable, facts: SessionFacts
) -> list[Finding]:
    """A command accepted out of sequence (RCPT with no transaction, DATA with no recipient), or
    refused with another code than the one the rule names (AUTH: 503)."""
    findings = []
    for rule in _rules(table).sequence(exchange.command):
        accepted = code // 100 in (2, 3)
        other = rule.reply is not None and code not in (rule.reply, SHUTDOWN)
        if not (accepted or other):
            continue
        if exchange.command == "AUTH" and not exchange.has_argument:
            continue  # a client response inside an AUTH exchange (after a 334): no new AUTH
        if exchange.command == "AUTH" and "AUTH" not in facts.extensions:
            continue  # RFC 4954 binds servers that offer AUTH; otherwise §4.2.4's 502/500 apply
        if facts.holds(rule.requires):
            continue
        what = "was accepted" if accepted else "was refused with another code"
        findings.append(
            Finding(
                Verdict.FAIL,
                f"{exchange.command} {what} ({code}) although {_UNMET[rule.requires]}: "
                f'"{rule.rule}"',
                rule.source,
                str(rule.reply or 503),
            )
        )
    return findings


def _answer_findings(
    exchange: Exchange, reply: Reply, table: CodeTable, facts: SessionFacts
) -> list[Finding]:
    """The reply the RFC fixes for this form of the line (RFC 4954 §4: 501 to the cancel line
    "*" and to a response that is not base64; the empty 334 challenge to AUTH PLAIN)."""
    code = reply.code
    if code is None or code == SHUTDOWN:
        return []
    rules = _rules(table).answers(exchange.command)
    if not rules:
        return []
    line = exchange.sent.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if SECRET_MASK in line:
        return []  # a masked secret: what was really sent is not for a pattern to read
    findings = []
    for rule in rules:
        if not rule.match.search(line):
            continue
        if rule.continuation and exchange.has_argument:
            continue  # the AUTH command line itself, not a response after a 334
        verdict = Verdict.FAIL if rule.must else Verdict.WARN
        shown = printable(line.encode(), 40)
        if rule.codes and code not in rule.codes:
            wanted = " or ".join(str(c) for c in sorted(rule.codes))
            findings.append(
                Finding(verdict, f'{code} to "{shown}": "{rule.rule}"', rule.source, wanted)
            )
            continue
        if rule.enhanced and "ENHANCEDSTATUSCODES" in facts.extensions:
            lines = reply.text_lines
            given = parse_enhanced(lines[0]).code if lines else None
            if given is None or given.text != rule.enhanced:
                found = f"enhanced code {given}" if given is not None else "no enhanced code"
                findings.append(
                    Finding(
                        verdict,
                        f'{code} to "{shown}" with {found} (ENHANCEDSTATUSCODES is advertised): '
                        f'"{rule.rule}"',
                        rule.source,
                        f"{code} {rule.enhanced}",
                    )
                )
        if rule.text is not None and code == rule.text_code:
            text = "\n".join(reply.text_lines)
            if not rule.text.search(text):
                findings.append(
                    Finding(
                        verdict,
                        f'{code} to "{shown}" carries the text {printable(text.encode(), 40)!r}: '
                        f'"{rule.rule}"',
                        rule.source,
                    )
                )
    return findings


def _fixed_findings(
    exchange: Exchange, code: int, table: CodeTable, applicable: list[Allowance]
) -> list[Finding]:
    """A reply the RFC fixes (QUIT -> 221, RSET -> 250, NOOP -> 250, the greeting), checked only
    for the form the rule is written for."""
    command = exchange.command
    fixed = _rules(table).fixed(command)
    if fixed is None or code in fixed.codes or code == SHUTDOWN:
        return []
    # A code that a standards-track extension or update, or a session condition, allows (521
    # greeting per RFC 7504, 503 to RSET after a 554 greeting) is not bound by the base fixed
    # reply; a legacy or seed listing (RFC 876's 200 to RSET) does not excuse it. A line over
    # the length limit may get 500 whatever the command (§4.3.2, §4.5.3.1.4).
    if any(row.when or row.tier is Tier.EXTENSION for row in applicable):
        return []
    if over_limit(exchange):
        return []
    wanted = " or ".join(str(c) for c in sorted(fixed.codes))
    if exchange.has_argument:
        if fixed.unless_argument:
            return []  # the rule is for the bare command; no_arguments judges this form
        if fixed.argument_rule:
            return [
                Finding(
                    Verdict.WARN,
                    f"{command} with a parameter got {code}; the parameter SHOULD be ignored: "
                    f'"{fixed.argument_rule}"',
                    fixed.source,
                    wanted,
                )
            ]
    keyword = "MUST" if fixed.must else "is to"
    return [
        Finding(
            Verdict.FAIL if fixed.must else Verdict.WARN,
            f'{command} {keyword} be answered {wanted}, got {code}: "{fixed.rule}"',
            fixed.source,
            _fixed_expected(table, fixed),
        )
    ]


def _argument_findings(exchange: Exchange, code: int, table: CodeTable) -> list[Finding]:
    """DATA, RSET and QUIT take no arguments: given some, they SHOULD get 501 (§4.3.2)."""
    rule = table.no_arguments
    command = exchange.command
    if rule is None or command not in rule.commands or not exchange.has_argument:
        return []
    if code in rule.codes or code == SHUTDOWN:
        return []
    wanted = " or ".join(str(c) for c in sorted(rule.codes))
    if code // 100 in (2, 3):
        what = f"{command} with arguments was accepted ({code})"
    else:
        what = f"{command} with arguments got {code}"
    return [
        Finding(
            Verdict.WARN,
            f'{what}; it SHOULD get {wanted}: "{rule.rule}"',
            rule.source,
            wanted,
        )
    ]


def over_limit(exchange: Exchange) -> bool:
    """Whether the probe sent a line over RFC 5321's limits: a command line over 512 octets with
    its CRLF (§4.5.3.1.4), a message text line over 1000 (§4.5.3.1.6)."""
    sent = exchange.sent
    if exchange.command == "DATA-END" and exchange.streamed is not None:
        return exchange.streamed.longest_line + 2 > TEXT_LINE_LIMIT
    if exchange.command == "DATA-END":
        if len(sent) + 2 <= TEXT_LINE_LIMIT:
            return False  # no line of it can be longer than all of it
        return any(len(line) + 2 > TEXT_LINE_LIMIT for line in sent.split(b"\r\n"))
    if len(sent) + 2 <= COMMAND_LINE_LIMIT:
        return False
    first = sent.split(b"\r\n", 1)[0]
    return len(first) + 2 > COMMAND_LINE_LIMIT


# Short names of the table's conditions, for the `expected:` line.
CONDITION_LABELS = {
    "after_554_greeting": "after a 554 greeting",
    "after_521_greeting": "after a 521 greeting",
    "tls_required": "if TLS is required first",
    "auth_required": "if authentication is required first",
    "tls_insufficient": "if TLS is too weak",
    "not_advertised": "if not advertised",
    "in_transaction": "in a transaction",
    "line_too_long": "after a line over the length limit",
    "odmr_session": "in an ODMR session",
}


def _fixed_expected(table: CodeTable, fixed: FixedReply) -> str:
    """What a fixed-reply command may answer, each conditional code with its condition: the codes
    the rule allows, 421, then e.g. "500 (line over 512 octets)", "501 (with arguments)"."""
    parts = [str(c) for c in sorted(fixed.codes | {SHUTDOWN})]
    if fixed.command != "CONNECT":
        parts.append("500 (line over 512 octets)")
    if fixed.unless_argument:
        parts.append("501 (with arguments)")
    if fixed.argument_rule:
        parts.append("any code (with a parameter; SHOULD be ignored)")
    for row in table.entries(fixed.command):
        if row.when and ("rfc5321" in row.profiles or row.tier is Tier.EXTENSION):
            labels = " and ".join(CONDITION_LABELS.get(name, name) for name in row.when)
            parts.append(f"{row.code} ({labels})")
        elif row.tier is Tier.EXTENSION and not row.when:
            parts.append(f"{row.code} ({row.sources[0]})")
    return ", ".join(dict.fromkeys(parts))


def _not_in_profile(code: int, command: str, profile: str, rows: list[Allowance]) -> str:
    """Why a documented code does not pass in this profile, in the words of its rows."""
    if all(row.tier is Tier.RFC5321 for row in rows):
        wider = sorted({p for row in rows for p in row.profiles})
        note = next((row.note for row in rows if row.note), "")
        return f"{code} to {command} passes only in the {'/'.join(wider)} profile" + (
            f": {note}" if note else ""
        )
    tiers = sorted({str(row.tier) for row in rows if row.tier is not Tier.RFC5321})
    kinds = " and ".join(TIER_WORDS.get(tier, f"{tier} documents") for tier in tiers)
    return f"{code} to {command} is allowed only by {kinds}, not by the {profile} profile"


# What each tier of documents is, in a reader's words.
TIER_WORDS = {
    "extension": "an extension RFC applied to a base command",
    "legacy": "the older RFCs (821, 2821)",
    "registry": "the IANA registry",
    "seed": "vendor reference pages",
}


def _cite(rows: list[Allowance]) -> str:
    sources: list[str] = []
    for row in rows:
        for source in row.sources:
            if source not in sources:
                sources.append(source)
    return "; ".join(sources[:3])


def _expected_list(table: CodeTable, command: str, profile: str) -> str:
    codes = sorted({row.code for row in table.entries(command) if profile in row.profiles})
    if not codes:
        return ""
    return f"{profile}: " + ", ".join(str(c) for c in codes)


def expectation_findings(reply: Reply, expectation: Expectation, about: str = "") -> list[Finding]:
    """A finding when the scenario's expectation is not met (verdict by its level); `about` is
    set on it when only the code is wrong (a text mismatch says something of its own)."""
    problems = []
    code = reply.code
    if expectation.codes and (code is None or not _code_matches(expectation.codes, code)):
        problems.append(f"got {code if code is not None else 'no valid code'}")
    unmatched = []
    if expectation.texts:
        text = "\n".join(reply.text_lines)
        unmatched = [t.pattern for t in expectation.texts if not t.search(text)]
    if unmatched:
        problems.append(
            "reply text does not match"
            + (f" /{unmatched[0]}/" if len(expectation.texts) > 1 else "")
        )
    if (expectation.advertises or expectation.not_advertises) and code == 250:
        offered = parse_ehlo(reply).extensions
        if missing := [k for k in expectation.advertises if k not in offered]:
            problems.append(f"{' '.join(missing)} not advertised")
        if present := [k for k in expectation.not_advertises if k in offered]:
            problems.append(f"{' '.join(present)} advertised")
    if not problems:
        return []
    verdict = {Level.MUST: Verdict.FAIL, Level.SHOULD: Verdict.WARN, Level.INFO: Verdict.INFO}[
        expectation.level
    ]
    return [
        Finding(
            verdict,
            f"expected {expectation.describe()} ({expectation.level}): {', '.join(problems)}",
            expectation.why,
            expectation.describe(),
            about=about if problems == [f"got {code}"] else "",
        )
    ]


def step_verdict(findings: list[Finding], strict: bool) -> Verdict:
    """The worst finding; with --strict a warning counts as a failure."""
    verdicts = [f.verdict for f in findings]
    if strict:
        verdicts = [Verdict.FAIL if v is Verdict.WARN else v for v in verdicts]
    return worst(verdicts)
