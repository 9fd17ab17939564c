"""EHLO reply parsing into capabilities (RFC 5321 §4.1.1.1).

    ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
                 / ( "250-" Domain [ SP ehlo-greet ] CRLF
                     *( "250-" ehlo-line CRLF ) "250" SP ehlo-line CRLF )
    ehlo-line    = ehlo-keyword *( SP ehlo-param )
    ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    ehlo-param   = 1*(%d33-126)

Lenient where servers commonly differ and nothing is lost: runs of spaces between words are
accepted (and reported), an address literal is accepted in place of the domain, and the obsolete
`AUTH=PLAIN LOGIN` form (RFC 2554 era, sent for old clients) is kept under the key "AUTH=" without
a problem. Lines whose keyword breaks the grammar are reported and left out of `extensions`.
"""

from __future__ import annotations

import re
from typing import Final

from probe.protocol.reply import Reply
from probe.record import field, record

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_PARAM = re.compile(r"[\x21-\x7e]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[[\x21-\x5a\x5e-\x7e]+\]")
_OLD_AUTH = re.compile(r"AUTH=", re.IGNORECASE)

OLD_AUTH_KEY: Final = "AUTH="


class EhloProblem(str):
    """One problem of an EHLO reply: its one-line message, with `kind` (see EHLO_PROBLEMS)."""

    kind: str

    def __new__(cls, kind: str, message: str) -> EhloProblem:
        problem = super().__new__(cls, message)
        problem.kind = kind
        return problem


# kind -> (must-level?, source). The grammar of RFC 5321 §4.1.1.1 and RFC 1870 §4 binds (a
# breach fails); what the extension definitions add beyond their grammar is a warning.
EHLO_PROBLEMS: Final[dict[str, tuple[bool, str]]] = {
    "domain": (True, "RFC 5321 §4.1.1.1 (ehlo-ok-rsp: Domain / address-literal)"),
    "spaces": (True, "RFC 5321 §4.1.1.1 (ehlo-line: words separated by one SP)"),
    "empty": (True, "RFC 5321 §4.1.1.1 (ehlo-line: ehlo-keyword)"),
    "keyword": (True, "RFC 5321 §4.1.1.1 (ehlo-keyword)"),
    "param": (True, "RFC 5321 §4.1.1.1 (ehlo-param: %d33-126)"),
    "size": (True, "RFC 1870 §4 (size-param = [1*DIGIT])"),
    "code": (False, "RFC 5321 §4.1.1.1"),
    "repeated": (False, "RFC 5321 §4.1.1.1"),
    "no-parameters": (False, "the extension's RFC defines no parameters"),
    "no-mechanisms": (False, "RFC 4954 §3"),
    "not-250": (False, "RFC 5321 §4.1.1.1"),
}

# Extensions whose definitions give them no parameters.
NO_PARAMETERS: Final = frozenset(
    {
        "PIPELINING",  # RFC 2920
        "STARTTLS",  # RFC 3207
        "8BITMIME",  # RFC 6152
        "SMTPUTF8",  # RFC 6531
        "CHUNKING",  # RFC 3030
        "DSN",  # RFC 3461
        "ENHANCEDSTATUSCODES",  # RFC 2034
    }
)


@record(frozen=True, slots=True)
class Capabilities:
    """What a 250 EHLO reply advertised.

    `domain` is the first word of the first line; `greet` the rest of that line. `extensions` maps
    each keyword, upper-cased (keywords are case-insensitive, §4.1.1.1), to its parameters as given.
    `problems` lists lines that break the ehlo-line grammar (one-line messages).
    The obsolete `AUTH=MECH ...` line is kept under the key "AUTH=" (see `auth_mechanisms`).
    """

    domain: str
    greet: str
    extensions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[EhloProblem, ...] = ()

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.extensions

    @property
    def size_limit(self) -> int | None:
        """SIZE's parameter as an int (0 = no fixed limit), or None if not advertised or invalid.

        SIZE without a parameter also means no fixed limit (RFC 1870 §4: size-param is optional).
        """
        params = self.extensions.get("SIZE")
        if params is None:
            return None
        if not params:
            return 0
        if len(params) == 1 and params[0].isascii() and params[0].isdigit():
            return int(params[0])
        return None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """AUTH mechanisms, upper-cased (also from the obsolete `AUTH=` form), without repeats."""
        seen: dict[str, None] = {}
        for key in ("AUTH", OLD_AUTH_KEY):
            for mechanism in self.extensions.get(key, ()):
                seen.setdefault(mechanism.upper(), None)
        return tuple(seen)


def _words(text: str, number: int, problems: list[EhloProblem]) -> list[str]:
    """Split on spaces, reporting anything but single spaces between words."""
    words = [word for word in text.split(" ") if word]
    if text != " ".join(words):
        problems.append(
            EhloProblem(
                "spaces", f"line {number}: words are not separated by single spaces: {text!r}"
            )
        )
    return words


def names_a_host(word: str) -> bool:
    """Whether `word` is a Domain or an address literal (RFC 5321 §4.1.2, §4.1.3), as the greeting
    and the EHLO reply must start with (§4.2, §4.1.1.1)."""
    return bool(_DOMAIN.fullmatch(word) or _ADDRESS_LITERAL.fullmatch(word))


def _first_line(text: str, problems: list[EhloProblem]) -> tuple[str, str]:
    domain, _, greet = text.partition(" ")
    if not domain:
        problems.append(
            EhloProblem("domain", f"line 1 does not start with the server's domain: {text!r}")
        )
    elif not (_DOMAIN.fullmatch(domain) or _ADDRESS_LITERAL.fullmatch(domain)):
        problems.append(
            EhloProblem("domain", f"line 1 starts with {domain!r}, not a domain or address literal")
        )
    return domain, greet


def _check_known(
    keyword: str, params: tuple[str, ...], number: int, problems: list[EhloProblem]
) -> None:
    if keyword in NO_PARAMETERS and params:
        problems.append(
            EhloProblem(
                "no-parameters",
                f"line {number}: {keyword} takes no parameters, got {' '.join(params)!r}",
            )
        )
    elif keyword == "SIZE":
        if len(params) > 1:
            problems.append(
                EhloProblem("size", f"line {number}: SIZE takes one parameter, got {len(params)}")
            )
        elif params and not (params[0].isascii() and params[0].isdigit()):
            problems.append(
                EhloProblem("size", f"line {number}: SIZE parameter {params[0]!r} is not a number")
            )
    elif keyword in ("AUTH", OLD_AUTH_KEY) and not params:
        problems.append(
            EhloProblem("no-mechanisms", f"line {number}: {keyword} lists no mechanisms")
        )


def parse_ehlo(reply: Reply) -> Capabilities:
    """Capabilities from an EHLO reply. Never raises; a non-2xx reply gives no extensions."""
    global _LAST
    last = _LAST
    if last is not None and last[0] is reply:
        return last[1]  # judged twice and observed once, one after the other
    capabilities = _parse_ehlo(reply)
    _LAST = (reply, capabilities)
    return capabilities


# The last reply parsed and its capabilities (both immutable): a session asks for the same EHLO
# reply's three times in a row.
_LAST: tuple[Reply, Capabilities] | None = None


def _parse_ehlo(reply: Reply) -> Capabilities:
    problems: list[EhloProblem] = []
    texts = reply.text_lines
    if not texts:
        return Capabilities("", "", {}, (EhloProblem("not-250", "the reply has no lines"),))
    if reply.first_digit != 2:
        shown = "no code" if reply.code is None else f"code {reply.code}"
        problem = EhloProblem("not-250", f"not a 250 EHLO reply ({shown}); no extensions")
        return Capabilities("", "", {}, (problem,))
    if reply.code != 250:
        problems.append(EhloProblem("code", f"EHLO reply code is {reply.code}, not 250"))
    domain, greet = _first_line(texts[0], problems)
    extensions: dict[str, tuple[str, ...]] = {}
    first_line_of: dict[str, int] = {}
    for number, text in enumerate(texts[1:], start=2):
        words = _words(text, number, problems)
        if not words:
            problems.append(EhloProblem("empty", f"line {number} is empty, with no ehlo-keyword"))
            continue
        head, params = words[0], tuple(words[1:])
        if _OLD_AUTH.match(head):
            keyword = OLD_AUTH_KEY
            params = tuple(word for word in (head[len(OLD_AUTH_KEY) :], *params) if word)
        elif _KEYWORD.fullmatch(head):
            keyword = head.upper()
        else:
            problems.append(
                EhloProblem(
                    "keyword",
                    f"line {number}: {head!r} is not an ehlo-keyword "
                    "(a letter or digit, then letters, digits, hyphens)",
                )
            )
            continue
        bad = [param for param in params if not _PARAM.fullmatch(param)]
        if bad:
            problems.append(
                EhloProblem(
                    "param",
                    f"line {number}: {keyword} parameter {bad[0]!r} has characters outside 33-126",
                )
            )
        if keyword in extensions:
            problems.append(
                EhloProblem(
                    "repeated",
                    f"line {number}: {keyword} advertised again (first on line "
                    f"{first_line_of[keyword]}); the first is kept",
                )
            )
            continue
        _check_known(keyword, params, number, problems)
        extensions[keyword] = params
        first_line_of[keyword] = number
    return Capabilities(domain, greet, extensions, tuple(problems))
