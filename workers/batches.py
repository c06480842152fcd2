"""Batches of users per drain job, shared by the LINE inbox and the LiveDesk mirror.

RQ's own work per job (building, queueing, fetching, finishing it) costs about as much as
answering an event. Under a backlog, a user who needs a drain is therefore put on their
queue's ready list (``UserQueue.mark_ready``) instead of getting a job of their own, and every
drain job, after its own user, takes users from that list (``drain_batch``, given the family's
``UserDrains``).

Who decides between a job and the ready list needs to know how many drain jobs wait to start.
The LINE inbox has a RQ queue of its own (``line``, drain jobs only), so its length is that
count. A family whose drain jobs share a queue with other jobs keeps a count of its own:
``QueuedDrains``, a sorted set of its queued drain jobs' ids scored with their enqueue time,
added in the enqueue's transaction and removed as the job starts. An entry older than
``DRAIN_LOST_AFTER`` is not counted: its job may be lost with a killed worker (or sits behind a
long queue); the sweeper starts drains for the users its notes left waiting, and new users get
jobs of their own again.

With several hospitals, both kinds judge "behind" for the deployment: once one of a hospital's
drains of a kind waits, the other hospitals' waiting drains of that kind count too (the inbox's
queue lengths, the mirror's ``QueuedDrains``), so a deployment behind as a whole batches each
hospital's users instead of each starting jobs for a few. Only a hospital's own drains take its
ready list: one with none waiting always gets a job.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol, Sequence

import redis

from workers import lua
from workers.user_queue import PENDING_TTL, ItemsSetAside, UserQueue

log = logging.getLogger(__name__)

#: A drain queued this long ago that has not started is taken to be lost (its job gone): the
#: sweeper (``workers/maintenance.py``) starts another.
DRAIN_LOST_AFTER = 30


class QueuedDrains:
    """The drain jobs of one family queued and not started yet (key ``<key>``: job id -> enqueued at)."""

    def __init__(self, connection: redis.Redis, key: str, clock: Callable[[], float] = time.time):
        self.redis = connection
        self.key = key
        self.clock = clock

    def add(self, job_id: str, pipeline) -> None:
        """In the caller's transaction with the job: note it, and forget entries too old to count."""
        now = self.clock()
        pipeline.zadd(self.key, {job_id: now})
        pipeline.zremrangebyscore(self.key, "-inf", now - DRAIN_LOST_AFTER)
        pipeline.expire(self.key, PENDING_TTL)

    def count(self, pipeline) -> None:
        """In the caller's pipeline: how many recent drain jobs wait (a number among its results)."""
        pipeline.zcount(self.key, self.clock() - DRAIN_LOST_AFTER, "+inf")

    def count_with(self, elsewhere: Sequence[str], pipeline) -> None:
        """In the caller's pipeline, as ``count``, and with the other hospitals' (``elsewhere``: their
        keys of this family): ``[this hospital's, every hospital's]`` among its results."""
        lua.run(pipeline, "drains_waiting", [self.key, *elsewhere], [self.clock() - DRAIN_LOST_AFTER])

    def started(self, job_id: str) -> None:
        """The job starts: it no longer waits (a user put on the ready list from now on may be too
        late for it, and is given a job instead)."""
        self.redis.zrem(self.key, job_id)


class UserDrains(Protocol):
    """One family's drain of one user, as a batch job runs it (the LINE inbox's, the mirror's)."""

    def drain_user(self, user: str, seconds_left: float) -> int:
        """Drain ``user`` within the time left (``UserQueue.drain_and_hand_over``: a user it leaves
        unfinished gets a drain of their own); how many items were handled."""

    def hand_over(self, user: str) -> None:
        """Queue a drain job for ``user`` (who then takes the rest of the ready list)."""


def drain_batch(queue: UserQueue, user: str, drains: UserDrains, *, budget: float, batch_users: int,
                should_stop: Callable[[], bool] | None = None) -> int:
    """Drain ``user``, then users taken from the ready list, one after the other; return how many
    items were handled.

    It stops when the list is empty, ``batch_users`` were taken from it, the budget is spent or
    ``should_stop()``; stopped early (or failing), it hands the list over to a new drain (for the
    user longest on it, whose drain then takes the rest). Items set aside (``ItemsSetAside``) for
    one user do not stop the batch: they are reported after it."""
    started = time.monotonic()
    handled, taken, set_aside = 0, 0, []
    current: str | None = user
    try:
        while current is not None:
            try:
                handled += drains.drain_user(current, budget - (time.monotonic() - started))
            except ItemsSetAside as exc:
                set_aside.append(str(exc))
            taken += 1
            if taken > batch_users or time.monotonic() - started >= budget or (should_stop and should_stop()):
                break
            current = queue.take_ready()
    finally:
        if current is not None:  # stopped early, or failed: whoever waits on the list gets a drain job
            _hand_over_ready(queue, drains)
    if set_aside:
        raise ItemsSetAside("; ".join(set_aside))
    return handled


def _hand_over_ready(queue: UserQueue, drains: UserDrains) -> None:
    try:
        waiting = queue.take_ready()
        if waiting is not None:
            drains.hand_over(waiting)
    except Exception:  # Redis failing too: the sweeper starts the drains (their notes grow old)
        log.warning("could not hand the %s ready list over to a new drain", queue.name, exc_info=True)
