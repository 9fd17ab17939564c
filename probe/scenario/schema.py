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

SCHEMA_ID = "https://smtp-probe.invalid/scenario.schema.json"
CODE_PATTERN = "^[2-5](?:[0-9][0-9xX]|[xX][xX])$"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


_TEXT: Schema = {
    "type": ["string", "number", "boolean"],
    "description": "Text; may use ${name}, ${env:NAME}; $${ is a literal ${",
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
        "oneOf": [
            {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$"},
            {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*$"},
                "minItems": 1,
            },
        ],
        "description": "EHLO keywords the server must advertise, else the step is skipped",
    },
    "settle": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": sys.float_info.max,
        "description": "Seconds to wait before the command, reporting any reply that arrives",
    },
}
_EXACT: Schema = {
    "type": "boolean",
    "description": "Send the path exactly as written: no angle brackets added",
}
_PIPELINE_COMMON = ("name", "stop_on_fail", "timeout", "requires")


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
    null_or_common = {"anyOf": [{"type": "null"}, _long({})]}
    return {
        "connect": _kind(
            "connect", null_or_common, "Open the connection; expect judges the greeting"
        ),
        "ehlo": _kind(
            "ehlo",
            {"anyOf": [_TEXT, _long({"domain": _TEXT}, required=["domain"])]},
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
                            "expect_end": _ref("expectation"),
                        },
                        oneOf=[{"required": ["body"]}, {"required": ["raw"]}],
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
                                "description": "The verb whose code table judges the reply",
                            },
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
        "starttls": _kind("starttls", null_or_common, "STARTTLS, then the TLS handshake"),
        "auth": _kind(
            "auth",
            _long(
                {
                    "mechanism": {"enum": ["PLAIN", "LOGIN"]},
                    "username": _TEXT,
                    "password": {**_TEXT, "description": "A secret: use ${env:NAME}"},
                },
                required=["mechanism", "username", "password"],
            ),
            "AUTH PLAIN or LOGIN",
        ),
    }


BARE_WORDS = ("connect", "rset", "vrfy", "expn", "help", "noop", "quit", "starttls")
MEMBER_KINDS = ("mail", "rcpt", "rset", "noop", "send", "data")


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
                            "type": "string",
                            "format": "regex",
                            "description": "Searched in the reply text",
                        },
                        "level": _ref("level"),
                        "why": _TEXT,
                    },
                    "additionalProperties": False,
                    "anyOf": [{"required": ["code"]}, {"required": ["text"]}],
                },
            ]
        },
        "step": {
            "anyOf": [
                {"enum": list(BARE_WORDS), "description": "A step with no argument"},
                *(_ref(f"step_{kind}") for kind in steps),
            ]
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
    defs.update({f"step_{kind}": schema for kind, schema in steps.items()})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "smtp-probe scenario",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Default: the file name"},
            "description": {"type": "string"},
            "vars": {
                "type": ["object", "null"],
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "additionalProperties": {
                    "anyOf": [{"type": "null"}, _TEXT],
                    "description": "The default; empty: must be given with --var",
                },
            },
            "stop_on_fail": {"type": "boolean", "description": "Default for every step"},
            "steps": {"type": "array", "minItems": 1, "items": _ref("step")},
        },
        "patternProperties": {"^x-": {"description": "Ignored: a place for YAML anchors"}},
        "required": ["steps"],
        "additionalProperties": False,
        "$defs": defs,
    }


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
