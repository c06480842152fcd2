"""Masking for anything that may reach a log line, an error message or a job description (PDPA)."""

from __future__ import annotations


def mask(value: object, keep: int = 4) -> str:
    """``…1234``: the last ``keep`` characters only, never a whole phone, citizen ID, token or id."""
    text = "" if value is None else str(value)
    if len(text) <= keep:
        return "…"
    return "…" + text[-keep:]
