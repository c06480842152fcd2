"""Per-user ordered queues in Redis: each user's items handled in order, users in parallel, nothing lost.

Used for the LINE inbox (``workers/line/inbox.py``) and the handoff outboxes
(``workers/handoff/store.py``). An item is appended once per id (a redelivered webhook or a
retried turn does not queue it twice) and leaves the list only after it was handled, so a
killed worker loses nothing: the next drain handles it again (handlers are idempotent). One
drain per user at a time (a lock); the others return at once, because the lock holder reaches
their items.

How the items are drained (the lock, retries, the dead list, a drain's bounds) is
``Drainer``'s, in ``workers/drain.py``; a ``UserQueue`` holds one, as it holds its ``DeadList``.

Its Redis keys are listed in ``workers/dead_list.py`` (``QueueKeys``), with its dead list.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Sequence

import redis

from workers import lua
from workers.dead_list import DEAD_TTL, ITEM_TTL, DeadItem, DeadList, QueueKeys  # noqa: F401 (re-exported)
from workers.drain import Drainer, ItemMustWait, ItemsSetAside  # noqa: F401 (re-exported: handlers raise them)

SEEN_TTL = 7 * 24 * 3600   # longer than any redelivery or retry
DEAD_KEPT = 1000
PENDING_TTL = 600          # a queued drain that never ran (its job lost) is forgotten after this
#: Seconds before the n-th retry of a failing first item (the last value repeats).
DEFAULT_BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900)
OWN_JOB = 2                # queue_append.lua's route: the user needs a drain job of its own


class UserQueue:
    """One named family of per-user ordered queues (see the module docstring)."""

    def __init__(self, connection: redis.Redis, name: str, *, max_attempts: int, lock_timeout: int,
                 backoff: Sequence[int] = DEFAULT_BACKOFF, dead_kept: int = DEAD_KEPT, seen_ttl: int = SEEN_TTL,
                 dead_key: str | None = None, seen_prefix: str | None = None, id_field: str | None = None,
                 prefix: str = "", clock: Callable[[], float] = time.time):
        """``id_field``: write the item id into each item under this name (for handlers that need it).
        ``prefix``: the hospital's, before every key (``dead_key`` and ``seen_prefix`` too)."""
        self.redis = connection
        self.name = name
        self.keys = QueueKeys(name, prefix)
        self.max_attempts = max_attempts
        self.lock_timeout = lock_timeout
        self.backoff = tuple(backoff)
        self.seen_ttl = seen_ttl
        self.dead_key = prefix + (dead_key or f"{name}:dead")
        self.seen_prefix = prefix + (seen_prefix or f"{name}:seen")
        self.id_field = id_field
        self.due_key = self.keys.due
        self.ready_key = self.keys.ready
        self.clock = clock
        #: The items given up on: listed, erased and replayed there (``workers/dead_list.py``).
        self.dead = DeadList(connection, self.keys, key=self.dead_key, kept=dead_kept,
                             seen_prefix=self.seen_prefix, seen_ttl=seen_ttl, clock=clock)
        #: Drains the users' items in order (``workers/drain.py``).
        self.drainer = Drainer(connection, self.keys, self.dead, max_attempts=max_attempts, lock_timeout=lock_timeout,
                               backoff=self.backoff, seen_ttl=seen_ttl, clock=clock)

    # -- appending ---------------------------------------------------------------------
    def append(self, user: str, item_id: str, item: dict[str, Any], *, pipeline=None) -> bool | None:
        """Queue ``item`` unless an item with this id was queued before; True if queued now.

        With ``pipeline``, the command joins the caller's transaction and its answer
        (1 or 0) is among the transaction's results; None is returned.
        """
        answer = self._append([(user, item_id, item)], pipeline or self.redis)
        return None if pipeline is not None else bool(answer)

    def append_and_route(self, items: Sequence[tuple[str, str, dict[str, Any]]], drains_queue: str,
                         enough: int, elsewhere: Sequence[str] = ()) -> tuple[int, list[str]]:
        """Queue ``items`` (user, item id, item; in order), each as ``append`` does, and route each user
        who got something new, in one step: a drain is coming (its note is there): nothing; ``enough``
        drain jobs already wait in the RQ queue ``drains_queue``: the note and a place on the ready
        list, as ``mark_ready`` (a waiting job takes the user); else the user is returned, for the
        caller to queue a drain job of its own (with ``mark_drain_queued``). ``elsewhere``: the other
        hospitals' drain queues, whose waiting jobs count too once one of ``drains_queue`` waits. How
        many were appended, and those users."""
        users = list(dict.fromkeys(user for user, _, _ in items))
        appended, routes = self._append(items, self.redis, drains_queue, enough, elsewhere)
        return int(appended), [user for user, route in zip(users, routes) if route == OWN_JOB]

    def _append(self, items: Sequence[tuple[str, str, dict[str, Any]]], client, drains_queue: str | None = None,
                enough: int = 0, elsewhere: Sequence[str] = ()):
        """Run ``queue_append.lua`` (on a client or in a pipeline); routing only with ``drains_queue``."""
        users = list(dict.fromkeys(user for user, _, _ in items))
        number = {user: n for n, user in enumerate(users, 1)}
        keys = [self.due_key, self.ready_key]
        for user in users:
            keys += [self.keys.items(user), self.keys.pending(user)]
        keys += [f"{self.seen_prefix}:{item_id}" for _, item_id, _ in items]
        if drains_queue is not None:
            keys += [drains_queue, *elsewhere]
        args: list = [self.seen_ttl, ITEM_TTL, self.clock(), PENDING_TTL, enough, len(users), *users]
        for user, item_id, item in items:
            payload = {**item, self.id_field: item_id} if self.id_field else item
            args += [number[user], json.dumps(payload, ensure_ascii=False, separators=(",", ":"))]
        return lua.run(client, "queue_append", keys=keys, args=args)

    def seen(self, item_id: str) -> bool:
        """Whether an item with this id was appended (within ``seen_ttl``)."""
        return bool(self.redis.exists(f"{self.seen_prefix}:{item_id}"))

    def pending(self, user: str) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.keys.items(user), 0, -1)]

    def has_pending(self, user: str) -> bool:
        return bool(self.length(user))

    def length(self, user: str) -> int:
        """How many of the user's items wait."""
        return self.redis.llen(self.keys.items(user))

    def user_keys(self, user: str) -> list[str]:
        """The keys that hold what waits for ``user`` (their items, attempts and drain-queued note), for
        a data subject's erasure; ``forget_user`` takes the user off the due index and the ready list."""
        return [self.keys.items(user), self.keys.attempts(user), self.keys.pending(user)]

    def forget_user(self, user: str) -> None:
        """Take the user off the due index and the ready list (their keys are the caller's to delete)."""
        self.redis.zrem(self.due_key, user)
        self.redis.lrem(self.ready_key, 0, user)

    # -- who needs a drain -------------------------------------------------------------
    def due_users(self, now: float, limit: int = 500) -> list[str]:
        """Users whose first item is due at ``now`` (oldest due first)."""
        return [u.decode() if isinstance(u, bytes) else u
                for u in self.redis.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit)]

    def due_now(self, user: str) -> bool:
        """Whether the user has items and the first is due (a drain should run now)."""
        score = self.redis.zscore(self.due_key, user)
        return score is not None and score <= self.clock()

    def mark_drain_queued(self, user: str, pipeline) -> None:
        """Note, in the caller's transaction with the job, that a drain for ``user`` is queued."""
        pipeline.set(self.keys.pending(user), self.clock(), ex=PENDING_TTL)

    def mark_ready(self, user: str, pipeline) -> None:
        """In the caller's transaction: the drain-queued note, and ``user`` at the end of the ready list,
        for a drain job that takes users from it (``take_ready``) instead of a job of the user's own."""
        self.mark_drain_queued(user, pipeline)
        pipeline.rpush(self.ready_key, user)
        pipeline.expire(self.ready_key, PENDING_TTL)

    def take_ready(self) -> str | None:
        """The user longest on the ready list, taken off it (None: it is empty)."""
        user = self.redis.lpop(self.ready_key)
        return user.decode() if isinstance(user, bytes) else user

    def drain_note(self, user: str, pipeline) -> None:
        """In the caller's pipeline: when a drain was queued (None: none is known to be), as
        ``drain_queued_since`` answers, among its results."""
        pipeline.get(self.keys.pending(user))

    def still_queued(self, user: str, pipeline) -> None:
        """In the caller's transaction: whether the drain-queued note is still there (1 or 0 among
        the results). A drain clears it as it starts, so 0 means items appended in this transaction
        may have come too late for it."""
        pipeline.exists(self.keys.pending(user))

    def drain_queued_since(self, users: Sequence[str]) -> list[float | None]:
        """When a drain was queued for each user (None: none is known to be queued)."""
        return [float(v) if v is not None else None for v in self.redis.mget([self.keys.pending(u) for u in users])] \
            if users else []

    def draining(self, users: Sequence[str]) -> list[bool]:
        """Whether a drain holds each user's lock now."""
        if not users:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.exists(self.keys.lock(user))
        return [bool(found) for found in pipe.execute()]

    # -- draining (the loop is ``Drainer``'s, in ``workers/drain.py``) --------------------
    def drain(self, user: str, handle: Callable[[dict], None],
              on_set_aside: Callable[[dict, Exception], None] | None = None, *,
              budget_seconds: float | None = None, should_stop: Callable[[], bool] | None = None) -> int:
        """Handle the user's due items in order; return how many were handled (``Drainer.run``)."""
        handled, _ = self.drainer.run(user, handle, on_set_aside, budget_seconds=budget_seconds,
                                      should_stop=should_stop)
        return handled

    def drain_and_hand_over(self, user: str, handle: Callable[[dict], None], enqueue_next: Callable[[str], None],
                            on_set_aside: Callable[[dict, Exception], None] | None = None, *,
                            budget_seconds: float | None = None, should_stop: Callable[[], bool] | None = None) -> int:
        """``drain`` within a budget; if items are left that are due now, ``enqueue_next(user)`` queues the
        next drain. (A first item waiting out a backoff is left to the sweeper, at its due time.)"""
        try:
            handled, emptied = self.drainer.run(user, handle, on_set_aside, budget_seconds=budget_seconds,
                                                should_stop=should_stop)
        except ItemsSetAside:
            if self.due_now(user):
                enqueue_next(user)
            raise
        # Found empty: whatever is appended from then on comes with a drain of its own (the note
        # was cleared as this drain started), so there is nothing to look at.
        if not emptied and self.due_now(user):
            enqueue_next(user)
        return handled

    def retry_delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt of an item."""
        return self.drainer.retry_delay(attempts)
