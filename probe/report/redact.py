"""The last line of defence for secrets: scrub every string a reporter is about to write."""

from __future__ import annotations

import base64
from collections.abc import Iterable

MASK = "****"


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.add(secret)
                forms.add(base64.b64encode(secret.encode()).decode())
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text
