"""Appointment validation, CID checksum, reminder times and notice keys (pure code)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.appointments import (
    BANGKOK,
    AppointmentError,
    is_valid_cid,
    keyed_digest,
    notice_key,
    parse_appointment,
    parse_reminder_schedule,
    reminders_due,
)

KEY = b"test-naming-key"


def make_cid(first12: str) -> str:
    """A made-up, checksum-valid CID: the 12 given digits plus their check digit."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return first12 + str((11 - total % 11) % 10)


def row(**overrides):
    base = {"appointment_id": "A-1001", "cid": make_cid("110170020345"), "date": "2026-12-25",
            "time": "09:30", "clinic": "คลินิกเบาหวาน"}
    base.update(overrides)
    return base


# --- CID -------------------------------------------------------------------

# Worked by hand: 1·13+1·12+0·11+1·10+7·9+0·8+0·7+2·6+0·5+3·4+4·3+5·2 = 144; 144 mod 11 = 1;
# (11-1) mod 10 = 0. 1234567890121: sum mod 11 = 0 -> (11-0) mod 10 = 1 (the wrap-around case).
HAND_CHECKED = ["1101700203450", "1234567890121", "3101000000013", "0100000000000"]


@pytest.mark.parametrize("cid", HAND_CHECKED + [make_cid(p) for p in
                         ("310100000001", "012345678901", "899999999999", "555555555555")])
def test_valid_cids(cid):
    assert is_valid_cid(cid)


def test_helper_agrees_with_hand_worked_vectors():
    assert [make_cid(c[:12]) for c in HAND_CHECKED] == HAND_CHECKED


@pytest.mark.parametrize("cid", [
    "1101700203451",            # wrong check digit
    "1234567890120",            # wrong check digit (wrap-around case)
    "110170020345",             # 12 digits
    "11017002034500",           # 14 digits
    "11017002034A0",            # a letter
    "1-1017-00203-45-0",        # dashes are for parse_appointment to strip, not for the checker
    " 1101700203450",
    "๑๑๐๑๗๐๐๒๐๓๔๕๐",           # Thai digits
    "",
    None,
    1101700203450,              # an int (would lose a leading 0)
])
def test_invalid_cids(cid):
    assert not is_valid_cid(cid)


def test_every_wrong_check_digit_is_rejected():
    good = make_cid("310100000001")
    wrong = [good[:12] + d for d in "0123456789" if d != good[12]]
    assert not any(is_valid_cid(c) for c in wrong)


# --- parsing ---------------------------------------------------------------

def test_parse_valid_row():
    appt = parse_appointment(row(doctor="นพ.สมมติ ใจดี", location="ตึก 2 ชั้น 3", note="งดน้ำงดอาหาร"))
    assert appt.appointment_id == "A-1001"
    assert appt.date == dt.date(2026, 12, 25) and appt.time == dt.time(9, 30)
    assert (appt.clinic, appt.doctor, appt.location, appt.note) == (
        "คลินิกเบาหวาน", "นพ.สมมติ ใจดี", "ตึก 2 ชั้น 3", "งดน้ำงดอาหาร")
    assert appt.status == "booked"
    assert appt.starts_at == dt.datetime(2026, 12, 25, 9, 30, tzinfo=BANGKOK)
    assert appt.starts_at.utcoffset() == dt.timedelta(hours=7)


def test_parse_normalises_common_hospital_exports():
    appt = parse_appointment(row(cid="1-1017-00203-45-0", time="13:05:00", status=" CANCELED ",
                                 appointment_id=42, doctor="  ", note=None))
    assert appt.cid == "1101700203450"
    assert appt.time == dt.time(13, 5)
    assert appt.status == "cancelled"
    assert appt.appointment_id == "42"
    assert appt.doctor is None and appt.note is None


def test_leading_zero_cid_is_accepted():
    assert parse_appointment(row(cid="0100000000000")).cid == "0100000000000"


def test_all_field_errors_are_reported_at_once():
    with pytest.raises(AppointmentError) as caught:
        parse_appointment({"appointment_id": "", "cid": "1101700203451", "date": "25/12/2026",
                           "time": "9.30", "status": "maybe", "note": "x" * 501})
    errors = caught.value.errors
    assert set(errors) == {"appointment_id", "cid", "date", "time", "clinic", "status", "note"}
    assert "required" in errors["appointment_id"] and "required" in errors["clinic"]
    assert "check digit" in errors["cid"]
    assert "YYYY-MM-DD" in errors["date"]
    assert "HH:MM" in errors["time"]
    assert "booked" in errors["status"]
    assert "500" in errors["note"]


@pytest.mark.parametrize("field, value, expected", [
    ("date", "2026-02-30", "not a real calendar date"),
    ("date", "2569-12-25", "Buddhist-era"),
    ("date", "2026-1-5", "YYYY-MM-DD"),
    ("date", dt.datetime(2026, 12, 25, 9, 0), "not a date and time"),
    ("time", "24:00", "00:00-23:59"),
    ("time", "09:60", "00:00-23:59"),
    ("time", "0930", "HH:MM"),
    ("cid", 1101700203450, "must be text"),
    ("cid", "12345", "13 digits"),
    ("cid", None, "required"),
    ("clinic", 7, "must be text"),
])
def test_single_field_errors(field, value, expected):
    with pytest.raises(AppointmentError) as caught:
        parse_appointment(row(**{field: value}))
    assert list(caught.value.errors) == [field]
    assert expected in caught.value.errors[field]


def test_errors_never_echo_the_cid():
    cid = make_cid("310100000001")
    with pytest.raises(AppointmentError) as caught:
        parse_appointment(row(cid=cid, date="bad"))
    bad_cid = cid[:12] + str((int(cid[12]) + 1) % 10)
    with pytest.raises(AppointmentError) as caught_cid:
        parse_appointment(row(cid=bad_cid))
    assert cid not in str(caught.value) and bad_cid not in str(caught_cid.value)


def test_not_a_mapping():
    with pytest.raises(AppointmentError):
        parse_appointment(["A-1", "cid"])


def test_repr_masks_the_cid():
    appt = parse_appointment(row())
    assert appt.cid not in repr(appt)
    assert "…3450" in repr(appt)


def test_to_dict_round_trips():
    appt = parse_appointment(row(doctor="นพ.สมมติ", status="changed"))
    assert parse_appointment(appt.to_dict()) == appt


def test_parsing_ten_thousand_rows():
    # Performance smoke: a bulk import of 10,000 rows must stay linear and cheap.
    rows = [row(appointment_id=f"A{i}", cid=make_cid(f"{i:012d}"),
                date=f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", time=f"{8 + i % 8:02d}:{i % 60:02d}")
            for i in range(10_000)]
    parsed = [parse_appointment(r) for r in rows]
    assert len({a.appointment_id for a in parsed}) == 10_000


# --- reminders -------------------------------------------------------------

def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BANGKOK)


def reminder_times(appointment, schedule, now) -> list[dt.datetime]:
    return [when for _, when in reminders_due(appointment, schedule, now)]


def test_default_schedule_is_one_day_before_at_nine():
    appt = parse_appointment(row(date="2026-12-25", time="13:00"))
    assert reminder_times(appt, "1d@09:00", now=at(2026, 12, 1, 8, 0)) == [at(2026, 12, 24, 9, 0)]


def test_comma_list_sorted_and_past_times_excluded():
    appt = parse_appointment(row(date="2026-12-25", time="13:00"))
    schedule = "2h,1d@09:00"
    assert reminder_times(appt, schedule, now=at(2026, 12, 1)) == [at(2026, 12, 24, 9), at(2026, 12, 25, 11)]
    assert reminder_times(appt, schedule, now=at(2026, 12, 24, 9)) == [at(2026, 12, 25, 11)]
    assert reminder_times(appt, schedule, now=at(2026, 12, 25, 11)) == []


def test_reminders_not_after_the_appointment_and_deduplicated():
    appt = parse_appointment(row(date="2026-12-25", time="08:00"))
    # 0d@09:00 would fall after an 08:00 appointment; 1d@09:00 and 23h are the same moment.
    due = reminders_due(appt, "0d@09:00,1d@09:00,23h", now=at(2026, 12, 1))
    assert due == [("1d@09:00", at(2026, 12, 24, 9))]


def test_now_in_another_zone_compares_as_an_instant():
    appt = parse_appointment(row(date="2026-12-25", time="13:00"))
    now_utc = dt.datetime(2026, 12, 24, 1, 59, tzinfo=dt.timezone.utc)  # 08:59 in Bangkok
    assert reminder_times(appt, "1d@09:00", now=now_utc) == [at(2026, 12, 24, 9)]
    assert reminder_times(appt, "1d@09:00", now=now_utc + dt.timedelta(minutes=1)) == []


@pytest.mark.parametrize("month", range(1, 13))
def test_bangkok_has_no_dst_jumps(month):
    appt = parse_appointment(row(date=f"2026-{month:02d}-15", time="10:00"))
    times = reminder_times(appt, "1d@09:00,2h,90m", now=at(2026, 1, 1) - dt.timedelta(days=30))
    assert times == [at(2026, month, 14, 9), at(2026, month, 15, 8), at(2026, month, 15, 8, 30)]
    assert {t.utcoffset() for t in times} == {dt.timedelta(hours=7)}
    assert [t.astimezone(dt.timezone.utc).strftime("%H:%M") for t in times] == ["02:00", "01:00", "01:30"]


def test_naive_now_is_refused():
    appt = parse_appointment(row())
    with pytest.raises(ValueError, match="aware"):
        reminder_times(appt, "1d@09:00", now=dt.datetime(2026, 12, 1))


def test_parse_schedule_items():
    rules = parse_reminder_schedule(" 1d@09:00 , 2h,30m,3d ")
    assert [r.text for r in rules] == ["1d@09:00", "2h", "30m", "3d"]
    assert parse_reminder_schedule("") == ()


@pytest.mark.parametrize("text, expected", [
    ("1x", "'1x' is not understood"),
    ("tomorrow", "not understood"),
    ("2h@09:00", "only with days"),
    ("1d@25:00", "not a time of day"),
    ("1d@09:61", "not a time of day"),
    ("1d@9", "not understood"),
    ("-1d", "not understood"),
])
def test_bad_schedules_say_what_is_wrong(text, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_reminder_schedule(text)


# --- notice keys -----------------------------------------------------------

SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def test_notice_key_is_stable_and_safe():
    key = notice_key(KEY, "HN 12/345 นัด#1", "changed", "reminder:1d@09:00")
    assert SAFE.match(key)
    assert key == notice_key(KEY, "HN 12/345 นัด#1", "changed", "reminder:1d@09:00")
    assert "12/345" not in key and "345" not in key.split("_")[0]


def test_notice_key_differs_per_part_and_is_unambiguous():
    keys = {notice_key(KEY, "A1", "booked", "notice"), notice_key(KEY, "A2", "booked", "notice"),
            notice_key(KEY, "A1", "cancelled", "notice"), notice_key(KEY, "A1", "booked", "reminder-2h"),
            notice_key(KEY, "a-b", "booked", "c"), notice_key(KEY, "a", "booked", "b-c")}
    assert len(keys) == 6


def test_names_are_keyed_so_a_guessed_id_does_not_give_them_away():
    # A plain hash of an HN-bearing id (or a CID) is undone by hashing every candidate; an HMAC is not.
    import hashlib

    plain = hashlib.sha256("\x1f".join(("notice", "HN0012345", "booked", "notice")).encode()).hexdigest()[:32]
    digest = notice_key(KEY, "HN0012345", "booked", "notice").rsplit("_", 1)[1]
    assert digest != plain
    assert digest != notice_key(b"another-key", "HN0012345", "booked", "notice").rsplit("_", 1)[1]
    cid = make_cid("110170020345")
    assert keyed_digest(KEY, cid) != hashlib.sha256(cid.encode()).hexdigest()[:32]
    assert re.fullmatch(r"[0-9a-f]{32}", keyed_digest(KEY, cid))


def test_appointment_notice_key_changes_with_a_new_time():
    first = parse_appointment(row(status="changed", time="09:30"))
    again = parse_appointment(row(status="changed", time="09:30"))
    moved = parse_appointment(row(status="changed", time="10:00"))
    assert first.notice_key("notice", key=KEY) == again.notice_key("notice", key=KEY)
    assert first.notice_key("notice", key=KEY) != moved.notice_key("notice", key=KEY)
    assert SAFE.match(first.notice_key("reminder 1d@09:00", key=KEY))
