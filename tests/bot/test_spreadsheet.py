import pytest

from bot.spreadsheet import safe_cell, safe_row


@pytest.mark.parametrize("value, safe", [
    ("=1+1", "'=1+1"), ("+66812345678", "'+66812345678"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("A-1", "A-1"), ("", ""), (" =1", " =1"), (7, 7), (None, None),
])
def test_cells_a_spreadsheet_would_run_get_a_quote(value, safe):
    assert safe_cell(value) == safe


def test_rows_keep_their_order():
    assert safe_row(["=x", "y", 3]) == ["'=x", "y", 3]
