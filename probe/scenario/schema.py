"""A JSON Schema (draft 2020-12) of the scenario format, for editors (completion and checking).

Print it with `python -m probe.scenario.schema > scenario.schema.json`, then e.g. for the YAML
language server: `# yaml-language-server: $schema=scenario.schema.json` at the top of a file.

Written out by hand, kind by kind, so it reads as documentation; tests/test_scenario_schema.py
checks it against the loader's tables (`grammar.py`) so the two cannot drift. Some rules only the
loader checks: variables, what the code tables allow, 'data' only last in a pipeline.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from probe.scenario.grammar import MAX_IDLE, MAX_REPLIES, MECHANISMS

SCHEMA_ID = "https://smtp-probe.invalid/scenario.schema.json"
CODE_PATTERN = "^[2-5](?:[0-9][0-9xX]|[xX][xX])$"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


_TEXT: Schema = {
    "type": ["string", "number", "boolean"],
    "description": "Text; may use ${name}, ${env:NAME}, ${env:NAME:-default}, ${secret:NAME}; "
    "$${ is a literal ${",
}

# One EHLO keyword or a list of them (RFC 5321 §4.1.1.1).
_KEYWORD: Schema = {
    "anyOf": [
        {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$"},
        {"type": "integer", "minimum": 0},  # a keyword may be all digits (YAML reads a number)
    ]
}
_KEYWORDS: Schema = {
    "anyOf": [_KEYWORD, {"type": "array", "items": _KEYWORD, "minItems": 1}],
}

_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
_NAMES: Schema = {
    "oneOf": [
        {"type": "string", "pattern": _NAME_PATTERN},
        {"type": "array", "items": {"type": "string", "pattern": _NAME_PATTERN}, "minItems": 1},
    ]
}

_COMMON: dict[str, Schema] = {
    "expect": _ref("expectation"),
    "level": _ref("level"),
    "why": {**_TEXT, "description": "Shown when the expectation is unmet (e.g. an RFC section)"},
    "name": {**_TEXT, "description": "The step's label in reports"},
    "stop_on_fail": {"type": "boolean", "description": "Stop the scenario if this step fails"},
    "timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": sys.float_info.max,  # finite: the loader reads numbers as (finite) floats
        "description": "Seconds",
    },
    "requires": {
        **_KEYWORDS,
        "description": "EHLO keywords the server must advertise, else the step is skipped",
    },
    "settle": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": sys.float_info.max,
        "description": "Seconds to wait before the command, reporting any reply that arrives",
    },
    "save": {
        "type": "object",
        "description": "Values from this step's reply for ${name} in later steps: name: KEYWORD "
        "(an ehlo step: that keyword's parameters), name: {text: REGEX} (its first group, or "
        "the whole match), name: {code: true} (the reply code) or name: {address: true} (a "
        "connect step: the server's address literal, [192.0.2.1])",
        "minProperties": 1,
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$"},
                {
                    "type": "object",
                    "properties": {"text": {"type": "string", "format": "regex"}},
                    "required": ["text"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"code": {"const": True}},
                    "required": ["code"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"address": {"const": True}},
                    "required": ["address"],
                    "additionalProperties": False,
                },
            ]
        },
    },
    "when": {
        "type": "object",
        "description": "Play the step only if all of these hold; else it is skipped as not "
        "applicable, with the reason",
        "minProperties": 1,
        "properties": {
            "advertised": {**_KEYWORDS, "description": "EHLO keywords the server advertised"},
            "not_advertised": {**_KEYWORDS, "description": "EHLO keywords it did not"},
            "saved": {**_NAMES, "description": "names a step has saved a value as"},
            "not_saved": {**_NAMES, "description": "names nothing was saved as"},
            "given": {
                **_NAMES,
                "description": "variables whose value is not empty (credentials given)",
            },
            "accepted": {
                **_NAMES,
                "description": "names of reply codes saved with {code: true} that were 2xx or "
                "3xx (the reply accepted what was asked)",
            },
            "refused": {
                **_NAMES,
                "description": "names of reply codes saved with {code: true} that were 4xx or 5xx",
            },
            "tls": {
                "type": "boolean",
                "description": "true: only inside TLS (after STARTTLS, or implicit TLS); false: "
                "only outside",
            },
        },
        "additionalProperties": False,
    },
}
_EXACT: Schema = {
    "type": "boolean",
    "description": "Send the path exactly as written: no angle brackets added",
}
_LEGACY_TLS: Schema = {
    "type": "boolean",
    "description": "true: a handshake offering only TLS 1.0 and 1.1 (RFC 8996); the connection "
    "is then closed",
}
_PIPELINE_COMMON = ("name", "stop_on_fail", "timeout", "requires", "when")
_IDLE_COMMON = ("name", "stop_on_fail", "requires", "when")
_IDLE_SECONDS: Schema = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_IDLE},
        {"type": "string", "pattern": "\\$\\{"},
    ],
    "description": "Seconds to wait (at most 3600), or a ${variable} giving them",
}
_COUNT: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_REPLIES}
_REPLIES: Schema = {
    "description": "How many replies the bytes must get, counted over a quiet window after the "
    "first: N (exactly N), {exactly: N} or {at_most: N}, with within (seconds), level and why",
    "anyOf": [
        _COUNT,
        {
            "type": "object",
            "properties": {
                "exactly": _COUNT,
                "at_most": _COUNT,
                "within": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": sys.float_info.max,
                    "description": "Seconds to count replies over, after the first",
                },
                "level": {"$ref": "#/$defs/level"},
                "why": _TEXT,
            },
            "additionalProperties": False,
            "oneOf": [{"required": ["exactly"]}, {"required": ["at_most"]}],
        },
    ],
}


def _long(own: dict[str, Schema], common: tuple[str, ...] = tuple(_COMMON), **extra: Any) -> Schema:
    """The mapping form of a kind: its own keys plus the common ones."""
    properties = {**own, **{key: _COMMON[key] for key in common}}
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


def _kind(
    name: str, value: Schema, description: str, common: tuple[str, ...] = tuple(_COMMON)
) -> Schema:
    """A step mapping for one kind: `{<kind>: value}`, common keys allowed beside it."""
    properties = {name: {**value, "description": description}}
    properties.update({key: _COMMON[key] for key in common})
    return {
        "type": "object",
        "properties": properties,
        "required": [name],
        "additionalProperties": False,
    }


def _arg_kind(name: str, description: str) -> Schema:
    return _kind(
        name,
        {"anyOf": [{"type": "null"}, _TEXT, _long({"arg": _TEXT})]},
        description,
    )


def _steps() -> dict[str, Schema]:
    return {
        "connect": _kind(
            "connect",
            {
                "anyOf": [
                    {"type": "null"},
                    _long(
                        {
                            "legacy_tls": _LEGACY_TLS,
                            "greeting": {
                                "const": "none",
                                "description": "Connect in the clear even to an implicit-TLS "
                                "target and want no greeting (RFC 8314 §3.3)",
                            },
                        }
                    ),
                ]
            },
            "Open the connection; expect judges the greeting",
        ),
        "ehlo": _kind(
            "ehlo",
            {
                "anyOf": [
                    _TEXT,
                    _long(
                        {
                            "domain": _TEXT,
                            "advertises": {
                                **_KEYWORDS,
                                "description": "EHLO keywords the 250 reply must list",
                            },
                            "not_advertises": {
                                **_KEYWORDS,
                                "description": "EHLO keywords the 250 reply must not list",
                            },
                        },
                        required=["domain"],
                    ),
                ]
            },
            "EHLO <domain>",
        ),
        "helo": _kind(
            "helo",
            {"anyOf": [_TEXT, _long({"domain": _TEXT}, required=["domain"])]},
            "HELO <domain>",
        ),
        "mail": _kind(
            "mail",
            {
                "anyOf": [
                    _TEXT,
                    _long({"from": _TEXT, "params": _TEXT, "exact": _EXACT}, required=["from"]),
                ]
            },
            "MAIL FROM:<address> (brackets added when missing; empty: the null path <>)",
        ),
        "rcpt": _kind(
            "rcpt",
            {
                "anyOf": [
                    _TEXT,
                    _long({"to": _TEXT, "params": _TEXT, "exact": _EXACT}, required=["to"]),
                ]
            },
            "RCPT TO:<address> (brackets added when missing)",
        ),
        "data": _kind(
            "data",
            {
                "anyOf": [
                    _TEXT,
                    _long(
                        {
                            "body": _TEXT,
                            "raw": {**_TEXT, "description": "Sent exactly after 354; escapes"},
                            "file": {
                                "type": "string",
                                "description": "The message from this file (relative to the "
                                "scenario), streamed as it is: bare LF/CR sent as CRLF, "
                                "dot-stuffed; variables not expanded unless expand: true",
                            },
                            "expand": {
                                "type": "boolean",
                                "description": "Expand ${...} inside the file (read whole; "
                                "at most 16 MiB)",
                            },
                            "hangup": {
                                "type": "boolean",
                                "description": "Send the message without its final dot, then "
                                "close the connection (the next step is a connect)",
                            },
                            "oversize": {
                                "type": "boolean",
                                "description": "Pad the body with filler lines one line past "
                                "the SIZE the server advertised (at most 16 MiB)",
                            },
                            "expect_end": _ref("expectation"),
                        },
                        oneOf=[
                            {"required": ["body"]},
                            {"required": ["raw"]},
                            {"required": ["file"]},
                        ],
                    ),
                ]
            },
            "DATA, then the body (dot-stuffed, CRLF.CRLF added); expect judges the 354 stage, "
            "expect_end the reply to the end of the message",
        ),
        "rset": _arg_kind("rset", "RSET [arg]"),
        "vrfy": _arg_kind("vrfy", "VRFY [arg]"),
        "expn": _arg_kind("expn", "EXPN [arg]"),
        "help": _arg_kind("help", "HELP [arg]"),
        "noop": _arg_kind("noop", "NOOP [arg]"),
        "quit": _arg_kind("quit", "QUIT [arg]"),
        "send": _kind(
            "send",
            {
                "anyOf": [
                    _TEXT,
                    _long(
                        {
                            "line": {**_TEXT, "description": "A command line; CRLF is added"},
                            "raw": {
                                **_TEXT,
                                "description": r"Sent exactly; escapes \r \n \t \0 \\ \xHH",
                            },
                            "as": {
                                "type": "string",
                                "pattern": "^\\s*[A-Za-z][A-Za-z0-9 _-]*$",
                                "description": "The verb whose code table judges the reply",
                            },
                            "drip": {
                                "type": "number",
                                "exclusiveMinimum": 0,
                                "maximum": sys.float_info.max,
                                "description": "Seconds between the octets, sent one at a time",
                            },
                            "replies": _REPLIES,
                        },
                        oneOf=[{"required": ["line"]}, {"required": ["raw"]}],
                    ),
                ]
            },
            "Any command line; its first word (or 'as') picks the code table",
        ),
        "pipeline": _kind(
            "pipeline",
            {
                "anyOf": [
                    _ref("members"),
                    _long({"steps": _ref("members")}, _PIPELINE_COMMON, required=["steps"]),
                ]
            },
            "Several commands in one write (RFC 2920); data only as the last member",
            _PIPELINE_COMMON,
        ),
        "starttls": _kind(
            "starttls",
            {
                "anyOf": [
                    {"type": "null"},
                    _long(
                        {
                            "inject": {
                                **_TEXT,
                                "description": "A command sent in the same write as STARTTLS "
                                "(the plaintext injection test, CVE-2011-0411)",
                            },
                            "legacy_tls": _LEGACY_TLS,
                        }
                    ),
                ]
            },
            "STARTTLS, then the TLS handshake",
        ),
        "auth": _kind(
            "auth",
            _long(
                {
                    "mechanism": {
                        "anyOf": [
                            {"enum": list(MECHANISMS)},
                            {"type": "string", "pattern": r"\$\{"},
                        ],
                        "description": "The SASL mechanism, or a ${variable} naming one",
                    },
                    "username": _TEXT,
                    "password": {**_TEXT, "description": "A secret: use ${secret:NAME}"},
                    "respond": {
                        **_TEXT,
                        "description": "The line answering the server's first 334 instead of "
                        "the mechanism's own ('*' cancels)",
                    },
                    "initial_response": {
                        "type": "boolean",
                        "description": "false: the AUTH line without the initial response "
                        "(sent after the empty 334 challenge)",
                    },
                },
                required=["mechanism"],
                anyOf=[{"required": ["username", "password"]}, {"required": ["respond"]}],
            ),
            "AUTH with one SASL mechanism (RFC 4954); the password is a secret (an OAuth "
            "token for XOAUTH2)",
        ),
        "bdat": _kind(
            "bdat",
            {
                "anyOf": [
                    _TEXT,
                    _long(
                        {
                            "body": _TEXT,
                            "raw": {**_TEXT, "description": "The message as bytes; escapes"},
                            "chunks": {
                                "type": "array",
                                "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                                "description": "Sizes of the first chunks; the rest is one more",
                            },
                            "last": {
                                "enum": [True, False, "empty"],
                                "description": "LAST on the final chunk (true), after them as "
                                "BDAT 0 LAST (empty), or not at all (false)",
                            },
                        },
                        oneOf=[{"required": ["body"]}, {"required": ["raw"]}],
                    ),
                ]
            },
            "The message in chunks (RFC 3030 CHUNKING): BDAT SIZE [LAST] and the octets",
        ),
        "idle": _kind(
            "idle",
            {
                "anyOf": [
                    *_IDLE_SECONDS["anyOf"],
                    _long({"seconds": _IDLE_SECONDS}, _IDLE_COMMON, required=["seconds"]),
                ]
            },
            "Send nothing for up to this many seconds; report a 421, a close, or neither",
            _IDLE_COMMON,
        ),
    }


BARE_WORDS = ("connect", "rset", "vrfy", "expn", "help", "noop", "quit", "starttls")
MEMBER_KINDS = ("mail", "rcpt", "rset", "noop", "send", "data")


def _class_code(command: str, classes: frozenset[int]) -> Schema:
    """A code the command can answer: the first digits the code tables allow it."""
    digits = "".join(str(c) for c in sorted(classes))
    return {
        "anyOf": [
            *(
                {"type": "integer", "minimum": c * 100, "maximum": c * 100 + 99}
                for c in sorted(classes)
            ),
            {"type": "string", "pattern": f"^[{digits}](?:[0-9][0-9xX]|[xX][xX])$"},
        ],
        "description": f"A code {command} can answer: first digit {', '.join(digits)}",
    }


def _per_command(schema: Any, command: str, key: str = "") -> Any:
    """`schema` with each expectation ref narrowed to what `command` can answer (`expect_end`
    of data: to the end of data's)."""
    if isinstance(schema, dict):
        if schema.get("$ref") == "#/$defs/expectation":
            return _ref(f"expectation_{'DATA-END' if key == 'expect_end' else command}")
        return {
            k: _per_command(v, command, k if k == "expect_end" else key) for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_per_command(v, command, key) for v in schema]
    return schema


_ONE_LINE_TEXT: Schema = {
    **_TEXT,
    "pattern": "^[^\\r\\n]*$",
    "description": "Text on one line (it goes into a command line); " + _TEXT["description"],
}


def _one_line(kind: str, schema: Schema) -> Schema:
    """Keys sent inside a command line take one line of text, as the loader requires."""
    from probe.scenario.grammar import KINDS
    from probe.scenario.model import StepKind

    spec = KINDS[StepKind(kind)]
    value = json.loads(json.dumps(schema["properties"][kind]))
    for alternative in value.get("anyOf", [value]):
        if alternative == _TEXT and spec.main in spec.one_line:
            alternative.update(_ONE_LINE_TEXT)
        for key, prop in alternative.get("properties", {}).items():
            if key in spec.one_line and prop.get("type") == _TEXT["type"]:
                prop["pattern"] = _ONE_LINE_TEXT["pattern"]
    return {**schema, "properties": {**schema["properties"], kind: value}}


def _described(kind: str, schema: Schema) -> Schema:
    """Every key's description from probe/scenario/keydocs.py (docs/scenarios.md has the same)."""
    from probe.scenario.keydocs import KIND_DOCS, key_doc

    schema = json.loads(json.dumps(schema))
    for key, prop in schema["properties"].items():
        prop["description"] = KIND_DOCS[kind] if key == kind else key_doc(kind, key)
    for alternative in schema["properties"][kind].get("anyOf", [schema["properties"][kind]]):
        for key, prop in alternative.get("properties", {}).items():
            prop["description"] = key_doc(kind, key)
    return schema


def _narrowed(defs: dict[str, Schema], steps: dict[str, Schema]) -> dict[str, Schema]:
    """Per-command expectation schemas, so an editor refuses `expect: 250` on data as the loader
    does (the classes come from the code tables)."""
    from probe.scenario.expectations import allowed_classes
    from probe.scenario.grammar import DATA_END, KINDS

    out = {kind: _described(kind, _one_line(kind, schema)) for kind, schema in steps.items()}
    commands = {kind.value: spec.command for kind, spec in KINDS.items() if spec.command}
    for kind, command in commands.items():
        out[kind] = _per_command(out[kind], command)
    for command in sorted({*commands.values(), DATA_END}):
        known = allowed_classes(command)
        if known is None:
            defs[f"code_{command}"] = _ref("code")
        else:
            defs[f"code_{command}"] = _class_code(known[0], known[1])
        codes = {
            "anyOf": [
                _ref(f"code_{command}"),
                {"type": "array", "items": _ref(f"code_{command}"), "minItems": 1},
            ]
        }
        expectation = json.loads(json.dumps(defs["expectation"]))
        expectation["anyOf"][0] = codes
        expectation["anyOf"][1]["properties"]["code"] = codes
        defs[f"expectation_{command}"] = expectation
    return out


def json_schema() -> Schema:
    steps = _steps()
    defs: dict[str, Schema] = {
        "text": _TEXT,
        "code": {
            "anyOf": [
                {"type": "integer", "minimum": 200, "maximum": 599},
                {"type": "string", "pattern": CODE_PATTERN},
            ],
            "description": "A reply code (250), a class (5xx) or class and subclass (25x)",
        },
        "codes": {
            "anyOf": [
                _ref("code"),
                {"type": "array", "items": _ref("code"), "minItems": 1},
            ]
        },
        "level": {
            "enum": ["must", "should", "info"],
            "description": "What an unmet expectation costs: fail, warn, or a note",
        },
        "expectation": {
            "anyOf": [
                _ref("codes"),
                {
                    "type": "object",
                    "properties": {
                        "code": _ref("codes"),
                        "text": {
                            "description": "An RE2 pattern, or a list that must all match, "
                            "searched in the reply's text lines without their codes, joined by "
                            "newlines; ${var} inside is matched literally",
                            "anyOf": [
                                {"type": ["string", "number", "boolean"], "format": "regex"},
                                {
                                    "type": "array",
                                    "items": {
                                        "type": ["string", "number", "boolean"],
                                        "format": "regex",
                                    },
                                    "minItems": 1,
                                },
                            ],
                        },
                        "same_as": {
                            "type": "string",
                            "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$",
                            "description": "The name a step saved a reply code as (save: "
                            "{NAME: {code: true}}): this reply must have the same code",
                        },
                        "same_class_as": {
                            "type": "string",
                            "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$",
                            "description": "The name a step saved a reply code as (save: "
                            "{NAME: {code: true}}): this reply must be of the same class (its "
                            "first digit: 2xx, 3xx, 4xx or 5xx)",
                        },
                        "level": _ref("level"),
                        "why": _TEXT,
                    },
                    "additionalProperties": False,
                    "anyOf": [
                        {"required": ["code"]},
                        {"required": ["text"]},
                        {"required": ["same_as"]},
                        {"required": ["same_class_as"]},
                    ],
                    "not": {
                        "anyOf": [
                            {"required": ["code", "same_as"]},
                            {"required": ["code", "same_class_as"]},
                            {"required": ["same_as", "same_class_as"]},
                        ]
                    },
                },
            ]
        },
        # One shape per kind, chosen by the kind's key (if/then), so that an editor reports
        # what is wrong inside the step rather than "not valid under any of the given schemas".
        "step": {
            "type": ["string", "object", "array"],
            "description": "A step: a bare word (- rset), a mapping starting with its kind "
            "(- mail: ADDRESS), use: NAME, group: [...], or an anchored list (- *name)",
            "allOf": [
                {
                    "if": {"type": "string"},
                    "then": {"enum": list(BARE_WORDS), "description": "A step with no argument"},
                },
                {"if": {"type": "array"}, "then": {"items": _ref("step")}},
                *(
                    {"if": {"type": "object", "required": [kind]}, "then": _ref(f"step_{kind}")}
                    for kind in steps
                ),
                {"if": {"type": "object", "required": ["use"]}, "then": _ref("use")},
                {"if": {"type": "object", "required": ["group"]}, "then": _ref("group")},
                {
                    "if": {"type": "object"},
                    "then": {
                        "description": "A step mapping starts with its kind",
                        "propertyNames": {"enum": [*steps, *_COMMON, "use", "group"]},
                        "anyOf": [{"required": [k]} for k in (*steps, "use", "group")],
                    },
                },
            ],
        },
        "use": {
            "type": "object",
            "description": "The steps of the top-level list x-NAME, played here",
            "properties": {
                "use": {"type": "string", "description": "NAME of an x-NAME list of steps"},
                "when": _COMMON["when"],
            },
            "required": ["use"],
            "additionalProperties": False,
        },
        "group": {
            "type": "object",
            "description": "Several steps under one condition",
            "properties": {
                "group": {"type": "array", "items": _ref("step"), "minItems": 1},
                "when": _COMMON["when"],
            },
            "required": ["group"],
            "additionalProperties": False,
        },
        "members": {
            "type": "array",
            "minItems": 1,
            "items": {
                "anyOf": [
                    {"enum": [k for k in MEMBER_KINDS if k in BARE_WORDS]},
                    *(_ref(f"step_{kind}") for kind in MEMBER_KINDS),
                ]
            },
        },
    }
    steps = _narrowed(defs, steps)
    defs.update({f"step_{kind}": schema for kind, schema in steps.items()})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "smtp-probe scenario",
        "type": "object",
        "properties": {
            "name": {
                "type": ["string", "number", "boolean"],
                "minLength": 1,
                "pattern": "\\S",
                "description": "The scenario's name in reports; default: the file name",
            },
            "description": {
                "type": ["string", "number", "boolean"],
                "description": "What the scenario checks (smtp-probe list shows it)",
            },
            "vars": {
                "type": ["object", "null"],
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "additionalProperties": {
                    "anyOf": [{"type": "null"}, _TEXT],
                    "description": "The default; empty: must be given with --var",
                },
            },
            "stop_on_fail": {"type": "boolean", "description": "Default for every step"},
            "tls": {
                "enum": ["implicit", "required"],
                "description": "implicit: connect with TLS (RFC 8314, port 465); required: the "
                "server must require TLS before MAIL",
            },
            "auth": {
                "enum": ["required"],
                "description": "required: a server that offers AUTH must require it before MAIL "
                "(RFC 6409 §4.3, submission)",
            },
            "steps": {"type": "array", "minItems": 1, "items": _ref("step")},
        },
        "patternProperties": {"^x-": {"description": "Ignored: a place for YAML anchors"}},
        "required": ["steps"],
        "additionalProperties": False,
        "$defs": defs,
    }


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
