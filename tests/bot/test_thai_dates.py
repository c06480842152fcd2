"""Thai date and time wording: Buddhist-era years, month names, Thai digits."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.thai_dates import MONTHS_LONG, MONTHS_SHORT, thai_date, thai_time


@pytest.mark.parametrize("date, style, digits, expected", [
    (dt.date(2026, 12, 25), "short", "arabic", "25 ธ.ค. 2569"),
    (dt.date(2026, 12, 25), "short", "thai", "๒๕ ธ.ค. ๒๕๖๙"),
    (dt.date(2026, 12, 25), "long", "arabic", "วันศุกร์ที่ 25 ธันวาคม 2569"),
    (dt.date(2026, 12, 25), "long", "thai", "วันศุกร์ที่ ๒๕ ธันวาคม ๒๕๖๙"),
    (dt.date(2026, 1, 1), "short", "arabic", "1 ม.ค. 2569"),
    (dt.date(2024, 2, 29), "long", "arabic", "วันพฤหัสบดีที่ 29 กุมภาพันธ์ 2567"),
    (dt.date(2025, 6, 2), "long", "arabic", "วันจันทร์ที่ 2 มิถุนายน 2568"),
    (dt.date(2025, 6, 8), "long", "arabic", "วันอาทิตย์ที่ 8 มิถุนายน 2568"),
    (dt.date(2000, 5, 10), "short", "thai", "๑๐ พ.ค. ๒๕๔๓"),
    ("2026-04-13", "short", "arabic", "13 เม.ย. 2569"),
    (dt.datetime(2026, 10, 23, 8, 0), "short", "arabic", "23 ต.ค. 2569"),
])
def test_thai_date(date, style, digits, expected):
    assert thai_date(date, style=style, digits=digits) == expected


def test_every_month_has_its_own_name():
    shorts = [thai_date(dt.date(2026, m, 1)).split(" ")[1] for m in range(1, 13)]
    longs = [thai_date(dt.date(2026, m, 1), "long").split(" ")[2] for m in range(1, 13)]
    assert shorts == list(MONTHS_SHORT) and len(set(shorts)) == 12
    assert longs == list(MONTHS_LONG) and len(set(longs)) == 12


@pytest.mark.parametrize("time, digits, expected", [
    (dt.time(9, 30), "arabic", "09:30 น."),
    (dt.time(9, 5), "arabic", "09:05 น."),
    (dt.time(0, 0), "arabic", "00:00 น."),
    (dt.time(23, 59), "thai", "๒๓:๕๙ น."),
    ("13:45", "arabic", "13:45 น."),
    (dt.datetime(2026, 12, 25, 16, 0), "arabic", "16:00 น."),
])
def test_thai_time(time, digits, expected):
    assert thai_time(time, digits=digits) == expected


@pytest.mark.parametrize("kwargs", [{"style": "medium"}, {"digits": "roman"}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        thai_date(dt.date(2026, 1, 1), **kwargs)


def test_bad_time_digits_are_refused():
    with pytest.raises(ValueError):
        thai_time(dt.time(9, 0), digits="roman")
