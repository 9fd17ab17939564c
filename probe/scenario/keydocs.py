"""What every step kind and key means, in one place: the JSON Schema's descriptions (what an
editor shows on hover) and the key tables of docs/scenarios.md are both made from these.

`python -m probe.scenario.keydocs` prints the tables; tests check the doc holds them as printed.
"""

from __future__ import annotations

from probe.scenario.grammar import KINDS, Arg
from probe.scenario.model import StepKind

KIND_DOCS: dict[str, str] = {
    "connect": "Open the connection and judge the greeting (implicit when the first step is not "
    "a connect).",
    "ehlo": "EHLO DOMAIN; the reply's extensions are what later steps' `requires`, `when` and "
    "the judging of extension codes go by.",
    "helo": "HELO DOMAIN.",
    "mail": "MAIL FROM:<ADDRESS> [PARAMS]; angle brackets are added unless the address has them.",
    "rcpt": "RCPT TO:<ADDRESS> [PARAMS]; angle brackets are added unless the address has them.",
    "data": "DATA, then, only after a 354, the message and the final dot; `expect` judges the "
    "reply to DATA, `expect_end` the reply to the end of the message.",
    "rset": "RSET [ARG].",
    "vrfy": "VRFY [ARG].",
    "expn": "EXPN [ARG].",
    "help": "HELP [ARG].",
    "noop": "NOOP [ARG].",
    "quit": "QUIT [ARG]; a 221 ends the session (the probe then waits for the close).",
    "send": "Any command line, or raw bytes; the line's first word (or `as`) picks the code table "
    "that judges the reply.",
    "pipeline": "Several commands in one write (RFC 2920); each reply is judged by its own "
    "command.",
    "starttls": "STARTTLS, then, after a 220, the TLS handshake (RFC 3207); the EHLO that RFC 3207 "
    "§4.2 asks for next is a step of its own.",
    "bdat": "The message in chunks (CHUNKING, RFC 3030): BDAT SIZE [LAST] and the chunk's octets, "
    "one reply each; a refused chunk ends the step (no more chunks are sent). `expect` judges the "
    "reply that ends the step.",
    "auth": "AUTH with a mechanism, a user name and a password (RFC 4954); the password is a "
    "secret, masked in every form. With `respond`, the first 334 gets that line instead (the "
    "cancel and decoding rules of RFC 4954 §4, with no credentials).",
    "idle": "Send nothing for up to SECONDS and report what the server does: closes the "
    "connection with a 421 first, closes it silently (RFC 5321 §3.8 allows both after a timeout, "
    "§4.5.3.2), or stays open. Information, but a close before 5 minutes warns (§4.5.3.2.7). "
    "Bounded by the session deadline (--deadline).",
}

# (kind, key) for a kind's own meaning of a key; (None, key) for a key every kind shares.
KEY_DOCS: dict[tuple[str | None, str], str] = {
    (None, "expect"): "The reply wanted: a code (250), a class (5xx), a class and subclass (25x), "
    "a list of those, or {code, text, same_as, same_class_as, level, why} (same_as: the code "
    "saved as that name; same_class_as: its class, the first digit). Default level: must.",
    (None, "level"): "What an unmet expectation costs: must (fail, the default), should (warn), "
    "info (a note).",
    (None, "why"): "Shown when the expectation is not met: the rule it rests on.",
    (None, "name"): "The step's label in reports (default: the command it sends).",
    (None, "stop_on_fail"): "Stop the scenario when this step fails (default: the scenario's "
    "stop_on_fail, else false).",
    (None, "timeout"): "Seconds to wait for the reply (default: the phase's, from --timeouts).",
    (None, "settle"): "Seconds of quiet before the command; any reply in that time is reported "
    "as unsolicited.",
    (None, "requires"): "EHLO keywords the step needs; where not advertised it is skipped as not "
    "applicable.",
    (None, "save"): "Values from this step's reply for ${NAME} in later steps: NAME: KEYWORD (an "
    "ehlo step: that keyword's parameters), NAME: {text: REGEX} (its first group, else the "
    "whole match), NAME: {code: true} (the reply code) or NAME: {address: true} (a connect step: "
    "the server's address literal, [192.0.2.1] or [IPv6:2001:db8::1]).",
    (None, "when"): "Play the step only if all of these hold: advertised, not_advertised (EHLO "
    "keywords), saved, not_saved (saved names), given (variables with a value that is not "
    "empty, e.g. credentials), tls (true: inside TLS, after STARTTLS or implicit; false: in the "
    "clear), accepted, refused (names of reply codes saved with {code: true} that were 2xx/3xx, "
    "or 4xx/5xx); else it is skipped as not applicable.",
    ("ehlo", "domain"): "The client's domain or address literal (one line).",
    ("helo", "domain"): "The client's domain (one line).",
    ("ehlo", "advertises"): "EHLO keywords the 250 reply must list (judged at the step's level).",
    ("ehlo", "not_advertises"): "EHLO keywords the 250 reply must not list.",
    ("mail", "from"): "The reverse-path; `<>` is the null reverse-path.",
    ("rcpt", "to"): "The forward-path.",
    (None, "params"): "ESMTP parameters after the path (SIZE=1000 BODY=8BITMIME).",
    (None, "exact"): "Send the path exactly as written: no angle brackets added.",
    ("data", "body"): "The message text: line ends sent as CRLF, dot-stuffed, the final dot added.",
    ("data", "raw"): "Bytes sent exactly after the 354 (escapes \\r \\n \\t \\0 \\\\ \\xHH); the "
    "final dot is yours to send.",
    ("data", "file"): "The message from this file (relative to the scenario), streamed: bare LF "
    "or CR sent as CRLF (and said), dot-stuffed, the final dot added.",
    ("data", "expand"): "Expand ${...} inside the file (read whole; at most 16 MiB). Default: "
    "false, the file is sent as it is.",
    ("data", "expect_end"): "The reply wanted after the end of the message (as `expect`).",
    ("data", "oversize"): "true: after the body, filler lines until the message is one line "
    "past the SIZE the server advertised (RFC 1870), streamed; not applicable without a SIZE, or "
    "with one over 16 MiB. `expect_end` judges the reply (552 is what RFC 1870 §6.3 gives).",
    ("data", "hangup"): "true: send the message without its final dot, then close the "
    "connection, as a client that dies mid-DATA (only a `connect` plays after it).",
    (None, "arg"): "The command's argument (one line).",
    ("send", "line"): "The command line, CRLF added (one line).",
    ("send", "raw"): "Bytes sent exactly (escapes \\r \\n \\t \\0 \\\\ \\xHH).",
    ("send", "drip"): "Seconds between octets: the line goes out one octet at a time, as from a "
    "very slow client; a reply before the line is complete is reported as unsolicited.",
    ("send", "replies"): "How many replies the bytes must get, counted over a quiet window after "
    "the first: N (exactly N), {exactly: N} or {at_most: N}, with `within` (seconds to count "
    "over; default 0.5, or --settle), `level` and `why` (default: the step's). Each reply is "
    "judged as the first, against `expect`; a wrong count is judged at its level.",
    ("send", "as"): "The verb whose code table judges the reply (default: the line's first word; "
    "for raw, none: any code of a possible class).",
    ("pipeline", "steps"): "The commands: mail, rcpt, rset, noop, send, and data as the last; "
    "after a 354, a send with raw message content (and its end) may come first (RFC 2920 §3.1).",
    ("auth", "mechanism"): "PLAIN, LOGIN, CRAM-MD5, XOAUTH2, SCRAM-SHA-1 or SCRAM-SHA-256, or a "
    "${variable} naming one (checked when the scenario is bound, before anything is sent).",
    ("starttls", "inject"): "A command sent in the same write as STARTTLS, before the handshake "
    "(the plaintext injection test, CVE-2011-0411): a server that answers it inside TLS fails.",
    ("bdat", "body"): "The message text: line ends sent as CRLF (a final CRLF added), no "
    "dot-stuffing, no final dot (RFC 3030 §2).",
    ("bdat", "raw"): "The message as bytes, sent exactly (escapes \\r \\n \\t \\0 \\\\ \\xHH).",
    ("bdat", "chunks"): "Sizes in octets of the first chunks, e.g. [100, 0]; what remains of the "
    "message is one more chunk. Default: the whole message in one chunk.",
    ("bdat", "last"): "true: LAST on the final chunk (the default); empty: the chunks, then "
    "BDAT 0 LAST; false: no LAST (the transaction stays open).",
    ("auth", "username"): "The user name (none for a step that only tests the exchange, with "
    "`respond`).",
    ("auth", "respond"): "A line (CRLF added) answering the server's first 334 instead of the "
    "mechanism's own answer: `'*'` cancels (RFC 4954 §4: 501), a line that is not base64 "
    "tests the decoding rule (501 5.5.2). No 334: not applicable, nothing is sent.",
    ("auth", "initial_response"): "false: the AUTH line without the initial response, which then "
    "answers the first 334 (PLAIN's empty challenge, RFC 4954 §4). Default: true.",
    ("starttls", "legacy_tls"): "true: after a 220, a handshake offering only TLS 1.0 and 1.1 "
    "(RFC 8996), then the connection is closed: the server completing it warns; refusing it "
    "passes; an OpenSSL here that cannot offer TLS 1.1 makes it not applicable.",
    ("connect", "legacy_tls"): "With implicit TLS: the handshake offers only TLS 1.0 and 1.1 "
    "(RFC 8996), then the connection is closed (as on `starttls`); without it, not applicable.",
    ("connect", "greeting"): "none: connect in the clear even to an implicit-TLS target "
    "(smtps://, --tls implicit) and want no greeting: the server waits for the client's TLS "
    "handshake (RFC 8314 §3.3); a cleartext greeting warns. The probe then hangs up. Not "
    "applicable to a target without implicit TLS.",
    ("idle", "seconds"): "How long to wait, at most 3600; a ${variable} may give it (checked when "
    "the scenario is bound), e.g. to make a long wait opt-in with `when: {given: [...]}`.",
    ("auth", "password"): "The password: a secret, masked with its base64 forms; use "
    "${secret:NAME}.",
}


def key_doc(kind: str, key: str) -> str:
    """What `key` means on a `kind` step; KeyError when nobody wrote it down."""
    return KEY_DOCS.get((kind, key)) or KEY_DOCS[(None, key)]


def _forms(kind: StepKind) -> str:
    spec = KINDS[kind]
    main = spec.main
    return {
        Arg.NONE: f"`- {kind.value}`, or `- {kind.value}: {{...}}` with the common keys",
        Arg.OPTIONAL: f"`- {kind.value}`, `- {kind.value}: ARG` or `- {kind.value}: {{{main}: "
        "..., ...}`",
        Arg.REQUIRED: f"`- {kind.value}: {main.upper() if main else 'VALUE'}` or "
        f"`- {kind.value}: {{{main}: ..., ...}}`",
        Arg.MAPPING: f"`- {kind.value}: {{...}}`",
        Arg.LIST: f"`- {kind.value}: [steps]` or `- {kind.value}: {{steps: [...]}}`",
    }[spec.arg]


def markdown() -> str:
    """The key tables of docs/scenarios.md, kind by kind."""
    out: list[str] = []
    for kind in StepKind:
        spec = KINDS[kind]
        out += [f"### `{kind.value}`", "", KIND_DOCS[kind.value], "", f"Forms: {_forms(kind)}."]
        if spec.keys:
            out += ["", "| key | meaning |", "|---|---|"]
            out += [f"| `{key}` | {key_doc(kind.value, key)} |" for key in spec.keys]
        common = ", ".join(f"`{key}`" for key in spec.common)
        out += ["", f"Common keys: {common} (below).", ""]
    out += ["### Keys every step takes", "", "| key | meaning |", "|---|---|"]
    common_keys = dict.fromkeys(k for spec in KINDS.values() for k in spec.common)
    out += [f"| `{key}` | {KEY_DOCS[(None, key)]} |" for key in common_keys]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
