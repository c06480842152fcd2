"""Per-user inboxes: LINE events are answered in the order LINE sent them, users in parallel.

The webhook appends each new event to its user's inbox (skipping any
``webhookEventId`` it has seen) and enqueues a drain job for that user, all in
one transaction. The inbox is a ``UserQueue`` (``workers/user_queue.py``): one
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
from workers.queues import LINE_QUEUE, enqueue
from workers.user_queue import UserQueue

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
MAX_EVENT_ATTEMPTS = 6
LOCK_TIMEOUT = 120                # longer than one event's handling, shorter than a drain job's patience
DEAD_LETTERS = "line:dead-events"
DEAD_LETTERS_KEPT = 1000

# The old name, still used by workers/line_jobs.py: the same exception as every user queue's.


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

    One atomic round trip to Redis for the whole webhook: the seen-checks, the
    appends and the drain jobs commit together, so no event can be queued
    without a job to handle it. A drain job is enqueued per user even when all
    of that user's events were duplicates (rare; the drain then finds nothing).
    """
    inbox = line_inbox(connection)
    users: list[str] = []
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        for event in events:
            user = source_key(event)
            inbox.append(user, event_id(event), event, pipeline=pipe)
            if user not in users:
                users.append(user)
        for user in users:
            enqueue(connection, "workers.line_jobs.drain_inbox", user, queue=LINE_QUEUE, pipeline=pipe,
                    description=f"answer LINE events of {mask(user)}", timeout=LOCK_TIMEOUT)
        results = pipe.execute()
    queued = sum(1 for r in results[:len(events)] if r == 1)
    return Accepted(queued=queued, duplicates=len(events) - queued)


def drain_inbox(connection: redis.Redis, user: str, handle: Callable[[dict], None]) -> int:
    """Handle the user's queued events in order; return how many were handled."""
    return line_inbox(connection).drain(user, handle)
