"""Appointments as the hospital system sends them: validation, reminder times, dedup keys.

Pure code (no Redis, no HTTP). Validation runs on every row of bulk imports,
so it parses with plain string slicing and ``int()`` instead of ``strptime``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bot.privacy import mask
from bot.thai_dates import BANGKOK

STATUSES = ("booked", "changed", "cancelled")
DEFAULT_REMINDER_SCHEDULE = "1d@09:00"

# Longest accepted text per field: enough for real clinic names and notes,
# short enough that a Flex bubble stays well under LINE's size limit.
MAX_LENGTHS = {"appointment_id": 64, "clinic": 200, "doctor": 200, "location": 200, "note": 500}
_DIGITS = frozenset("0123456789")


def is_valid_cid(cid: object) -> bool:
    """True for a 13-digit Thai citizen ID whose mod-11 check digit matches.

    A leading 0 is allowed: some non-Thai-national cards have one (provider notes).
    """
    if not isinstance(cid, str) or len(cid) != 13 or not _DIGITS.issuperset(cid):
        return False
    total = sum(int(cid[i]) * (13 - i) for i in range(12))
    return (11 - total % 11) % 10 == int(cid[12])


class AppointmentError(ValueError):
    """An appointment that cannot be used; ``errors`` maps each bad field to why.

    Messages never echo the values: a CID or a note may be personal data.
    """

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("invalid appointment: " + "; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True, slots=True, repr=False)
class Appointment:
    appointment_id: str
    cid: str
    date: dt.date
    time: dt.time
    clinic: str
    doctor: str | None = None
    location: str | None = None
    note: str | None = None
    status: str = "booked"

    @property
    def starts_at(self) -> dt.datetime:
        """When the appointment starts, as an aware Asia/Bangkok datetime."""
        return dt.datetime.combine(self.date, self.time, tzinfo=BANGKOK)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe mapping that ``parse_appointment`` reads back (for job arguments)."""
        return {"appointment_id": self.appointment_id, "cid": self.cid,
                "date": self.date.isoformat(), "time": self.time.strftime("%H:%M"),
                "clinic": self.clinic, "doctor": self.doctor, "location": self.location,
                "note": self.note, "status": self.status}

    def notice_key(self, kind: str, *, key: bytes) -> str:
        """``notice_key`` for this appointment at its current date and time.

        Folding the date/time in means a second change (new time) is a new notice,
        while a repeat of the same change is not.
        """
        return notice_key(key, self.appointment_id, self.status,
                          f"{kind}@{self.date.isoformat()}T{self.time.strftime('%H%M')}")

    def __repr__(self) -> str:
        # PDPA: reprs end up in logs and RQ job descriptions; never a whole CID.
        return (f"Appointment(appointment_id={self.appointment_id!r}, cid={mask(self.cid)!r}, "
                f"date={self.date.isoformat()!r}, time={self.time.strftime('%H:%M')!r}, "
                f"clinic={self.clinic!r}, status={self.status!r})")


def _parse_date(value: object) -> tuple[dt.date | None, str | None]:
    if isinstance(value, dt.datetime):
        return None, "must be a date (YYYY-MM-DD), not a date and time"
    if isinstance(value, dt.date):
        return value, None
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None, "must be a date written YYYY-MM-DD"
    y, m, d = value[:4], value[5:7], value[8:]
    if not (y.isdigit() and m.isdigit() and d.isdigit() and y.isascii() and m.isascii() and d.isascii()):
        return None, "must be a date written YYYY-MM-DD"
    year = int(y)
    if year > 2400:
        return None, f"year {year} looks like a Buddhist-era year; send the CE year ({year - 543})"
    try:
        return dt.date(year, int(m), int(d)), None
    except ValueError:
        return None, "is not a real calendar date"


def _parse_time(value: object) -> tuple[dt.time | None, str | None]:
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None), None
    # HH:MM, or HH:MM:SS as many hospital systems export it (seconds are dropped).
    if not isinstance(value, str) or len(value) not in (5, 8) or value[2] != ":" or (
            len(value) == 8 and value[5] != ":"):
        return None, "must be a time written HH:MM (24-hour)"
    h, m = value[:2], value[3:5]
    if not (h.isdigit() and m.isdigit() and h.isascii() and m.isascii()):
        return None, "must be a time written HH:MM (24-hour)"
    hour, minute = int(h), int(m)
    if hour > 23 or minute > 59:
        return None, "is not a valid time of day (00:00-23:59)"
    return dt.time(hour, minute), None


def _text(row: Mapping[str, Any], field: str, required: bool, errors: dict[str, str]) -> str | None:
    value = row.get(field)
    if isinstance(value, int) and not isinstance(value, bool) and field == "appointment_id":
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = "is required"
        return None
    if not isinstance(value, str):
        errors[field] = "must be text"
        return None
    value = value.strip()
    if len(value) > MAX_LENGTHS[field]:
        errors[field] = f"is longer than {MAX_LENGTHS[field]} characters"
        return None
    return value


def parse_appointment(row: Mapping[str, Any]) -> Appointment:
    """Check every field of one appointment mapping; raise ``AppointmentError`` listing all problems.

    The CID may be written with spaces or dashes (1-2345-67890-12-1); unknown keys are ignored.
    """
    if not isinstance(row, Mapping):
        raise AppointmentError({"appointment": "must be an object with named fields"})
    errors: dict[str, str] = {}
    appointment_id = _text(row, "appointment_id", True, errors)

    cid = row.get("cid")
    if cid is None or cid == "":
        errors["cid"] = "is required"
    elif not isinstance(cid, str):
        # An int would already have lost a leading 0.
        errors["cid"] = "must be text of 13 digits"
    else:
        cid = cid.replace("-", "").replace(" ", "")
        if len(cid) != 13 or not _DIGITS.issuperset(cid):
            errors["cid"] = "must be 13 digits"
        elif not is_valid_cid(cid):
            errors["cid"] = "check digit does not match (mistyped citizen ID?)"

    date = time = None
    if row.get("date") in (None, ""):
        errors["date"] = "is required"
    else:
        date, problem = _parse_date(row["date"])
        if problem:
            errors["date"] = problem
    if row.get("time") in (None, ""):
        errors["time"] = "is required"
    else:
        time, problem = _parse_time(row["time"])
        if problem:
            errors["time"] = problem

    clinic = _text(row, "clinic", True, errors)
    doctor = _text(row, "doctor", False, errors)
    location = _text(row, "location", False, errors)
    note = _text(row, "note", False, errors)

    status = row.get("status")
    if isinstance(status, str):
        status = status.strip().lower()
        status = "cancelled" if status == "canceled" else status  # US spelling from some systems
    if status in (None, ""):
        status = "booked"
    elif status not in STATUSES:
        errors["status"] = "must be one of booked, changed, cancelled"

    if errors:
        raise AppointmentError(errors)
    return Appointment(appointment_id, cid, date, time, clinic, doctor, location, note, status)


def parse_appointments(rows: Iterable[Any]) -> tuple[list[Appointment], list[tuple[int, dict[str, str]]]]:
    """Parse every row; return the good ones and ``(index, per-field errors)`` for the bad ones."""
    good, bad = [], []
    for index, row in enumerate(rows):
        try:
            good.append(parse_appointment(row))
        except AppointmentError as exc:
            bad.append((index, exc.errors))
    return good, bad


def notice_kind(appointment: Appointment, stored: Appointment | None) -> tuple[str, Appointment | None]:
    """The notice an appointment calls for, and the earlier appointment to show struck through.

    A ``booked`` row for an appointment we know at another date/time is a change:
    many hospital systems never send ``changed``.
    """
    if appointment.status == "cancelled":
        return "cancelled", None
    moved = (stored is not None and stored.status != "cancelled"
             and (stored.date, stored.time) != (appointment.date, appointment.time))
    if appointment.status == "changed" or moved:
        return "changed", stored if moved else None
    return "booked", None


# --- reminders ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReminderRule:
    """One reminder: ``before`` the appointment, or ``days`` before at clock time ``at``."""
    text: str
    before: dt.timedelta | None = None
    days: int = 0
    at: dt.time | None = None

    def when(self, starts_at: dt.datetime) -> dt.datetime:
        if self.at is not None:
            return dt.datetime.combine(starts_at.date() - dt.timedelta(days=self.days), self.at,
                                       tzinfo=starts_at.tzinfo)
        return starts_at - self.before


_RULE = re.compile(r"^(\d{1,3})([dhm])(?:@(\d{1,2}):(\d{2}))?$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_reminder_schedule(text: str) -> tuple[ReminderRule, ...]:
    """Read a REMINDER_SCHEDULE such as ``1d@09:00,2h``; raise ValueError saying what is wrong.

    ``Nd@HH:MM`` = N days before at that clock time (Asia/Bangkok); ``Nd``/``Nh``/``Nm``
    = that long before the start. An empty string means no reminders.
    """
    if not isinstance(text, str):
        raise ValueError("REMINDER_SCHEDULE must be text such as '1d@09:00,2h'")
    rules = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RULE.match(part)
        if not match:
            raise ValueError(f"REMINDER_SCHEDULE item {part!r} is not understood; use e.g. "
                             "'1d@09:00' (a day before at 09:00), '2h' (2 hours before) or '30m'")
        amount, unit, hour, minute = match.groups()
        if hour is None:
            rules.append(ReminderRule(part, before=dt.timedelta(**{_UNITS[unit]: int(amount)})))
            continue
        if unit != "d":
            raise ValueError(f"REMINDER_SCHEDULE item {part!r}: '@HH:MM' goes only with days, e.g. '1d@09:00'")
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError(f"REMINDER_SCHEDULE item {part!r}: {hour}:{minute} is not a time of day")
        rules.append(ReminderRule(part, days=int(amount), at=dt.time(int(hour), int(minute))))
    return tuple(rules)


def reminders_due(appointment: Appointment, schedule: str | tuple[ReminderRule, ...],
                  now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """``(rule text, moment)`` for each future reminder, sorted; the text suits ``notice_key`` kinds.

    Moments at or before ``now``, and moments not before the appointment itself, are left out;
    two rules landing on the same moment give one reminder.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rules = parse_reminder_schedule(schedule) if isinstance(schedule, str) else schedule
    starts_at = appointment.starts_at
    due: dict[dt.datetime, str] = {}
    for rule in rules:
        when = rule.when(starts_at)
        if now < when < starts_at:
            due.setdefault(when, rule.text)
    return sorted(((text, when) for when, text in due.items()), key=lambda item: item[1])


# --- dedup -------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def keyed_digest(key: bytes, *parts: str) -> str:
    """32 hex characters standing for ``parts`` in Redis names and job arguments.

    An HMAC with a server secret, not a plain hash: hospital ids can carry an HN
    and CIDs are 13 digits, so a plain hash of either is undone by trying them all.
    """
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def notice_key(key: bytes, appointment_id: str, status: str, kind: str) -> str:
    """A stable key (only ``[A-Za-z0-9_-]``) naming one notice, so it is never pushed twice.

    The id is digested with ``key``, not embedded. The readable prefix is for
    people looking at Redis; the digest alone decides identity.
    """
    digest = keyed_digest(key, "notice", str(appointment_id), status, kind)
    return f"{_UNSAFE.sub('-', status)[:12]}_{_UNSAFE.sub('-', kind)[:24]}_{digest}"
