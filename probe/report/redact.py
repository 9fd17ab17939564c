"""The last line of defence for secrets: scrub every string a reporter is about to write."""

from __future__ import annotations

from collections.abc import Iterable

from probe.secrets import MASK, secret_forms


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._forms = secret_forms(secrets)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text
