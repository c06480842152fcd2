"""Submitting appointments: which notice each calls for, queued once, and its reminders moved.

Shared by the CSV push (``flask moph push``) and the HIS API; only touches Redis and RQ. MOPH is
called only by the jobs (``delivery.py``). The Redis keys: ``records.py``. A notice id is
``Appointment.notice_key(kind, key=...)``: appointment id + status + kind + date/time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, NamedTuple

from redis.exceptions import WatchError
from rq.job import Job

from bot.appointments import BANGKOK, Appointment, notice_kind, reminders_due
from bot.privacy import mask
from workers import job_names
from workers.appointments.records import (
    AppointmentRecords,
    StoredAppointment,
    claim_key,
    latest_key,
    parse_stored,
)
from workers.appointments.status import DEDUP_SECONDS, NoticeStatus, status_key, write_status
from workers.queues import DEFAULT_QUEUE, enqueue_at, get_queue, prepare

log = logging.getLogger(__name__)

REMINDER_QUEUE = DEFAULT_QUEUE

KEEP_AFTER_APPOINTMENT = dt.timedelta(days=30)
#: Appointments per Redis transaction when submitting: few round trips for a 10,000-row CSV.
PIPELINE_SIZE = 500


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


class _Plan(NamedTuple):
    appointment: Appointment
    ref: str
    kind: str
    previous: Appointment | None
    notice_id: str
    stored: StoredAppointment | None


class AppointmentNotices(AppointmentRecords):
    """Submits appointments: dedup, notice jobs, reminders (``NoticeDelivery`` sends them).
    ``key`` keys the Redis names (``naming_key``); ``now`` is replaceable (tests)."""

    def __init__(self, redis, *, key: bytes, reminder_schedule: str = "1d@09:00", prefix: str,
                 now: Callable[[], dt.datetime] | None = None):
        super().__init__(redis, key=key, reminder_schedule=reminder_schedule, prefix=prefix)
        self._now = now or (lambda: dt.datetime.now(BANGKOK))

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
        latest_keys = [latest_key(ref, self.prefix) for ref in refs]
        pipe.watch(*latest_keys)
        plans = []
        for appointment, ref, record in zip(batch, refs, parse_stored(pipe.mget(latest_keys))):
            kind, previous = notice_kind(appointment, record.appointment if record else None)
            plans.append(_Plan(appointment, ref, kind, previous, self.notice_id(appointment, kind), record))
        claim_keys = [claim_key(plan.notice_id, self.prefix) for plan in plans]
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
            pipe.set(claim_key(plan.notice_id, self.prefix), "1", ex=DEDUP_SECONDS)
            reminders = self._reschedule(pipe, plan, now)
            self._store(pipe, plan, [job_id for job_id, _ in reminders], now)
            write_status(pipe, status_key(plan.notice_id, self.prefix), NoticeStatus.QUEUED, kind=plan.kind,
                         appointment_id=appointment.appointment_id, cid=masked)
            jobs.append(prepare(
                job_names.APPOINTMENT_SEND_NOTICE, plan.ref, plan.notice_id, plan.kind,
                description=f"moph {plan.kind} notice, appointment {mask(appointment.appointment_id)}, "
                            f"cid {masked}", prefix=self.prefix))
            results.append(Submission(appointment.appointment_id, masked, plan.kind, plan.notice_id, NoticeStatus.QUEUED,
                                      tuple(when for _, when in reminders)))
        if jobs:
            get_queue(self.redis, queue, prefix=self.prefix).enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
        return results

    def _reschedule(self, pipe, plan: _Plan, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Cancel the appointment's scheduled reminders and schedule the ones its new state calls for."""
        registry = get_queue(self.redis, REMINDER_QUEUE, prefix=self.prefix).scheduled_job_registry
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
                          job_id=job_id or f"appt-{notice_id}", pipeline=pipeline, prefix=self.prefix,
                          description=f"moph reminder {rule}, appointment {mask(appointment.appointment_id)}")

    def _store(self, pipe, plan: _Plan, reminder_jobs: list[str], now: dt.datetime) -> None:
        appointment = plan.appointment
        keep = max(24 * 3600, int((appointment.starts_at + KEEP_AFTER_APPOINTMENT - now).total_seconds()))
        record = {"appointment": appointment.to_dict(),
                  "previous": plan.previous.to_dict() if plan.previous else None,
                  "reminder_jobs": reminder_jobs}
        pipe.set(latest_key(plan.ref, self.prefix), json.dumps(record, ensure_ascii=False), ex=keep)


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
