"""Cells for CSV files that staff open in Excel or Google Sheets: never run as formulas.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
programs skip before reading one of those) is read as a formula: ``=HYPERLINK("https://…")``
in an appointment id would become a link in the hospital's result sheet (OWASP, "CSV
Injection"). Such cells get a leading ``'``, which spreadsheets show as text. Pure.
"""

from __future__ import annotations

from typing import Any, Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula; numbers and None unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
