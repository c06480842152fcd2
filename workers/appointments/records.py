"""What is stored of appointments and their notices, and the names of both: shared by submitting
(``notices.py``: the CSV push, the HIS API) and delivering (``delivery.py``: the jobs).

Redis keys. Names never hold a CID or an appointment id (hospital ids can carry an
HN): ``<ref>`` and notice ids are HMACs keyed with ``naming_key`` (OTP_SECRET, else
derived from the LINE channel secret; changing it forgets what was sent).

- ``appt:latest:<ref>``: the latest appointment (``to_dict()``, CID included), the one it
  replaced (shown struck through in a change notice) and the ids of its scheduled
  reminder jobs; kept until 30 days after the appointment. Jobs read the appointment
  here: their arguments are ``<ref>`` and a notice id, never a CID.
- ``appt:claim:<notice id>``: the notice was accepted once; written in one transaction
  with its job. Freed only when it fails for good, so that a corrected re-submission
  can go out.
- ``appt:sending:<notice id>``: taken before calling MOPH; freed when MOPH answered that
  nothing went out. Kept when no answer came: send-now has no idempotency key, so the
  notice is then ``uncertain`` and never pushed again by the bot.
- ``appt:sent:<notice id>``: MOPH accepted the notice; a retried job checks it first.
- ``appt:status:<notice id>``: where the notice stands, with an error text that holds no
  CID (what the CLI and ``GET /api/v1/appointments/notices/<id>`` show): queued,
  retrying, sent, failed, uncertain (MOPH may have pushed it: check หมอพร้อม before
  sending it again by other means), skipped-superseded / -cancelled / -moved / -past.

A notice id is ``Appointment.notice_key(kind, key=...)``: appointment id + status + kind
+ date/time. Every key starts with the hospital's prefix: two hospitals' appointment "123" are two
appointments, whatever their naming keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from bot.appointments import Appointment, keyed_digest, notice_key, parse_appointment, parse_reminder_schedule
from bot.otp import OtpKeyMissing, otp_key
from bot.settings import SettingsError
from workers.appointments.status import read_statuses, status_key


def naming_key(settings) -> bytes:
    """The secret that keys Redis names made from appointment ids and CIDs."""
    try:
        return otp_key(settings)
    except OtpKeyMissing as exc:
        raise SettingsError(str(exc)) from None


def latest_key(ref: str, prefix: str = "") -> str:
    return f"{prefix}appt:latest:{ref}"


def claim_key(notice_id: str, prefix: str = "") -> str:
    return f"{prefix}appt:claim:{notice_id}"


def sending_key(notice_id: str, prefix: str = "") -> str:
    return f"{prefix}appt:sending:{notice_id}"


def sent_key(notice_id: str, prefix: str = "") -> str:
    return f"{prefix}appt:sent:{notice_id}"


@dataclass(frozen=True)
class StoredAppointment:
    appointment: Appointment
    previous: Appointment | None
    reminder_jobs: tuple[str, ...]


class AppointmentRecords:
    """The names (keyed with ``key``: ``naming_key``) and the stored state of appointments; what
    submitting and delivering share. ``reminder_schedule``: which reminders an appointment gets;
    ``prefix``: the hospital's (its keys, queues and job ids)."""

    def __init__(self, redis, *, key: bytes, reminder_schedule: str = "1d@09:00", prefix: str):
        self.redis = redis
        self.key = key
        self.prefix = prefix
        self.rules = parse_reminder_schedule(reminder_schedule)

    def appointment_ref(self, appointment_id: str) -> str:
        """What stands for an appointment id in Redis names and job arguments."""
        return keyed_digest(self.key, "appointment", str(appointment_id))

    def notice_id(self, appointment: Appointment, kind: str) -> str:
        return appointment.notice_key(kind, key=self.key)

    def reminder_notice_id(self, appointment: Appointment, rule: str) -> str:
        """The notice id of one reminder; the same whatever the status, new for a new date/time."""
        when = f"{rule}@{appointment.date.isoformat()}T{appointment.time.strftime('%H%M')}"
        return notice_key(self.key, appointment.appointment_id, "reminder", when)

    def load(self, ref: str) -> StoredAppointment | None:
        return parse_stored([self.redis.get(latest_key(ref, self.prefix))])[0]

    def latest(self, appointment_id: str) -> Appointment | None:
        """The last accepted state of an appointment, or None if unknown (or long past)."""
        record = self.load(self.appointment_ref(appointment_id))
        return record.appointment if record else None

    def statuses(self, notice_ids: Sequence[str]) -> list[dict | None]:
        """Status records of notices, in order."""
        return read_statuses(self.redis, [status_key(n, self.prefix) for n in notice_ids])


def parse_stored(values: Sequence[bytes | None]) -> list[StoredAppointment | None]:
    stored = []
    for value in values:
        if not value:
            stored.append(None)
            continue
        record = json.loads(value)
        previous = record.get("previous")
        stored.append(StoredAppointment(parse_appointment(record["appointment"]),
                                        parse_appointment(previous) if previous else None,
                                        tuple(record["reminder_jobs"])))
    return stored
