"""Per-user inboxes: LINE events are answered in the order LINE sent them, users in parallel.

The webhook appends each new event to its user's inbox (skipping any
``webhookEventId`` it has seen) and, unless a drain job for that user is
already waiting to start, enqueues one, all in one transaction.

Coalescing: a patient often sends several short messages in a row, and a
backlog makes every user's events pile up; one drain handles them all, so
queueing a job per event would only add RQ's per-job cost. The inbox's
drain-queued note (``line:inbox-pending:<user>``) is set with the job, in the
same transaction, and the drain clears it as its first step, before it reads
the inbox: an event appended in a transaction that still sees the note is sure
to be read by the waiting drain.

The inbox is a ``UserQueue`` (``workers/user_queue.py``): one drain per user at a
time, an event leaves the inbox only after it is handled (handlers are
idempotent: an answer LINE accepted is recorded at once and never sent again),
a failing event is retried on its own backoff, and after ``MAX_EVENT_ATTEMPTS``
(or at once for a provider's rejection) it moves to the dead-letter list
``line:dead-events`` while the job fails, so it shows in RQ's failed registry.
A drain is bounded (``DRAIN_BUDGET`` seconds, or a SIGTERM between events) and
then queues the next one. Inboxes whose drain was lost are found by the sweeper
(``workers/maintenance.py``).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Callable

import redis

from bot.privacy import mask
from workers.line import jobs
from workers.queues import LINE_QUEUE, enqueue
from workers.user_queue import UserQueue

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
#: Retries of an event that keeps failing: its first try, then these waits (about an hour
#: in all), so that a LINE outage of that length loses no answer.
EVENT_BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900, 900, 900)
MAX_EVENT_ATTEMPTS = len(EVENT_BACKOFF) + 1
DRAIN_BUDGET = 20                 # seconds one drain job works before it hands over to the next
LOCK_TIMEOUT = 30                 # a killed drain blocks its user this long at most (renewed while alive)
JOB_TIMEOUT = 90                  # budget + one slow event, with room
DEAD_LETTERS = "line:dead-events"
DEAD_LETTERS_KEPT = 1000
#: Added to each queued event: when the webhook received it (epoch seconds), for the answer
#: latency and the backlog's age. Not LINE's: ``event_id`` leaves it out of its digest.
RECEIVED_AT = "_receivedAt"

@dataclass
class Accepted:
    queued: int = 0
    duplicates: int = 0


def source_key(event: dict) -> str:
    """Whose inbox: the chat the event came from (user, group or room)."""
    source = event.get("source") or {}
    return str(source.get("userId") or source.get("groupId") or source.get("roomId") or "unknown")


def event_id(event: dict) -> str:
    """``webhookEventId``; for an event without one, a digest of its content. ``deliveryContext``
    is left out of the digest: it is what differs in a redelivered copy (``isRedelivery``)."""
    found = event.get("webhookEventId")
    if isinstance(found, str) and found:
        return found
    content = {key: value for key, value in event.items() if key not in (RECEIVED_AT, "deliveryContext")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:26]


def line_inbox(connection: redis.Redis, clock: Callable[[], float] = time.time) -> UserQueue:
    """The LINE events waiting to be answered, per user (keys ``line:inbox:<user>``, ``line:seen:<event>``)."""
    return UserQueue(connection, "line:inbox", max_attempts=MAX_EVENT_ATTEMPTS, lock_timeout=LOCK_TIMEOUT,
                     backoff=EVENT_BACKOFF, dead_kept=DEAD_LETTERS_KEPT, seen_ttl=SEEN_TTL, dead_key=DEAD_LETTERS,
                     seen_prefix="line:seen", clock=clock)


def accept_events(connection: redis.Redis, events: list[dict]) -> Accepted:
    """Queue new events for their users' drains; skip ones already seen. No outbound HTTP.

    Two round trips: read which users have a drain waiting, then one transaction
    with the seen-checks and appends, a drain job for each user without one,
    and for the others a re-check that their drain is still waiting, taken
    atomically with the appends. A drain that started in between (it clears
    its flag first) may miss the new events, so those users get a new drain in
    a third step. (A user whose events were all duplicates may still get a
    drain; it then finds nothing.)
    """
    inbox = line_inbox(connection)
    received = round(time.time(), 3)
    users = list(dict.fromkeys(source_key(event) for event in events))
    waiting = inbox.drain_queued_since(users)
    covered = [u for u, flag in zip(users, waiting) if flag is not None]
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        for user in covered:
            pipe.exists(inbox._pending(user))
        for event in events:
            inbox.append(source_key(event), event_id(event), {**event, RECEIVED_AT: received}, pipeline=pipe)
        for user, flag in zip(users, waiting):
            if flag is None:
                _enqueue_drain(connection, inbox, user, pipe)
        results = pipe.execute()
    missed = [user for user, still in zip(covered, results) if not still]
    if missed:  # rare: those drains started between our two round trips
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            for user in missed:
                _enqueue_drain(connection, inbox, user, pipe)
            pipe.execute()
    appended = results[len(covered):len(covered) + len(events)]
    queued = sum(1 for r in appended if r == 1)
    return Accepted(queued=queued, duplicates=len(events) - queued)


def enqueue_drain(connection: redis.Redis, user: str) -> None:
    """Queue a drain of the user's inbox (the sweeper's and a bounded drain's way to hand over)."""
    inbox = line_inbox(connection)
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()
        _enqueue_drain(connection, inbox, user, pipe)
        pipe.execute()


def _enqueue_drain(connection: redis.Redis, inbox: UserQueue, user: str, pipe) -> None:
    inbox.mark_drain_queued(user, pipe)
    # No RQ retry: a failing event is retried on its own backoff (the sweeper starts its drain).
    enqueue(connection, jobs.drain_inbox, user, queue=LINE_QUEUE, pipeline=pipe, retry=None,
            description=f"answer LINE events of {mask(user)}", timeout=JOB_TIMEOUT)


def drain_inbox(connection: redis.Redis, user: str, handle: Callable[[dict], None],
                should_stop: Callable[[], bool] | None = None) -> int:
    """Handle the user's queued events in order; return how many were handled. A drain that
    ran out of time (or was asked to stop) queues the next one; a failing event waits for the
    sweeper, at its due time."""
    return line_inbox(connection).drain_and_hand_over(
        user, handle, lambda u: enqueue_drain(connection, u), budget_seconds=DRAIN_BUDGET, should_stop=should_stop)
