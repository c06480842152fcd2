"""Delivering appointment notices and reminders through MOPH Alert (jobs only: the one place MOPH is
called), each at most once, and only while the appointment still stands as it was when queued."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from bot.appointment_messages import appointment_message
from bot.appointments import BANGKOK, Appointment
from bot.privacy import mask
from bot.settings import SettingsError
from integrations.errors import ProviderError
from integrations.metrics import MOPH_NOTICES
from integrations.moph import MophDeliveryUnknown
from workers.appointments.records import AppointmentRecords, claim_key, sending_key, sent_key
from workers.appointments.status import (
    DEDUP_SECONDS,
    UNCERTAIN,
    UNCERTAIN_TEXT,
    NoticeStatus,
    error_text,
    status_key,
    write_status,
)

log = logging.getLogger(__name__)


class NoticeDelivery(AppointmentRecords):
    """Sends the notices ``AppointmentNotices`` queued. ``moph`` is a function returning the MOPH
    client, called only when a notice is sent: a missing MOPH configuration then fails that one
    notice with a recorded reason."""

    def __init__(self, redis, *, key: bytes, moph: Callable[[], Any] | None = None, reminder_schedule: str = "1d@09:00",
                 hospital_name: str, hospital_color: str = "#0A7E5A", prefix: str,
                 now: Callable[[], dt.datetime] | None = None):
        super().__init__(redis, key=key, reminder_schedule=reminder_schedule, prefix=prefix)
        self._moph = moph
        self.hospital_name = hospital_name
        self.hospital_color = hospital_color
        self._now = now or (lambda: dt.datetime.now(BANGKOK))

    def deliver_notice(self, ref: str, notice_id: str, kind: str, *, final_attempt: bool = True) -> str:
        """Push one notice with MOPH send-now unless already sent or superseded; return its status."""
        if self.redis.exists(sent_key(notice_id, self.prefix)):
            return NoticeStatus.SENT
        record = self.load(ref)
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
        if self.redis.exists(sent_key(notice_id, self.prefix)):
            return NoticeStatus.SENT
        record = self.load(ref)
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
        sending = sending_key(notice_id, self.prefix)
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
                    pipe.delete(claim_key(notice_id, self.prefix))  # a corrected re-submission may try again
                pipe.execute()
            raise
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(sent_key(notice_id, self.prefix), "1", ex=DEDUP_SECONDS)
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
        write_status(redis or self.redis, status_key(notice_id, self.prefix), status, error, kind=kind, **fields)
        if status != "retrying":
            MOPH_NOTICES.labels(kind, status).inc()
