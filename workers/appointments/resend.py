"""Notices that need a person (``flask moph notices`` / ``resend``).

``uncertain``: MOPH got the request but its answer never came, so it may have pushed it; the
bot never sends it again by itself. ``failed``: MOPH refused it or stayed down through every
retry. A resend is for after someone has checked หมอพร้อม: it frees the notice's "sending"
mark and queues the same job the first send ran, which sends the appointment's *current*
state (a notice whose appointment changed since is refused: its newer notice is the one).
"""

from __future__ import annotations

from dataclasses import dataclass

from workers import job_names
from workers.appointments.records import claim_key, sending_key, sent_key
from workers.appointments.status import DEDUP_SECONDS, read_statuses, status_key, write_status
from workers.queues import DEFAULT_QUEUE, enqueue

RESENDABLE = ("uncertain", "failed")


class CannotResend(Exception):
    """Why this notice cannot be sent again (the message says what to do instead)."""


@dataclass(frozen=True)
class NoticeRecord:
    notice_id: str
    status: str
    kind: str
    appointment_id: str    # the hospital's id (the CLI masks it)
    cid: str               # masked already
    error: str
    updated_at: str


def notices_with_status(redis, statuses: tuple[str, ...], *, prefix: str = "") -> list[NoticeRecord]:
    """The hospital's (``prefix``) notices whose status is one of ``statuses``, newest first (records are
    kept 30 days)."""
    start = status_key("", prefix)  # no glob character in a prefix: a hospital id is [a-z0-9-]
    keys = [key.decode() if isinstance(key, bytes) else key for key in redis.scan_iter(f"{start}*", count=1000)]
    found = []
    for key, record in zip(keys, read_statuses(redis, keys)):
        if record and record.get("status") in statuses:
            found.append(NoticeRecord(key[len(start):], record["status"], str(record.get("kind") or "?"),
                                      str(record.get("appointment_id") or ""), str(record.get("cid") or "…"),
                                      str(record.get("error") or ""), str(record.get("updated_at") or "")))
    return sorted(found, key=lambda n: n.updated_at, reverse=True)


def resend(notices, notice_id: str) -> NoticeRecord:
    """Queue notice ``notice_id`` again; raise ``CannotResend`` saying why not."""
    redis, prefix = notices.redis, notices.prefix
    [record] = read_statuses(redis, [status_key(notice_id, prefix)])
    if record is None:
        raise CannotResend(f"no notice {notice_id} (records are kept 30 days; see `flask moph notices`)")
    status, kind = record.get("status"), record.get("kind")
    if status not in RESENDABLE:
        raise CannotResend(f"notice {notice_id} is {status}; only uncertain or failed notices are resent")
    if redis.exists(sent_key(notice_id, prefix)):
        raise CannotResend(f"notice {notice_id} was sent already")
    appointment = notices.latest(str(record.get("appointment_id") or ""))
    if appointment is None:
        raise CannotResend("the appointment is no longer stored (30 days after it); submit it again if it stands")
    ref = notices.appointment_ref(appointment.appointment_id)
    if kind == "reminder":
        rules = [rule.text for rule in notices.rules if notices.reminder_notice_id(appointment, rule.text) == notice_id]
        if not rules:
            raise CannotResend("the appointment moved since this reminder; its own reminders are scheduled")
        job, args = job_names.APPOINTMENT_SEND_REMINDER, (ref, notice_id, rules[0])
    else:
        if notices.notice_id(appointment, kind) != notice_id:
            raise CannotResend("the appointment changed since this notice; the newer notice is the one to send")
        job, args = job_names.APPOINTMENT_SEND_NOTICE, (ref, notice_id, kind)
    with redis.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        pipe.delete(sending_key(notice_id, prefix))
        if kind != "reminder":
            pipe.set(claim_key(notice_id, prefix), "1", ex=DEDUP_SECONDS)  # as when it was first queued
        write_status(pipe, status_key(notice_id, prefix), "queued", None, kind=kind,
                     appointment_id=record.get("appointment_id"), cid=record.get("cid"), resent=True)
        enqueue(redis, job, *args, queue=DEFAULT_QUEUE, pipeline=pipe, prefix=prefix,
                description=f"moph {kind} notice resent by hand")
        pipe.execute()
    return NoticeRecord(notice_id, "queued", str(kind), str(record.get("appointment_id") or ""),
                        str(record.get("cid") or "…"), "", "")
