"""Enhanced status codes (RFC 3463 §2 syntax, RFC 2034 §3-§4 rules).

RFC 3463 §2: status-code = class "." subject "." detail; class = "2"/"4"/"5"; subject = 1*3digit;
detail = 1*3digit; no leading zero digits. RFC 2034 §3-§4: with ENHANCEDSTATUSCODES the text of
every 2xx/4xx/5xx response line other than the greeting and HELO/EHLO replies starts with one,
followed by one or more spaces, and its class agrees with the reply code's first digit.
"""

from __future__ import annotations

import re
from typing import Final

from probe.protocol.reply import Reply, Severity, SyntaxProblem, collapse_problems, line_text
from probe.record import record

# kind -> (severity, source) for the problems `check_enhanced` reports.
ENHANCED_PROBLEM_KINDS: Final[dict[str, tuple[Severity, str]]] = {
    "enhanced-class-mismatch": (Severity.FAIL, "RFC 2034 §4"),
    "enhanced-malformed": (Severity.FAIL, "RFC 3463 §2"),
    "enhanced-missing": (Severity.WARN, "RFC 2034 §3"),
}

# Commands whose replies need not carry an enhanced code (RFC 2034 §3: "other than the initial
# greeting and any response to HELO or EHLO"; LHLO is LMTP's EHLO, RFC 2033).
EXEMPT_COMMANDS: Final = frozenset({"CONNECT", "HELO", "EHLO", "LHLO"})

# Anything that starts like digits.digits.digits is taken to be meant as an enhanced code.
_SHAPE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")


@record(frozen=True, slots=True)
class EnhancedCode:
    klass: int
    subject: int
    detail: int
    text: str  # as written, e.g. "5.1.1"

    def __str__(self) -> str:
        return self.text


@record(frozen=True, slots=True)
class EnhancedParse:
    """What was found at the start of a reply line's text.

    `code` is the parsed code when the text starts with a valid one; `problem` is a one-line
    message when the text starts with something shaped like an enhanced code that breaks RFC 3463
    §2 (leading zeros, a sub-code of more than three digits, class not 2/4/5, no space after it).
    Plain text gives EnhancedParse(None, None).
    """

    code: EnhancedCode | None
    problem: str | None = None


def _sub_code_faults(name: str, digits: str) -> list[str]:
    faults = []
    if len(digits) > 3:
        faults.append(f"{name} {digits!r} has more than three digits")
    if len(digits) > 1 and digits.startswith("0"):
        faults.append(f"{name} {digits!r} has a leading zero")
    return faults


_PLAIN = EnhancedParse(None)  # plain text: no code, no problem (immutable, so shared)


def parse_enhanced(text: str) -> EnhancedParse:
    """Parse an enhanced status code at the start of `text` (a reply line's text). Never raises."""
    shape = _SHAPE.match(text)
    if shape is None:
        return _PLAIN
    klass, subject, detail = shape.groups()
    written = shape.group()
    faults = []
    if klass not in ("2", "4", "5"):
        faults.append(f"class {klass!r} is not 2, 4 or 5")
    faults += _sub_code_faults("subject", subject)
    faults += _sub_code_faults("detail", detail)
    after = text[shape.end() :]
    if after and not after.startswith(" "):
        faults.append(f"it is followed by {after[0]!r}, not a space")
    if faults:
        shown = written if len(written) <= 20 else written[:20] + "..."
        return EnhancedParse(None, f"enhanced code {shown!r}: " + "; ".join(faults))
    return EnhancedParse(EnhancedCode(int(klass), int(subject), int(detail), written))


def _problem(kind: str, message: str, line: int) -> SyntaxProblem:
    severity, source = ENHANCED_PROBLEM_KINDS[kind]
    return SyntaxProblem(kind, severity, message, source, line)


def check_enhanced(reply: Reply, advertised: bool, command: str) -> list[SyntaxProblem]:
    """Judge the enhanced status codes in `reply`, the answer to `command` ("CONNECT" for the
    greeting, else the verb, e.g. "MAIL"); `advertised` is whether EHLO offered
    ENHANCEDSTATUSCODES.

    - a well-formed code whose class differs from the reply's first digit: "enhanced-class-mismatch"
      (fail, RFC 2034 §4) - checked whether or not the extension was advertised;
    - text that starts like a code but breaks RFC 3463 §2: "enhanced-malformed" (fail); not checked
      on greeting and HELO/EHLO replies, whose text starts with a domain or address literal;
    - advertised, a 2xx/4xx/5xx reply other than the greeting and HELO/EHLO replies, and a line
      without a code: "enhanced-missing" (warn, RFC 2034 §3).
    3xx replies are skipped (RFC 2034 §4: "3xx responses are NOT included"), as are replies whose
    code is not 2xx/4xx/5xx (the reader reports those as "bad-code"). Every line with a
    reply code is checked (RFC 2034 §4: "all ... response lines"); each kind is reported once, on
    its first line, with a count of the others. Never raises.
    """
    digit = reply.first_digit
    if digit not in (2, 4, 5):
        return []
    exempt = command.upper() in EXEMPT_COMMANDS
    # Not advertised (or exempt), only text shaped like a code can say anything: a line whose
    # text does not start with a digit is passed over without being decoded.
    quiet = exempt or not advertised
    found: list[SyntaxProblem] = []
    for number, raw in enumerate(reply.raw_lines, start=1):
        if not (len(raw) >= 3 and raw[:3].isdigit()):
            continue  # a line without a reply code
        if quiet and (len(raw) <= 3 or (raw[3] < 0x80 and not raw[4:5].isdigit())):
            continue  # no text, or text (after an ASCII separator) that is no code
        text = line_text(raw)
        parsed = parse_enhanced(text)
        if parsed.code is not None:
            if parsed.code.klass != digit:
                found.append(
                    _problem(
                        "enhanced-class-mismatch",
                        f"line {number} has enhanced code {parsed.code} in a {reply.code} reply; "
                        f"its class must be {digit}",
                        number,
                    )
                )
        elif exempt:
            continue
        elif parsed.problem is not None:
            found.append(_problem("enhanced-malformed", f"line {number}: {parsed.problem}", number))
        elif advertised:
            shown = text if len(text) <= 30 else text[:30] + "..."
            found.append(
                _problem(
                    "enhanced-missing",
                    f"line {number} of the {reply.code} reply to {command.upper()} has no "
                    f"enhanced status code: {shown!r}",
                    number,
                )
            )
    return list(collapse_problems(found)) if found else found
