import pytest

from bot.spreadsheet import safe_cell, safe_row


@pytest.mark.parametrize("value, safe", [
    ("=1+1", "'=1+1"), ("+66812345678", "'+66812345678"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("A-1", "A-1"), ("", ""), (" =1", " =1"), (7, 7), (None, None),
])
def test_cells_a_spreadsheet_would_run_get_a_quote(value, safe):
    assert safe_cell(value) == safe


@pytest.mark.parametrize("value", [
    "＝HYPERLINK(\"https://evil.test\")",   # full-width = (U+FF1D)
    "＋66812345678", "－2", "＠SUM(A1)",       # full-width + - @
    "﹦1", "﹢1", "﹣1", "﹫x",                  # small forms
    "\u2212" + "2", "\u2013" + "2",          # MINUS SIGN, EN DASH
    "\u200b=1", "\ufeff=1", "\u200e=1", "\u202e=1", "\u2060=1",  # zero-width, BOM, bidi marks, word joiner
    "\u00a0=1", "\u3000=1",                  # no-break and ideographic spaces
    "\u200bhello",                           # a hidden first character, whatever follows
])
def test_unicode_formula_starts_and_hidden_first_characters_are_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["ผลเลือด", "HN-0012", "A=1", "นัด 1/2", "😀", "１２３"])
def test_ordinary_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_rows_keep_their_order():
    assert safe_row(["=x", "y", 3]) == ["'=x", "y", 3]
