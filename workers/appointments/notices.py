"""Appointment notices through MOPH Alert: which notice to send, once, and when to remind.

Shared by the CSV push (``flask moph push``), the HIS API and the jobs. Submitting
only touches Redis and RQ; MOPH is called over HTTP only from ``deliver_*``, which
jobs run.

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
+ date/time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from redis.exceptions import WatchError
from rq.job import Job

from bot.appointment_messages import appointment_message
from bot.appointments import (
    BANGKOK,
    Appointment,
    AppointmentError,
    keyed_digest,
    notice_key,
    parse_appointment,
    parse_reminder_schedule,
    reminders_due,
)
from bot.otp import OtpKeyMissing, otp_key
from bot.privacy import mask
from bot.settings import SettingsError
from integrations.errors import ProviderError
from integrations.metrics import MOPH_NOTICES
from integrations.moph import MophDeliveryUnknown
from workers import job_names
from workers.appointments.status import (
    DEDUP_SECONDS,
    UNCERTAIN,
    UNCERTAIN_TEXT,
    NoticeStatus,
    error_text,
    read_statuses,
    status_key,
    write_status,
)
from workers.queues import DEFAULT_QUEUE, enqueue_at, get_queue, prepare

log = logging.getLogger(__name__)

REMINDER_QUEUE = DEFAULT_QUEUE

KEEP_AFTER_APPOINTMENT = dt.timedelta(days=30)
#: Appointments per Redis transaction when submitting: few round trips for a 10,000-row CSV.
PIPELINE_SIZE = 500


def naming_key(settings) -> bytes:
    """The secret that keys Redis names made from appointment ids and CIDs."""
    try:
        return otp_key(settings)
    except OtpKeyMissing as exc:
        raise SettingsError(str(exc)) from None


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


@dataclass(frozen=True)
class Submission:
    """What happened to one submitted appointment: ``queued`` or ``skipped-duplicate``."""
    appointment_id: str
    cid: str  # masked
    kind: str
    notice_id: str
    status: str
    reminders: tuple[dt.datetime, ...] = ()

    def to_dict(self) -> dict:
        return {"appointment_id": self.appointment_id, "cid": self.cid, "notice": self.kind,
                "notice_id": self.notice_id, "status": self.status,
                "reminders": [when.isoformat() for when in self.reminders]}


@dataclass(frozen=True)
class _Stored:
    appointment: Appointment
    previous: Appointment | None
    reminder_jobs: tuple[str, ...]


class _Plan(NamedTuple):
    appointment: Appointment
    ref: str
    kind: str
    previous: Appointment | None
    notice_id: str
    stored: _Stored | None


class AppointmentNotices:
    """Submits appointments (dedup, notice jobs, reminders) and delivers their notices.

    ``key`` keys the Redis names (``naming_key``). ``moph`` is a function returning the
    MOPH client, called only when a notice is sent: a missing MOPH configuration then
    fails that one notice with a recorded reason.
    """

    def __init__(self, redis, *, key: bytes, moph: Callable[[], Any] | None = None,
                 reminder_schedule: str = "1d@09:00", hospital_name: str,
                 hospital_color: str = "#0A7E5A", now: Callable[[], dt.datetime] | None = None):
        self.redis = redis
        self.key = key
        self._moph = moph
        self.rules = parse_reminder_schedule(reminder_schedule)
        self.hospital_name = hospital_name
        self.hospital_color = hospital_color
        self._now = now or (lambda: dt.datetime.now(BANGKOK))

    # -- names ---------------------------------------------------------------
    def appointment_ref(self, appointment_id: str) -> str:
        """What stands for an appointment id in Redis names and job arguments."""
        return keyed_digest(self.key, "appointment", str(appointment_id))

    def notice_id(self, appointment: Appointment, kind: str) -> str:
        return appointment.notice_key(kind, key=self.key)

    def reminder_notice_id(self, appointment: Appointment, rule: str) -> str:
        """The notice id of one reminder; the same whatever the status, new for a new date/time."""
        when = f"{rule}@{appointment.date.isoformat()}T{appointment.time.strftime('%H%M')}"
        return notice_key(self.key, appointment.appointment_id, "reminder", when)

    # -- submitting ----------------------------------------------------------
    def submit(self, appointments: Iterable[Appointment], *, queue: str = DEFAULT_QUEUE) -> list[Submission]:
        """Queue one notice per appointment not yet notified in this state; move its reminders.

        A repeat (same id, status, kind, date and time) changes nothing and comes back
        ``skipped-duplicate``. Rows are handled in order, so a file may book and then
        change the same appointment.
        """
        results: list[Submission] = []
        for batch in _batches_with_unique_ids(appointments, PIPELINE_SIZE):
            results += self._submit_batch(batch, queue)
        return results

    def _submit_batch(self, batch: list[Appointment], queue: str) -> list[Submission]:
        """Claims, records, reminders and jobs of one batch in one transaction: all or nothing.

        WATCH makes the read (known appointments, claims) and the write one step; if
        another submission touches the same appointments in between, decide again.
        """
        refs = [self.appointment_ref(a.appointment_id) for a in batch]
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    return self._try_submit(pipe, batch, refs, queue)
                except WatchError:
                    continue

    def _try_submit(self, pipe, batch: list[Appointment], refs: list[str], queue: str) -> list[Submission]:
        latest_keys = [_latest_key(ref) for ref in refs]
        pipe.watch(*latest_keys)
        plans = []
        for appointment, ref, record in zip(batch, refs, _parse_stored(pipe.mget(latest_keys))):
            kind, previous = notice_kind(appointment, record.appointment if record else None)
            plans.append(_Plan(appointment, ref, kind, previous, self.notice_id(appointment, kind), record))
        claim_keys = [_claim_key(plan.notice_id) for plan in plans]
        pipe.watch(*claim_keys)
        claimed = pipe.mget(claim_keys)

        now = self._now()
        jobs, results = [], []
        pipe.multi()
        for plan, taken in zip(plans, claimed):
            appointment, masked = plan.appointment, mask(plan.appointment.cid)
            if taken:
                results.append(Submission(appointment.appointment_id, masked, plan.kind, plan.notice_id,
                                          NoticeStatus.SKIPPED_DUPLICATE))
                continue
            pipe.set(_claim_key(plan.notice_id), "1", ex=DEDUP_SECONDS)
            reminders = self._reschedule(pipe, plan, now)
            self._store(pipe, plan, [job_id for job_id, _ in reminders], now)
            write_status(pipe, status_key(plan.notice_id), NoticeStatus.QUEUED, kind=plan.kind,
                         appointment_id=appointment.appointment_id, cid=masked)
            jobs.append(prepare(
                job_names.APPOINTMENT_SEND_NOTICE, plan.ref, plan.notice_id, plan.kind,
                description=f"moph {plan.kind} notice, appointment {mask(appointment.appointment_id)}, "
                            f"cid {masked}"))
            results.append(Submission(appointment.appointment_id, masked, plan.kind, plan.notice_id, NoticeStatus.QUEUED,
                                      tuple(when for _, when in reminders)))
        if jobs:
            get_queue(self.redis, queue).enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
        return results

    def _reschedule(self, pipe, plan: _Plan, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Cancel the appointment's scheduled reminders and schedule the ones its new state calls for."""
        registry = get_queue(self.redis, REMINDER_QUEUE).scheduled_job_registry
        for job_id in plan.stored.reminder_jobs if plan.stored else ():
            registry.remove(job_id, pipeline=pipe)
            pipe.delete(Job.key_for(job_id))
        if plan.appointment.status == "cancelled":
            return []
        scheduled = []
        for rule, when in reminders_due(plan.appointment, self.rules, now):
            job = self.schedule_reminder(plan.appointment, rule, when, pipeline=pipe)
            scheduled.append((job.id, when))
        return scheduled

    def schedule_reminder(self, appointment: Appointment, rule: str, when: dt.datetime, *,
                          job_id: str | None = None, pipeline=None) -> Job:
        """Have RQ's scheduler run the reminder job for ``appointment`` at ``when``."""
        notice_id = self.reminder_notice_id(appointment, rule)
        return enqueue_at(self.redis, when, job_names.APPOINTMENT_SEND_REMINDER,
                          self.appointment_ref(appointment.appointment_id), notice_id, rule, queue=REMINDER_QUEUE,
                          job_id=job_id or f"appt-{notice_id}", pipeline=pipeline,
                          description=f"moph reminder {rule}, appointment {mask(appointment.appointment_id)}")

    def _store(self, pipe, plan: _Plan, reminder_jobs: list[str], now: dt.datetime) -> None:
        appointment = plan.appointment
        keep = max(24 * 3600, int((appointment.starts_at + KEEP_AFTER_APPOINTMENT - now).total_seconds()))
        record = {"appointment": appointment.to_dict(),
                  "previous": plan.previous.to_dict() if plan.previous else None,
                  "reminder_jobs": reminder_jobs}
        pipe.set(_latest_key(plan.ref), json.dumps(record, ensure_ascii=False), ex=keep)

    def _load(self, ref: str) -> _Stored | None:
        return _parse_stored([self.redis.get(_latest_key(ref))])[0]

    def latest(self, appointment_id: str) -> Appointment | None:
        """The last accepted state of an appointment, or None if unknown (or long past)."""
        record = self._load(self.appointment_ref(appointment_id))
        return record.appointment if record else None

    def statuses(self, notice_ids: Sequence[str]) -> list[dict | None]:
        """Status records of notices, in order."""
        return read_statuses(self.redis, [status_key(n) for n in notice_ids])

    # -- delivering (jobs only) ------------------------------------------------
    def deliver_notice(self, ref: str, notice_id: str, kind: str, *, final_attempt: bool = True) -> str:
        """Push one notice with MOPH send-now unless already sent or superseded; return its status."""
        if self.redis.exists(f"appt:sent:{notice_id}"):
            return NoticeStatus.SENT
        record = self._load(ref)
        if record is None:  # kept 30 days past the appointment: a job this late has nothing to say
            self._record(notice_id, kind, None, NoticeStatus.FAILED, "the appointment is no longer stored")
            return NoticeStatus.FAILED
        if self.notice_id(record.appointment, kind) != notice_id:
            # A later submission replaced this state before we got to it: its own notice tells the patient.
            self._record(notice_id, kind, record.appointment, NoticeStatus.SKIPPED_SUPERSEDED)
            return NoticeStatus.SKIPPED_SUPERSEDED
        message = appointment_message(kind, record.appointment, hospital_name=self.hospital_name,
                                      color=self.hospital_color, previous=record.previous)
        return self._send(notice_id, record.appointment, kind, message, final_attempt, release_claim=True)

    def deliver_reminder(self, ref: str, notice_id: str, rule: str, *, final_attempt: bool = True) -> str:
        """Push one reminder if its appointment still stands at the date and time it was scheduled for."""
        if self.redis.exists(f"appt:sent:{notice_id}"):
            return NoticeStatus.SENT
        record = self._load(ref)
        current = record.appointment if record else None
        if current is None or current.status == "cancelled":
            status = NoticeStatus.SKIPPED_CANCELLED
        elif self.reminder_notice_id(current, rule) != notice_id:
            status = NoticeStatus.SKIPPED_MOVED
        elif self._now() >= current.starts_at:
            status = NoticeStatus.SKIPPED_PAST
        else:
            message = appointment_message("reminder", current, hospital_name=self.hospital_name,
                                          color=self.hospital_color)
            return self._send(notice_id, current, "reminder", message, final_attempt, release_claim=False)
        self._record(notice_id, "reminder", current, status)
        return status

    def _send(self, notice_id: str, appointment: Appointment, kind: str, message: dict,
              final_attempt: bool, *, release_claim: bool) -> str:
        """send-now at most once: taken before the call, freed only when MOPH said nothing went out."""
        sending = f"appt:sending:{notice_id}"
        if not self.redis.set(sending, "1", nx=True, ex=DEDUP_SECONDS):
            # An earlier attempt called MOPH and never learnt the outcome (no answer, or its worker died).
            return self._uncertain(notice_id, appointment, kind)
        try:
            self._moph().send_now([appointment.cid], [message])
        except MophDeliveryUnknown as exc:
            return self._uncertain(notice_id, appointment, kind, exc)
        except (ProviderError, ValueError, SettingsError) as exc:
            permanent = final_attempt or not getattr(exc, "retryable", False)
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(sending)
                self._record(notice_id, kind, appointment, NoticeStatus.FAILED if permanent else NoticeStatus.RETRYING,
                             error_text(exc), redis=pipe)
                if permanent and release_claim:
                    pipe.delete(_claim_key(notice_id))  # a corrected re-submission may try again
                pipe.execute()
            raise
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"appt:sent:{notice_id}", "1", ex=DEDUP_SECONDS)
            pipe.delete(sending)
            self._record(notice_id, kind, appointment, NoticeStatus.SENT, redis=pipe)
            pipe.execute()
        return NoticeStatus.SENT

    def _uncertain(self, notice_id: str, appointment: Appointment, kind: str,
                   exc: BaseException | None = None) -> str:
        log.warning("moph %s notice %s may or may not have been pushed (%s); not sending it again",
                    kind, notice_id, error_text(exc) if exc else "an earlier attempt got no answer")
        self._record(notice_id, kind, appointment, UNCERTAIN, UNCERTAIN_TEXT)
        return UNCERTAIN

    def _record(self, notice_id: str, kind: str, appointment: Appointment | None, status: str,
                error: str | None = None, *, redis=None) -> None:
        fields = dict(appointment_id=appointment.appointment_id, cid=mask(appointment.cid)) if appointment else {}
        write_status(redis or self.redis, status_key(notice_id), status, error, kind=kind, **fields)
        if status != "retrying":
            MOPH_NOTICES.labels(kind, status).inc()


def _latest_key(ref: str) -> str:
    return f"appt:latest:{ref}"


def _claim_key(notice_id: str) -> str:
    return f"appt:claim:{notice_id}"


def _parse_stored(values: Sequence[bytes | None]) -> list[_Stored | None]:
    stored = []
    for value in values:
        if not value:
            stored.append(None)
            continue
        record = json.loads(value)
        previous = record.get("previous")
        stored.append(_Stored(parse_appointment(record["appointment"]),
                              parse_appointment(previous) if previous else None,
                              tuple(record["reminder_jobs"])))
    return stored


def parse_appointments(rows: Iterable[Any]) -> tuple[list[Appointment], list[tuple[int, dict[str, str]]]]:
    """Parse every row; return the good ones and ``(index, per-field errors)`` for the bad ones."""
    good, bad = [], []
    for index, row in enumerate(rows):
        try:
            good.append(parse_appointment(row))
        except AppointmentError as exc:
            bad.append((index, exc.errors))
    return good, bad


def _batches_with_unique_ids(appointments: Iterable[Appointment], size: int) -> Iterator[list[Appointment]]:
    """Batches of at most ``size`` in which no appointment id repeats (a repeat starts the next batch)."""
    batch: list[Appointment] = []
    ids: set[str] = set()
    for appointment in appointments:
        if len(batch) >= size or appointment.appointment_id in ids:
            yield batch
            batch, ids = [], set()
        batch.append(appointment)
        ids.add(appointment.appointment_id)
    if batch:
        yield batch
