"""Secrets (AUTH passwords) in every form they travel in, and the mask that replaces them."""

from __future__ import annotations

import base64
from collections.abc import Iterable

MASK = "****"


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as given and in base64 (AUTH LOGIN sends that), longest first so that a
    longer form is masked before a shorter one inside it."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(secret.encode()).decode())
    return sorted(forms, key=len, reverse=True)
