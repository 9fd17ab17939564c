"""Enhanced status codes explained (RFC 3463, the RFC 5248 registry): `smtp-probe explain 5.7.1`.

The data is enhanced.yaml beside this module; the syntax checks live in probe/protocol/enhanced.py.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml

# RFC 3463 §2: class "." subject "." detail, each sub-code 1-3 digits without leading zeros.
SHAPE = re.compile(r"([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})")
_ANY = re.compile(r"[0-9xX]\.[0-9]+\.[0-9]+")


@cache
def _registry() -> dict[str, dict[str, tuple[str, str]]]:
    text = resources.files("probe.codes").joinpath("enhanced.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {
        section: {str(key): (value[0], value[1]) for key, value in entries.items()}
        for section, entries in data.items()
    }


def looks_enhanced(text: str) -> bool:
    """`5.7.1`, `X.7.1` or anything digits.digits.digits: meant as an enhanced code."""
    return _ANY.fullmatch(text) is not None


def render_enhanced(text: str) -> str:
    registry = _registry()
    klass, _, rest = text.partition(".")
    subject, _, detail = rest.partition(".")
    generic = klass in "xX"
    if not generic and SHAPE.fullmatch(text) is None:
        why = (
            "the class must be 2, 4 or 5"
            if klass not in "245"
            else "a sub-code has a leading zero or more than three digits"
        )
        return (
            f"{text}  not a valid enhanced status code: {why}\n"
            "  RFC 3463 §2: class.subject.detail; class 2, 4 or 5; sub-codes 0-999, no leading "
            "zeros\n"
        )
    found = registry["details"].get(f"{int(subject)}.{int(detail)}")
    head = found[0] if found else "not in the registry"
    lines = [f"{text}  {head}"]
    if not generic:
        summary, source = registry["classes"][klass]
        lines.append(f"  class {klass}: {summary} ({source})")
    if subject_info := registry["subjects"].get(str(int(subject))):
        lines.append(f"  subject {subject}: {subject_info[0]} ({subject_info[1]})")
    else:
        lines.append(f"  subject {subject}: not defined by RFC 3463 or the registry")
    if found:
        lines.append(f"  defined in: {found[1]} (registry: RFC 5248)")
    else:
        lines.append(
            "  no RFC defines this detail code; clients act on the class and subject (RFC 3463 §2)"
        )
    if not generic:
        first = {"2": "2xx", "4": "4xx", "5": "5xx"}[klass]
        lines.append(f"  in a reply: only after a {first} code (RFC 2034 §4; otherwise a fail)")
    return "\n".join(lines) + "\n"
