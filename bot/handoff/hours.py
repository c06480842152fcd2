"""Business hours: when staff are on duty, parsed from ``HANDOFF_BUSINESS_HOURS``, and the Thai
"when staff will answer" phrase."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.thai_dates import BANGKOK, WEEKDAYS, thai_date

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EXAMPLE = 'e.g. "Mon-Fri 08:00-16:00; Sat 08:00-12:00"'
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")

@dataclass(frozen=True)
class BusinessHours:
    """Opening spans per weekday, in Asia/Bangkok: ``(weekday, start_minute, end_minute)``."""

    spans: tuple[tuple[int, int, int], ...]

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether staff are on duty at ``moment`` (an aware datetime)."""
        local = moment.astimezone(BANGKOK)
        minute = local.hour * 60 + local.minute
        return any(day == local.weekday() and start <= minute < end for day, start, end in self.spans)

    def next_opening(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself when open, else the start of the next opening span (Bangkok time)."""
        local = moment.astimezone(BANGKOK)
        if self.is_open(local):
            return local
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        minute = local.hour * 60 + local.minute
        for offset in range(8):
            day = today + dt.timedelta(days=offset)
            starts = sorted(start for weekday, start, _ in self.spans
                            if weekday == day.weekday() and (offset or start > minute))
            if starts:  # wall-clock time: Bangkok has no DST, so adding minutes is exact
                return day + dt.timedelta(minutes=starts[0])
        raise AssertionError("parse_business_hours guarantees at least one span")

    def open_time_after(self, moment: dt.datetime, minutes: float) -> dt.datetime:
        """The moment when ``minutes`` of opening time have passed since ``moment`` (Bangkok time).

        Time outside the spans does not count: ten minutes asked for at 15:55 on a
        Friday end at 08:05 on Monday when the spans are ``Mon-Fri 08:00-16:00``.
        """
        local = moment.astimezone(BANGKOK)
        weekly = sum(end - start for _, start, end in self.spans)
        # Whole weeks first (Bangkok has no DST: a week is always 7 × 24 h), then walk the spans.
        weeks = max(0, int((minutes - 1e-9) // weekly))
        local += dt.timedelta(weeks=weeks)
        remaining = dt.timedelta(minutes=minutes - weeks * weekly)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(15):
            day = midnight + dt.timedelta(days=offset)
            for weekday, start, end in self.spans:
                if weekday != day.weekday():
                    continue
                begin = max(day + dt.timedelta(minutes=start), local)
                finish = day + dt.timedelta(minutes=end)
                if finish <= begin:
                    continue
                if finish - begin >= remaining:
                    return begin + remaining
                remaining -= finish - begin
        raise AssertionError("two weeks always hold a week's opening time")


def parse_business_hours(text: str) -> BusinessHours:
    """Parse ``BUSINESS_HOURS`` such as ``Mon-Fri 08:00-16:00; Sat 08:00-12:00``.

    Days: ``Mon``…``Sun`` (or full names), ranges ``Mon-Fri`` and lists ``Sat,Sun``;
    times ``HH:MM-HH:MM`` (``24:00`` allowed as an end), several separated by commas.
    Raises ValueError naming the part that is wrong.
    """
    segments = [s.strip() for s in str(text or "").split(";") if s.strip()]
    if not segments:
        raise ValueError(f"business hours are empty; {_EXAMPLE}")
    spans: list[tuple[int, int, int]] = []
    for segment in segments:
        parts = segment.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"'{segment}': expected days then times, {_EXAMPLE}")
        days = _parse_days(parts[0], segment)
        for times in parts[1].replace(" ", "").split(","):
            start, end = _parse_span(times, segment)
            spans.extend((day, start, end) for day in days)
    return BusinessHours(tuple(sorted(set(spans))))


def _parse_days(text: str, segment: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        ends = [_day(name, segment) for name in item.split("-")]
        if len(ends) == 1:
            days.append(ends[0])
        elif len(ends) == 2:  # Fri-Mon wraps over the weekend
            first, last = ends
            days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            raise ValueError(f"'{segment}': '{item}' is not a day or a day range like Mon-Fri")
    return days


def _day(name: str, segment: str) -> int:
    key = name.strip().lower()
    for number, day in enumerate(DAYS):
        if key == day or key == _DAYS_EN[number].lower():
            return number
    raise ValueError(f"'{segment}': unknown day '{name}' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _parse_span(text: str, segment: str) -> tuple[int, int]:
    ends = text.split("-")
    if len(ends) != 2:
        raise ValueError(f"'{segment}': '{text}' is not a time range like 08:00-16:00")
    start, end = (_minute(t, segment) for t in ends)
    if start >= end:
        raise ValueError(f"'{segment}': {text} ends before it starts (a span cannot cross midnight; "
                         f"write it as two, e.g. 'Fri 22:00-24:00; Sat 00:00-06:00')")
    return start, end


def _minute(text: str, segment: str) -> int:
    found = _TIME.match(text)
    hour, minute = (int(found.group(1)), int(found.group(2))) if found else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59) and (hour, minute) != (24, 0):
        raise ValueError(f"'{segment}': '{text}' is not a time HH:MM between 00:00 and 24:00")
    return hour * 60 + minute


def when_staff_answer(now: dt.datetime, hours: BusinessHours) -> tuple[str, str]:
    """When a staff member will answer, in Thai and in English (one sentence each)."""
    if hours.is_open(now):
        return ("เจ้าหน้าที่จะตอบกลับในแชทนี้โดยเร็วที่สุดค่ะ",
                "A staff member will answer you here as soon as possible.")
    opening = hours.next_opening(now)
    local_today = now.astimezone(BANGKOK).date()
    clock = f"{opening.hour:02d}:{opening.minute:02d}"
    days_ahead = (opening.date() - local_today).days
    if days_ahead == 0:
        th, en = f"วันนี้ เวลา {clock} น.", f"today from {clock}"
    elif days_ahead == 1:
        th = f"พรุ่งนี้ (วัน{WEEKDAYS[opening.weekday()]}) เวลา {clock} น."
        en = f"tomorrow ({_DAYS_EN[opening.weekday()]}) from {clock}"
    else:
        th = f"วัน{WEEKDAYS[opening.weekday()]}ที่ {thai_date(opening.date())} เวลา {clock} น."
        en = f"on {_DAYS_EN[opening.weekday()]} {opening.day} {opening.strftime('%b')} from {clock}"
    return (f"ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับ{th}ค่ะ",
            f"We are closed now; a staff member will answer {en} (Bangkok time).")

