"""Masking for anything that may reach a log line, an error message or a job description (PDPA)."""

from __future__ import annotations

import re

# Runs of 9+ digits (phones, citizen IDs, even with dashes or spaces) and LINE user ids.
_PERSONAL = re.compile(r"U[0-9a-f]{32}|\d(?:[\s-]?\d){8,}")


def mask(value: object, keep: int = 4) -> str:
    """``…1234``: the last ``keep`` characters only, never a whole phone, citizen ID, token or id."""
    text = "" if value is None else str(value)
    if len(text) <= keep:
        return "…"
    return "…" + text[-keep:]


def mask_numbers(text: str) -> str:
    """``text`` with every phone number, citizen ID and LINE user id in it masked to its last 4.

    For text we do not write ourselves (a provider's error message, a URL path)
    before it goes into a log line or an exception.
    """
    return _PERSONAL.sub(lambda m: mask(re.sub(r"[\s-]", "", m.group(0))), text)
