"""Per-user inboxes: LINE events are answered in the order LINE sent them, users in parallel.

The webhook appends each new event to its user's inbox (skipping any
``webhookEventId`` it has seen) and, unless a drain job for that user is
already waiting to start, enqueues one (``accept_events``: one Lua script, and
a transaction for the job only when one is needed).

Coalescing: a patient often sends several short messages in a row, and a
backlog makes every user's events pile up; one drain handles them all, so
queueing a job per event would only add RQ's per-job cost. The inbox's
drain-queued note (``line:inbox-pending:<user>``) is set with the job, in the
same transaction, and the drain clears it as its first step, before it reads
the inbox: an event appended by a script that still sees the note is sure to be
read by the waiting drain.

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
spent, and then queues a drain for the next one. The webhook counts the waiting jobs in
the script that puts a user on the list, so a job is sure to be waiting for the list. Under
a backlog the webhook thus costs one Redis round trip. The drain-queued note is set as for a job
of the user's own, so the sweeper's view is unchanged: a user left on the list by a
drain that died is started again once the note is ``DRAIN_LOST_AFTER`` old.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import redis

from bot.privacy import mask
from bot.turn import RECEIVED_AT, event_id, source_key  # noqa: F401 (re-exported)
from workers import job_names
from workers.batches import drain_batch
from workers.queues import LINE_QUEUE, enqueue, queue_key
from workers.user_queue import UserQueue

log = logging.getLogger(__name__)

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
#: An event older than this is refused (logged, counted, 200 to LINE, nothing sent): its "seen"
#: marker may have expired, so a captured body sent again after the window would be answered
#: again. LINE publishes no redelivery period (its documents say only that redelivery stops at some
#: point, and that a bot server failing to receive webhooks for long may be cut off): six days is
#: the longest the markers can cover, a day below their week for clocks that disagree.
MAX_EVENT_AGE = SEEN_TTL - 24 * 3600
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


@dataclass
class Accepted:
    queued: int = 0
    duplicates: int = 0
    too_old: int = 0   # refused: older than MAX_EVENT_AGE, or without a timestamp to tell


def line_inbox(connection: redis.Redis, clock: Callable[[], float] = time.time, *, prefix: str = "") -> UserQueue:
    """The LINE events waiting to be answered, per user (keys ``<prefix>line:inbox:<user>``,
    ``<prefix>line:seen:<event>``)."""
    return UserQueue(connection, "line:inbox", max_attempts=MAX_EVENT_ATTEMPTS, lock_timeout=LOCK_TIMEOUT,
                     backoff=EVENT_BACKOFF, dead_kept=DEAD_LETTERS_KEPT, seen_ttl=SEEN_TTL, dead_key=DEAD_LETTERS,
                     seen_prefix="line:seen", prefix=prefix, clock=clock)


def too_old(event: dict, now: float) -> bool:
    """Whether ``event`` is older than the de-duplication window (``MAX_EVENT_AGE``), or has no
    ``timestamp`` (LINE's milliseconds) to tell its age by."""
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp != stamp:  # NaN
        return True
    return now - stamp / 1000 > MAX_EVENT_AGE


def refuse_old(events: list[dict], now: float) -> tuple[list[dict], int]:
    """The events young enough to be judged by their "seen" markers, and how many were too old
    (each logged, masked)."""
    fresh = []
    for event in events:
        if too_old(event, now):
            log.warning("LINE event %s of %s refused: older than %d days (the de-duplication window) or without "
                        "a timestamp; not answered", mask(event_id(event)), mask(source_key(event)),
                        MAX_EVENT_AGE // 86400)
        else:
            fresh.append(event)
    return fresh, len(events) - len(fresh)


def accept_events(connection: redis.Redis, events: list[dict], *, prefix: str = "",
                  other_prefixes: Sequence[str] = ()) -> Accepted:
    """Queue new events for their users' drains; skip ones already seen and ones too old for the
    "seen" markers to judge (``refuse_old``). No outbound HTTP.

    One round trip (``UserQueue.append_and_route``) appends the new events and, for each user with a new one,
    finds a drain coming, or under a backlog puts the user on the ready list. Only a user
    who needs a job of their own (fewer than ``ENOUGH_QUEUED_DRAINS`` wait: the service is
    not behind) costs a second one, the job and its note in one transaction. ``other_prefixes``: the
    other hospitals' (``Services.other_prefixes``), whose waiting drain jobs count too once one of this
    hospital's waits: a deployment behind as a whole batches each hospital's patients. If that step
    is lost (the process killed in between), the events are in the inbox and the due
    index without a note: the sweeper starts their drain within ``SWEEP_INTERVAL``.
    """
    now = time.time()
    events, old = refuse_old(events, now)
    if not events:
        return Accepted(too_old=old)
    inbox = line_inbox(connection, prefix=prefix)
    received = round(now, 3)
    queued, own_job = inbox.append_and_route(
        [(source_key(event), event_id(event), {**event, RECEIVED_AT: received}) for event in events],
        queue_key(LINE_QUEUE, prefix=prefix), ENOUGH_QUEUED_DRAINS,
        [queue_key(LINE_QUEUE, prefix=other) for other in other_prefixes])
    if own_job:
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()  # explicit, so that RQ adds its commands to this transaction
            for user in own_job:
                _enqueue_drain(connection, inbox, user, pipe, prefix)
            pipe.execute()
    return Accepted(queued=queued, duplicates=len(events) - queued, too_old=old)


def enqueue_drain(connection: redis.Redis, user: str, *, prefix: str = "") -> None:
    """Queue a drain of the user's inbox (the sweeper's and a bounded drain's way to hand over)."""
    inbox = line_inbox(connection, prefix=prefix)
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()
        _enqueue_drain(connection, inbox, user, pipe, prefix)
        pipe.execute()


def _enqueue_drain(connection: redis.Redis, inbox: UserQueue, user: str, pipe, prefix: str) -> None:
    inbox.mark_drain_queued(user, pipe)
    # No RQ retry: a failing event is retried on its own backoff (the sweeper starts its drain).
    enqueue(connection, job_names.LINE_DRAIN_INBOX, user, queue=LINE_QUEUE, pipeline=pipe, retry=None,
            description=f"answer LINE events of {mask(user)}", timeout=JOB_TIMEOUT, prefix=prefix)


def drain_inbox(connection: redis.Redis, user: str, handle: Callable[[dict], None],
                should_stop: Callable[[], bool] | None = None, *, prefix: str = "") -> int:
    """Handle the user's queued events in order, then those of users on the ready list, one user
    after the other (``workers/batches.py``); return how many events were handled. A drain that
    ran out of time (or was asked to stop) queues the next one, for its user and for the ready
    list; a failing event waits for the sweeper, at its due time. Items set aside
    (``ItemsSetAside``) are reported after the whole batch."""
    inbox = line_inbox(connection, prefix=prefix)
    return drain_batch(inbox, user, InboxDrains(connection, inbox, handle, should_stop, prefix), budget=DRAIN_BUDGET,
                       batch_users=BATCH_USERS, should_stop=should_stop)


class InboxDrains:
    """The inbox's drain of one user within a batch (``workers.batches.UserDrains``)."""

    def __init__(self, connection: redis.Redis, inbox: UserQueue, handle: Callable[[dict], None],
                 should_stop: Callable[[], bool] | None, prefix: str = ""):
        self.redis = connection
        self.prefix = prefix
        self.inbox = inbox
        self.handle = handle  # one queued event (``LineEventHandler.handle``)
        self.should_stop = should_stop

    def drain_user(self, user: str, seconds_left: float) -> int:
        return self.inbox.drain_and_hand_over(user, self.handle, self.hand_over, budget_seconds=seconds_left,
                                              should_stop=self.should_stop)

    def hand_over(self, user: str) -> None:
        enqueue_drain(self.redis, user, prefix=self.prefix)
