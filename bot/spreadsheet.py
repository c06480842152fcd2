"""Cells for CSV files that staff open in Excel or Google Sheets: never run as formulas.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
programs skip before reading one of those) is read as a formula: ``=HYPERLINK("https://…")``
in an appointment id would become a link in the hospital's result sheet (OWASP, "CSV
Injection"). Such cells get a leading ``'``, which spreadsheets show as text.

Unicode counts too: spreadsheets fold the full-width and small forms (``＝``, ``﹢``, ``－``, ``＠``)
and other minus signs to the ASCII ones, and a cell may hide its first character behind an
invisible one (a zero-width space ``U+200B``, a byte-order mark, a bidi mark, a no-break space)
that some program skips. So the first character is compared after NFKC folding, and a cell that
starts with an invisible character is quoted whatever follows. Pure.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Iterable

FORMULA_STARTS = ("=", "+", "-", "@")
#: Minus signs NFKC leaves alone (U+2212 MINUS SIGN, U+2796 HEAVY MINUS SIGN, U+02D7 MODIFIER
#: LETTER MINUS SIGN); dashes (category Pd) are checked by category.
MINUS_SIGNS = frozenset("\u2212\u2796\u02d7")


def _invisible(ch: str) -> bool:
    """Control and format characters (tab, CR, zero-width, BOM, bidi marks) and spaces other than
    the plain one, which a reader cannot see before the first character that shows."""
    category = unicodedata.category(ch)
    return category in ("Cc", "Cf") or (category == "Zs" and ch != " ")


def _runs_as_formula(text: str) -> bool:
    if not text:
        return False
    if _invisible(text[0]):
        return True  # a leading tab or CR, or a hidden first character: some program may skip it
    first = unicodedata.normalize("NFKC", text[0])[:1]
    return first in FORMULA_STARTS or first in MINUS_SIGNS or unicodedata.category(first) == "Pd"


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula; numbers and None unchanged."""
    if isinstance(value, str) and _runs_as_formula(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]
