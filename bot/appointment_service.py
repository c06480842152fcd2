"""Appointment notices through MOPH Alert: which notice to send, once, and when to remind.

Shared by the CSV push (``flask moph push``), the HIS API and the jobs. Submitting
only touches Redis and RQ; MOPH is called over HTTP only from ``deliver_*``, which
jobs run.

Redis keys (never a CID or a raw appointment id in a key: hospital ids can carry an HN):

- ``appt:latest:<id hash>``: the latest appointment (``to_dict()``, CID included) and the
  ids of its scheduled reminder jobs; kept until 30 days after the appointment.
- ``appt:claim:<notice id>``: the notice was accepted once (SET NX); freed only when it
  fails for good, so that a corrected re-submission can go out.
- ``appt:sent:<notice id>``: MOPH accepted the notice; a retried job checks it first.
- ``appt:status:<notice id>``: queued / retrying / sent / failed / skipped-… with an error
  text that holds no CID (what the CLI and ``GET /api/v1/appointments/notices/<id>`` show).

A notice id is ``Appointment.notice_key(kind)``: appointment id + status + kind + date/time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from rq.job import Job

from bot.appointment_messages import appointment_message
from bot.appointments import (
    BANGKOK,
    Appointment,
    AppointmentError,
    notice_key,
    parse_appointment,
    parse_reminder_schedule,
    reminders_due,
)
from bot.privacy import mask
from bot.settings import SettingsError
from integrations.errors import ProviderError
from workers.queues import DEFAULT_QUEUE, DEFAULT_RETRY, DEFAULT_TIMEOUT, get_queue

NOTICE_JOB = "workers.appointment_jobs.send_notice"
REMINDER_JOB = "workers.appointment_jobs.send_reminder"
REMINDER_QUEUE = DEFAULT_QUEUE

#: A notice is never sent twice within this time; longer than any booking horizon.
DEDUP_SECONDS = 400 * 24 * 3600
STATUS_SECONDS = 30 * 24 * 3600
KEEP_AFTER_APPOINTMENT = dt.timedelta(days=30)
#: Appointments per Redis pipeline when submitting: few round trips for a 10,000-row CSV.
PIPELINE_SIZE = 500
#: Same result/failure lifetimes as ``workers.queues.enqueue``.
JOB_OPTIONS = dict(result_ttl=3600, failure_ttl=14 * 24 * 3600)

PENDING = frozenset({"queued", "retrying"})
_CID_LIKE = re.compile(r"\d{13}")


def appointment_hash(appointment_id: str) -> str:
    """The Redis name of an appointment: a hash, since the id may contain a hospital number."""
    return hashlib.sha256(str(appointment_id).encode()).hexdigest()[:32]


def reminder_notice_id(appointment: Appointment, rule: str) -> str:
    """The notice id of one reminder; the same whatever the status, new for a new date/time."""
    when = f"{rule}@{appointment.date.isoformat()}T{appointment.time.strftime('%H%M')}"
    return notice_key(appointment.appointment_id, "reminder", when)


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


def error_text(exc: BaseException) -> str:
    """An error for statuses and result files: short, and with any 13-digit run masked."""
    text = str(exc) or type(exc).__name__
    return _CID_LIKE.sub(lambda m: mask(m.group()), text)[:300]


def status_key(notice_id: str) -> str:
    return f"appt:status:{notice_id}"


def read_statuses(redis, keys: Sequence[str]) -> list[dict | None]:
    """The status records under ``keys`` (None where there is none), a few round trips for many."""
    found: list[dict | None] = []
    for start in range(0, len(keys), 5000):
        found += [json.loads(raw) if raw else None for raw in redis.mget(keys[start:start + 5000])]
    return found


def write_status(redis, key: str, status: str, error: str | None = None, **fields: Any) -> None:
    """Record where a notice or chunk stands (``redis`` may be a pipeline)."""
    record = {"status": status, "error": error, **fields,
              "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    redis.set(key, json.dumps(record, ensure_ascii=False), ex=STATUS_SECONDS)


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
    reminder_jobs: tuple[str, ...]


class _Plan(NamedTuple):
    appointment: Appointment
    kind: str
    previous: Appointment | None
    notice_id: str
    stored: _Stored | None


class AppointmentNotices:
    """Submits appointments (dedup, notice jobs, reminders) and delivers their notices."""

    def __init__(self, redis, *, moph=None, reminder_schedule: str = "1d@09:00",
                 hospital_name: str = "โรงพยาบาล", hospital_color: str = "#0A7E5A",
                 now: Callable[[], dt.datetime] | None = None):
        self.redis = redis
        # The client, or a function returning it: a missing MOPH configuration then
        # fails the one notice (recorded) instead of the job before it can say why.
        self._moph = moph
        self.rules = parse_reminder_schedule(reminder_schedule)
        self.hospital_name = hospital_name
        self.hospital_color = hospital_color
        self._now = now or (lambda: dt.datetime.now(BANGKOK))

    @classmethod
    def from_services(cls, services, **kwargs) -> "AppointmentNotices":
        """Built from a ``Services``: its Redis, settings and (lazily) its MOPH client."""
        s = services.settings
        return cls(services.redis, moph=lambda: services.moph, reminder_schedule=s.reminder_schedule,
                   hospital_name=s.hospital_name, hospital_color=s.hospital_color, **kwargs)

    @cached_property
    def _reminder_queue(self):
        return get_queue(self.redis, REMINDER_QUEUE)

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
        stored = self._load([a.appointment_id for a in batch])
        plans = []
        for appointment, record in zip(batch, stored):
            kind, previous = notice_kind(appointment, record.appointment if record else None)
            plans.append(_Plan(appointment, kind, previous, appointment.notice_key(kind), record))

        with self.redis.pipeline(transaction=False) as pipe:
            for plan in plans:
                pipe.set(f"appt:claim:{plan.notice_id}", "1", nx=True, ex=DEDUP_SECONDS)
            claimed = pipe.execute()

        now = self._now()
        notice_queue = get_queue(self.redis, queue)
        jobs, results = [], []
        with self.redis.pipeline(transaction=False) as pipe:
            for (appointment, kind, previous, notice_id, record), won in zip(plans, claimed):
                masked = mask(appointment.cid)
                if not won:
                    results.append(Submission(appointment.appointment_id, masked, kind, notice_id,
                                              "skipped-duplicate"))
                    continue
                reminders = self._reschedule(pipe, appointment, record, now)
                self._store(pipe, appointment, [job_id for job_id, _ in reminders], now)
                write_status(pipe, status_key(notice_id), "queued", kind=kind,
                             appointment_id=appointment.appointment_id, cid=masked)
                jobs.append(notice_queue.prepare_data(
                    NOTICE_JOB, args=(appointment.to_dict(), kind, previous.to_dict() if previous else None),
                    description=(f"moph {kind} notice, appointment {mask(appointment.appointment_id)}, "
                                 f"cid {masked}"),
                    timeout=DEFAULT_TIMEOUT, retry=DEFAULT_RETRY, **JOB_OPTIONS))
                results.append(Submission(appointment.appointment_id, masked, kind, notice_id, "queued",
                                          tuple(when for _, when in reminders)))
            if jobs:
                notice_queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
        return results

    def _reschedule(self, pipe, appointment: Appointment, record: _Stored | None,
                    now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Cancel the appointment's scheduled reminders and schedule the ones its new state calls for."""
        queue = self._reminder_queue
        for job_id in record.reminder_jobs if record else ():
            queue.scheduled_job_registry.remove(job_id, pipeline=pipe)
            pipe.delete(Job.key_for(job_id))
        if appointment.status == "cancelled":
            return []
        scheduled = []
        for rule, when in reminders_due(appointment, self.rules, now):
            job_id = "appt-" + reminder_notice_id(appointment, rule)
            schedule_reminder(queue, appointment, rule, when, job_id=job_id, pipeline=pipe)
            scheduled.append((job_id, when))
        return scheduled

    def _store(self, pipe, appointment: Appointment, reminder_jobs: list[str], now: dt.datetime) -> None:
        keep = max(24 * 3600, int((appointment.starts_at + KEEP_AFTER_APPOINTMENT - now).total_seconds()))
        record = {"appointment": appointment.to_dict(), "reminder_jobs": reminder_jobs}
        pipe.set(f"appt:latest:{appointment_hash(appointment.appointment_id)}",
                 json.dumps(record, ensure_ascii=False), ex=keep)

    def _load(self, appointment_ids: Sequence[str]) -> list[_Stored | None]:
        raw = self.redis.mget([f"appt:latest:{appointment_hash(i)}" for i in appointment_ids])
        stored = []
        for value in raw:
            if not value:
                stored.append(None)
                continue
            record = json.loads(value)
            stored.append(_Stored(parse_appointment(record["appointment"]), tuple(record["reminder_jobs"])))
        return stored

    def latest(self, appointment_id: str) -> Appointment | None:
        """The last accepted state of an appointment, or None if unknown (or long past)."""
        record = self._load([appointment_id])[0]
        return record.appointment if record else None

    def statuses(self, notice_ids: Sequence[str]) -> list[dict | None]:
        """Status records of notices, in order."""
        return read_statuses(self.redis, [status_key(n) for n in notice_ids])

    # -- delivering (jobs only) ------------------------------------------------
    def deliver_notice(self, appointment: Appointment, kind: str, previous: Appointment | None = None,
                       *, final_attempt: bool = True) -> str:
        """Push one notice with MOPH send-now unless already sent or superseded; return its status."""
        notice_id = appointment.notice_key(kind)
        if self.redis.exists(f"appt:sent:{notice_id}"):
            return "sent"
        current = self.latest(appointment.appointment_id)
        if current is not None and _state(current) != _state(appointment):
            # A later submission replaced this state before we got to it: its own notice tells the patient.
            self._record(notice_id, appointment, kind, "skipped-superseded")
            return "skipped-superseded"
        message = appointment_message(kind, appointment, hospital_name=self.hospital_name,
                                      color=self.hospital_color, previous=previous)
        return self._send(notice_id, appointment, kind, message, final_attempt, release_claim=True)

    def deliver_reminder(self, scheduled: Appointment, rule: str, *, final_attempt: bool = True) -> str:
        """Push one reminder if its appointment still stands at the same date and time."""
        notice_id = reminder_notice_id(scheduled, rule)
        if self.redis.exists(f"appt:sent:{notice_id}"):
            return "sent"
        current = self.latest(scheduled.appointment_id)
        if current is None or current.status == "cancelled":
            status = "skipped-cancelled"
        elif (current.date, current.time) != (scheduled.date, scheduled.time):
            status = "skipped-moved"
        elif self._now() >= current.starts_at:
            status = "skipped-past"
        else:
            message = appointment_message("reminder", current, hospital_name=self.hospital_name,
                                          color=self.hospital_color)
            return self._send(notice_id, current, "reminder", message, final_attempt, release_claim=False)
        self._record(notice_id, scheduled, "reminder", status)
        return status

    def _send(self, notice_id: str, appointment: Appointment, kind: str, message: dict,
              final_attempt: bool, *, release_claim: bool) -> str:
        try:
            client = self._moph() if callable(self._moph) else self._moph
            client.send_now([appointment.cid], [message])
        except (ProviderError, ValueError, SettingsError) as exc:
            permanent = final_attempt or not getattr(exc, "retryable", False)
            with self.redis.pipeline(transaction=False) as pipe:
                self._record(notice_id, appointment, kind, "failed" if permanent else "retrying",
                             error_text(exc), redis=pipe)
                if permanent and release_claim:
                    pipe.delete(f"appt:claim:{notice_id}")  # a corrected re-submission may try again
                pipe.execute()
            raise
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"appt:sent:{notice_id}", "1", ex=DEDUP_SECONDS)
            self._record(notice_id, appointment, kind, "sent", redis=pipe)
            pipe.execute()
        return "sent"

    def _record(self, notice_id: str, appointment: Appointment, kind: str, status: str,
                error: str | None = None, *, redis=None) -> None:
        write_status(redis or self.redis, status_key(notice_id), status, error, kind=kind,
                     appointment_id=appointment.appointment_id, cid=mask(appointment.cid))


def schedule_reminder(queue, appointment: Appointment, rule: str, when: dt.datetime, *,
                      job_id: str | None = None, pipeline=None) -> Job:
    """Have RQ's scheduler run the reminder job for ``appointment`` at ``when``."""
    return queue.enqueue_at(
        when, REMINDER_JOB, appointment.to_dict(), rule, job_id=job_id, pipeline=pipeline,
        description=f"moph reminder {rule}, appointment {mask(appointment.appointment_id)}",
        job_timeout=DEFAULT_TIMEOUT, retry=DEFAULT_RETRY, **JOB_OPTIONS)


def parse_appointments(rows: Iterable[Any]) -> tuple[list[Appointment], list[tuple[int, dict[str, str]]]]:
    """Parse every row; return the good ones and ``(index, per-field errors)`` for the bad ones."""
    good, bad = [], []
    for index, row in enumerate(rows):
        try:
            good.append(parse_appointment(row))
        except AppointmentError as exc:
            bad.append((index, exc.errors))
    return good, bad


def _state(appointment: Appointment) -> tuple:
    return appointment.status, appointment.date, appointment.time


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
