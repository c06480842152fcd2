"""BUSINESS_HOURS: parsing (clear errors), open or not, and when staff will answer, in Thai (Asia/Bangkok)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.handoff.hours import BusinessHours, parse_business_hours, when_staff_answer
from bot.handoff.state import no_agent_due
from bot.thai_dates import BANGKOK

WEEKDAYS = parse_business_hours("Mon-Fri 08:00-16:00")
WITH_SATURDAY = parse_business_hours("Mon-Fri 08:00-16:00; Sat 08:00-12:00")


def bkk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """January 2026 in Bangkok: the 5th is a Monday, the 10th a Saturday, the 11th a Sunday."""
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=BANGKOK)


def test_weekday_range_opens_monday_to_friday():
    assert {day for day, _, _ in WEEKDAYS.spans} == {0, 1, 2, 3, 4}
    assert all((start, end) == (8 * 60, 16 * 60) for _, start, end in WEEKDAYS.spans)


@pytest.mark.parametrize("text, spans", [
    ("Sat 08:00-12:00", {(5, 480, 720)}),
    ("sat,SUN 09:00-10:00", {(5, 540, 600), (6, 540, 600)}),
    ("Fri-Mon 10:00-11:00", {(4, 600, 660), (5, 600, 660), (6, 600, 660), (0, 600, 660)}),
    ("Wednesday 08:00-12:00, 13:00-16:30", {(2, 480, 720), (2, 780, 990)}),
    ("Mon-Sun 00:00-24:00", {(d, 0, 1440) for d in range(7)}),
])
def test_day_lists_ranges_and_several_spans(text, spans):
    assert set(parse_business_hours(text).spans) == spans


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("Mon-Fri", "expected days then times"),
    ("Funday 08:00-16:00", "unknown day 'Funday'"),
    ("Mon-Fri 8-16", "not a time HH:MM"),
    ("Mon-Fri 08:00", "not a time range"),
    ("Mon 25:00-26:00", "not a time HH:MM"),
    ("Mon 16:00-08:00", "ends before it starts"),
    ("Mon-Fri 08:00-16:00; Sat", "'Sat': expected days then times"),
])
def test_mistakes_are_named(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_business_hours(text)


def test_open_from_the_first_minute_to_just_before_the_last():
    assert not WEEKDAYS.is_open(bkk(7, 7, 59))
    assert WEEKDAYS.is_open(bkk(7, 8, 0))
    assert WEEKDAYS.is_open(bkk(7, 15, 59))
    assert not WEEKDAYS.is_open(bkk(7, 16, 0))
    assert not WEEKDAYS.is_open(bkk(10, 10, 0))  # Saturday


def test_times_in_other_zones_are_read_in_bangkok():
    assert WEEKDAYS.is_open(dt.datetime(2026, 1, 7, 1, 30, tzinfo=dt.timezone.utc))   # 08:30 in Bangkok
    assert not WEEKDAYS.is_open(dt.datetime(2026, 1, 7, 9, 30, tzinfo=dt.timezone.utc))  # 16:30


def test_inside_hours_staff_answer_soon():
    th, en = when_staff_answer(bkk(7, 10), WEEKDAYS)
    assert th == "เจ้าหน้าที่จะตอบกลับในแชทนี้โดยเร็วที่สุดค่ะ"
    assert "as soon as possible" in en


def test_before_opening_staff_answer_today():
    th, en = when_staff_answer(bkk(7, 6, 30), WEEKDAYS)
    assert th == "ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับวันนี้ เวลา 08:00 น.ค่ะ"
    assert "today from 08:00" in en


def test_after_closing_staff_answer_tomorrow():
    th, _ = when_staff_answer(bkk(8, 17), WEEKDAYS)  # Thursday evening
    assert th == "ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับพรุ่งนี้ (วันศุกร์) เวลา 08:00 น.ค่ะ"


def test_friday_evening_and_the_weekend_wait_for_monday():
    expected = "ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับวันจันทร์ที่ 12 ม.ค. 2569 เวลา 08:00 น.ค่ะ"
    assert when_staff_answer(bkk(9, 16, 0), WEEKDAYS)[0] == expected
    assert when_staff_answer(bkk(10, 9), WEEKDAYS)[0] == expected
    assert when_staff_answer(bkk(11, 9), WEEKDAYS)[0].startswith(
        "ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับพรุ่งนี้ (วันจันทร์)")
    assert "on Monday 12 Jan from 08:00" in when_staff_answer(bkk(10, 9), WEEKDAYS)[1]


def test_saturday_hours_count():
    assert WITH_SATURDAY.is_open(bkk(10, 9))
    assert when_staff_answer(bkk(10, 7), WITH_SATURDAY)[0].endswith("วันนี้ เวลา 08:00 น.ค่ะ")
    assert "พรุ่งนี้ (วันเสาร์)" in when_staff_answer(bkk(9, 18), WITH_SATURDAY)[0]
    assert "วันจันทร์ที่ 12 ม.ค. 2569" in when_staff_answer(bkk(10, 12), WITH_SATURDAY)[0]


def test_next_opening_is_now_when_open_and_the_next_start_otherwise():
    assert WEEKDAYS.next_opening(bkk(7, 10)) == bkk(7, 10)
    assert WEEKDAYS.next_opening(bkk(7, 16)) == bkk(8, 8)
    assert WEEKDAYS.next_opening(bkk(9, 20)) == bkk(12, 8)
    once_a_week = BusinessHours(((2, 600, 660),))  # Wednesday 10:00-11:00
    assert once_a_week.next_opening(bkk(7, 11)) == bkk(14, 10)


def test_the_no_agent_wait_counts_opening_time_only():
    at_night = bkk(8, 22).timestamp()
    assert no_agent_due(at_night, WEEKDAYS, 10) == bkk(9, 8, 10).timestamp()
    in_hours = bkk(8, 10).timestamp()
    assert no_agent_due(in_hours, WEEKDAYS, 10) == in_hours + 600


def test_open_time_after_counts_only_opening_minutes():
    assert WEEKDAYS.open_time_after(bkk(7, 10), 30) == bkk(7, 10, 30)
    assert WEEKDAYS.open_time_after(bkk(7, 15, 50), 20) == bkk(8, 8, 10)       # over the night
    assert WEEKDAYS.open_time_after(bkk(9, 15, 55), 10) == bkk(12, 8, 5)       # over the weekend
    assert WEEKDAYS.open_time_after(bkk(10, 9), 10) == bkk(12, 8, 10)          # asked on a Saturday
    assert WEEKDAYS.open_time_after(bkk(7, 10), 8 * 60) == bkk(8, 10)          # a whole working day
    assert WEEKDAYS.open_time_after(bkk(7, 10), 5 * 8 * 60) == bkk(14, 10)     # a whole week of them
    assert WEEKDAYS.open_time_after(bkk(7, 15, 30), 30) == bkk(7, 16)          # ends right at closing
    split = parse_business_hours("Mon-Fri 08:00-12:00, 13:00-16:00")
    assert split.open_time_after(bkk(7, 11, 50), 20) == bkk(7, 13, 10)         # not over lunch
    always = parse_business_hours("Mon-Sun 00:00-24:00")
    assert always.open_time_after(bkk(7, 23, 50), 20) == bkk(8, 0, 10)         # days join at midnight
    assert always.open_time_after(bkk(7, 10), 7 * 24 * 60) == bkk(14, 10)


def test_open_time_after_a_once_a_week_opening():
    wednesday_hour = BusinessHours(((2, 600, 660),))  # Wednesday 10:00-11:00
    assert wednesday_hour.open_time_after(bkk(7, 10, 30), 60) == bkk(14, 10, 30)
    assert wednesday_hour.open_time_after(bkk(8, 9), 7 * 24 * 60).weekday() == 2  # 168 hours of it, still a Wednesday
