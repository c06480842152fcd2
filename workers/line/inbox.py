"""Per-user inboxes: LINE events are answered in the order LINE sent them, users in parallel.

The webhook appends each new event to its user's inbox (skipping any
``webhookEventId`` it has seen) and, unless a drain job for that user is
already waiting to start, enqueues one, all in one transaction.

Coalescing: a patient often sends several short messages in a row, and a
backlog makes every user's events pile up; one drain handles them all, so
queueing a job per event would only add RQ's per-job cost (measured: RQ's
bookkeeping is most of a worker's time per event). The flag
``line:drain-pending:<user>`` is set with the job, in the same transaction,
and the drain clears it as its first step, before it reads the inbox: an event
appended in a transaction that still sees the flag is sure to be read by the
waiting drain. The flag
expires after ``PENDING_TTL`` in case its job is lost, so at worst a user's
next message queues a fresh drain. The inbox is a ``UserQueue`` (``workers/user_queue.py``): one
drain per user at a time, an event leaves the inbox only after it is handled
(handlers are idempotent: reply tokens are used once, pushes carry a retry key),
and an event that keeps failing moves, after ``MAX_EVENT_ATTEMPTS`` (or at once
for a provider's rejection), to the dead-letter list ``line:dead-events`` while
the job fails, so it shows in RQ's failed registry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import redis

from bot.privacy import mask
from workers.line import jobs
from workers.queues import LINE_QUEUE, enqueue
from workers.user_queue import UserQueue

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
MAX_EVENT_ATTEMPTS = 6
LOCK_TIMEOUT = 120                # longer than one event's handling, shorter than a drain job's patience
DEAD_LETTERS = "line:dead-events"
DEAD_LETTERS_KEPT = 1000

PENDING_TTL = 600                 # longer than a drain normally waits in the queue

@dataclass
class Accepted:
    queued: int = 0
    duplicates: int = 0


def source_key(event: dict) -> str:
    """Whose inbox: the chat the event came from (user, group or room)."""
    source = event.get("source") or {}
    return str(source.get("userId") or source.get("groupId") or source.get("roomId") or "unknown")


def event_id(event: dict) -> str:
    """``webhookEventId``; for an event without one, a digest of its content."""
    found = event.get("webhookEventId")
    if isinstance(found, str) and found:
        return found
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:26]


def line_inbox(connection: redis.Redis) -> UserQueue:
    """The LINE events waiting to be answered, per user (keys ``line:inbox:<user>``, ``line:seen:<event>``)."""
    return UserQueue(connection, "line:inbox", max_attempts=MAX_EVENT_ATTEMPTS, lock_timeout=LOCK_TIMEOUT,
                     dead_kept=DEAD_LETTERS_KEPT, seen_ttl=SEEN_TTL, dead_key=DEAD_LETTERS, seen_prefix="line:seen")


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
    users = list(dict.fromkeys(source_key(event) for event in events))
    waiting = connection.mget([_pending_flag(u) for u in users]) if users else []
    covered = [u for u, flag in zip(users, waiting) if flag]
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        for user in covered:
            pipe.exists(_pending_flag(user))
        for event in events:
            inbox.append(source_key(event), event_id(event), event, pipeline=pipe)
        for user, flag in zip(users, waiting):
            if not flag:
                _enqueue_drain(connection, user, pipe)
        results = pipe.execute()
    missed = [user for user, still in zip(covered, results) if not still]
    if missed:  # rare: those drains started between our two round trips
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            for user in missed:
                _enqueue_drain(connection, user, pipe)
            pipe.execute()
    appended = results[len(covered):len(covered) + len(events)]
    queued = sum(1 for r in appended if r == 1)
    return Accepted(queued=queued, duplicates=len(events) - queued)


def _enqueue_drain(connection: redis.Redis, user: str, pipe) -> None:
    pipe.set(_pending_flag(user), 1, ex=PENDING_TTL)
    enqueue(connection, jobs.drain_inbox, user, queue=LINE_QUEUE, pipeline=pipe,
            description=f"answer LINE events of {mask(user)}", timeout=LOCK_TIMEOUT)


def drain_inbox(connection: redis.Redis, user: str, handle: Callable[[dict], None]) -> int:
    """Handle the user's queued events in order; return how many were handled."""
    # First, before reading the inbox: events accepted from now on queue a new drain.
    connection.delete(_pending_flag(user))
    return line_inbox(connection).drain(user, handle)


def _pending_flag(user: str) -> str:
    return f"line:drain-pending:{user}"
