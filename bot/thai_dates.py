"""Thai calendar wording for dates and times: Buddhist-era years, Thai month names, optional Thai digits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: Thailand has one zone and no daylight saving; every date and time shown or parsed is here.
BANGKOK = ZoneInfo("Asia/Bangkok")

BUDDHIST_ERA_OFFSET = 543

MONTHS_LONG = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
               "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
                "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
# Indexed by date.weekday(): Monday is 0.
WEEKDAYS = ("จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์")

_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _as_time(value: dt.time | dt.datetime | str) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    return dt.time.fromisoformat(value)


def _digits(text: str, digits: str) -> str:
    if digits == "thai":
        return text.translate(_THAI_DIGITS)
    if digits != "arabic":
        raise ValueError("digits must be 'arabic' or 'thai'")
    return text


def thai_date(date: dt.date | str, style: str = "short", digits: str = "arabic") -> str:
    """``25 ธ.ค. 2569`` (short) or ``วันศุกร์ที่ 25 ธันวาคม 2569`` (long); BE year = CE + 543."""
    day = _as_date(date)
    year = day.year + BUDDHIST_ERA_OFFSET
    if style == "short":
        text = f"{day.day} {MONTHS_SHORT[day.month - 1]} {year}"
    elif style == "long":
        text = f"วัน{WEEKDAYS[day.weekday()]}ที่ {day.day} {MONTHS_LONG[day.month - 1]} {year}"
    else:
        raise ValueError("style must be 'short' or 'long'")
    return _digits(text, digits)


def thai_time(time: dt.time | dt.datetime | str, digits: str = "arabic") -> str:
    """``09:30 น.``: 24-hour clock with the Thai ``น.`` (นาฬิกา) suffix."""
    moment = _as_time(time)
    return _digits(f"{moment.hour:02d}:{moment.minute:02d} น.", digits)
