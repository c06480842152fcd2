"""Queueing and scheduling the handoff's jobs, by their names (``workers/job_names.py``).

``pipeline``: the job joins the caller's transaction. ``prefix``: the hospital's (its queues, job ids
and outboxes).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import redis

from bot.handoff.hours import BusinessHours
from bot.handoff.state import HandoffState, idle_deadline, no_agent_due
from bot.privacy import mask
from workers import job_names
from workers.handoff.store import HandoffStore, patient_outbox
from workers.queues import enqueue, enqueue_at
from workers.user_queue import UserQueue

DRAIN_TIMEOUT = 180            # one drain job: its budget, then one item that fetches and uploads an image
DRAIN_BUDGET = 20              # seconds of draining before a drain hands over to the next


def job_suffix(*parts: object) -> str:
    """A short stable id made of ``parts``, for RQ job ids (which allow letters, digits, _ and -)."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


def enqueue_outbox_drain(connection: redis.Redis, outbox: UserQueue, job, user: str, pipeline, description: str,
                         *, prefix: str = ""):
    """A drain job and its drain-queued note, together; the job. No RQ retry: a failing item is
    retried on its own backoff, by a drain the sweeper starts when it is due. (The mirror's drains:
    ``workers/handoff/mirror_drains.py``.)"""
    if pipeline is None:
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            job = enqueue_outbox_drain(connection, outbox, job, user, pipe, description, prefix=prefix)
            pipe.execute()
        return job
    outbox.mark_drain_queued(user, pipeline)
    return enqueue(connection, job, user, description=description, timeout=DRAIN_TIMEOUT, retry=None,
                   pipeline=pipeline, prefix=prefix)


def enqueue_drain_to_patient(connection: redis.Redis, user: str, pipeline=None, *, prefix: str = "") -> None:
    enqueue_outbox_drain(connection, patient_outbox(connection, prefix=prefix), job_names.HANDOFF_DRAIN_TO_PATIENT,
                         user, pipeline, f"agent replies to {mask(user)}", prefix=prefix)


def enqueue_request_agent(connection: redis.Redis, user: str, session: str, pipeline=None, *,
                          prefix: str = "") -> None:
    enqueue(connection, job_names.HANDOFF_REQUEST_AGENT, user, session, description=f"Oho request-agent for {mask(user)}",
            pipeline=pipeline, prefix=prefix)


def enqueue_oho_contact(connection: redis.Redis, user: str, pipeline=None, *, prefix: str = "") -> None:
    enqueue(connection, job_names.HANDOFF_ENSURE_OHO_CONTACT, user, description=f"Oho contact for {mask(user)}",
            pipeline=pipeline, prefix=prefix)


def enqueue_resolve(connection: redis.Redis, user: str, session: str, conversation_id: int, *,
                    prefix: str = "") -> None:
    """Queue the check of a ``resolved`` webhook (read back from LiveDesk) that closes ``session`` if true.
    No claim here: a forged event must not use up the close of a real one."""
    enqueue(connection, job_names.HANDOFF_RESOLVE, user, session, int(conversation_id),
            description=f"confirm the resolution of {mask(user)}'s handoff", prefix=prefix)


def enqueue_close(connection: redis.Redis, store: HandoffStore, user: str, session: str, reason: str,
                  notify: bool) -> bool:
    """Queue the closing of ``session`` once, however many times it is asked for (on the queue of the
    store's hospital)."""
    if not store.claim(f"close:{session}"):
        return False
    enqueue(connection, job_names.HANDOFF_CLOSE, user, session, reason, notify,
            description=f"close handoff of {mask(user)} ({reason})", prefix=store.keys.prefix)
    return True


def schedule_no_agent_check(connection, user: str, state: HandoffState, hours: BusinessHours, minutes: int,
                            pipeline=None, *, prefix: str = "") -> None:
    when = dt.datetime.fromtimestamp(no_agent_due(state.since, hours, minutes), dt.timezone.utc)
    enqueue_at(connection, when, job_names.HANDOFF_CHECK_NO_AGENT, user, state.session, pipeline=pipeline,
               description=f"no-agent check for {mask(user)}", job_id=f"handoff-no-agent-{job_suffix(state.session)}",
               prefix=prefix)


def schedule_idle_check(connection, user: str, state: HandoffState, hours: BusinessHours, minutes: int,
                        pipeline=None, *, prefix: str = "") -> None:
    # No fixed job id: a check that finds an agent active schedules the next one while it is itself running.
    when = dt.datetime.fromtimestamp(idle_deadline(state, hours, minutes), dt.timezone.utc)
    enqueue_at(connection, when, job_names.HANDOFF_CHECK_IDLE, user, state.session, pipeline=pipeline,
               description=f"idle check for {mask(user)}", prefix=prefix)

