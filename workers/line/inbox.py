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

Batches: RQ's own work per job costs about as much as answering an event. When
``ENOUGH_QUEUED_DRAINS`` drain jobs already wait (a backlog), a user who needs a drain
gets no job of their own: the webhook puts them on the ready list
(``line:inbox-ready``), and every drain job, after its own user, takes users from that
list (oldest first) until it is empty, ``BATCH_USERS`` were taken or the budget is
spent, and then queues a drain for the next one. The webhook checks, in the transaction
that puts a user on the list, that a drain job is still waiting to start; if none is
(they all started in between), it queues one. The drain-queued note is set as for a job
of the user's own, so the sweeper's view is unchanged: a user left on the list by a
drain that died is started again once the note is ``DRAIN_LOST_AFTER`` old.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable

import redis

from bot.privacy import mask
from workers.batches import drain_batch
from workers.line import jobs
from workers.queues import LINE_QUEUE, enqueue, get_queue
from workers.user_queue import UserQueue

log = logging.getLogger(__name__)

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
#: Retries of an event that keeps failing: its first try, then these waits (about an hour
#: in all), so that a LINE outage of that length loses no answer.
EVENT_BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900, 900, 900)
MAX_EVENT_ATTEMPTS = len(EVENT_BACKOFF) + 1
DRAIN_BUDGET = 20                 # seconds one drain job works before it hands over to the next
LOCK_TIMEOUT = 30                 # a killed drain blocks its user this long at most (renewed while alive)
JOB_TIMEOUT = 90                  # budget + one slow event, with room
#: Drain jobs waiting to start beyond which a user who needs a drain is put on the ready list
#: instead of getting a job (more than there are worker processes, so that none idles).
ENOUGH_QUEUED_DRAINS = 4
BATCH_USERS = 100                 # users one drain job takes from the ready list at most
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

    Two round trips: read which users have a drain coming and how many drain jobs
    wait, then one transaction with the seen-checks and appends, a drain job (or,
    under a backlog, a place on the ready list) for each user without one, and for
    the others a re-check that their drain is still coming, taken atomically with
    the appends. A drain that started in between (it clears its flag first) may
    miss the new events, so those users get a new drain in a third step; so does
    the ready list if no drain job waits any more. (A user whose events were all
    duplicates may still get a drain; it then finds nothing.)
    """
    inbox = line_inbox(connection)
    received = round(time.time(), 3)
    users = list(dict.fromkeys(source_key(event) for event in events))
    queue_key = get_queue(connection, LINE_QUEUE).key
    with connection.pipeline(transaction=False) as reads:
        reads.mget([inbox._pending(user) for user in users])
        reads.llen(queue_key)
        waiting, queued_jobs = reads.execute()
    covered = [u for u, flag in zip(users, waiting) if flag is not None]
    fresh = [u for u, flag in zip(users, waiting) if flag is None]
    own_job = fresh[:max(0, ENOUGH_QUEUED_DRAINS - queued_jobs)]
    readied = fresh[len(own_job):]
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        for user in covered:
            pipe.exists(inbox._pending(user))
        for event in events:
            inbox.append(source_key(event), event_id(event), {**event, RECEIVED_AT: received}, pipeline=pipe)
        for user in own_job:
            _enqueue_drain(connection, inbox, user, pipe)
        for user in readied:
            inbox.mark_ready(user, pipe)
        if readied:
            pipe.llen(queue_key)
        results = pipe.execute()
    missed = [user for user, still in zip(covered, results) if not still]
    if readied and not results[-1]:  # rare: the waiting drain jobs all started in between
        missed.append(readied[0])     # its drain takes the others from the ready list
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
    """Handle the user's queued events in order, then those of users on the ready list, one user
    after the other (``workers/batches.py``); return how many events were handled. A drain that
    ran out of time (or was asked to stop) queues the next one, for its user and for the ready
    list; a failing event waits for the sweeper, at its due time. Items set aside
    (``ItemsSetAside``) are reported after the whole batch."""
    inbox = line_inbox(connection)
    hand_over = functools.partial(enqueue_drain, connection)
    return drain_batch(
        inbox, user,
        lambda current, left: inbox.drain_and_hand_over(current, handle, hand_over, budget_seconds=left,
                                                        should_stop=should_stop),
        hand_over, budget=DRAIN_BUDGET, batch_users=BATCH_USERS, should_stop=should_stop)
