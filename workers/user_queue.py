"""Per-user ordered queues in Redis: each user's items handled in order, users in parallel, nothing lost.

Used for the LINE inbox (``workers/line/inbox.py``) and the handoff outboxes
(``workers/handoff/store.py``). An item is appended once per id (a redelivered webhook or a
retried turn does not queue it twice) and leaves the list only after it was handled, so a
killed worker loses nothing: the next drain handles it again (handlers are idempotent). One
drain per user at a time (a lock); the others return at once, because the lock holder reaches
their items.

Retries belong to the *item*, not to a job. A failing first item gets a due time (``backoff``
after each failed attempt) in the ``-due`` index, and the drain returns without raising: the
sweeper (``workers/maintenance.py``) starts a new drain when the item is due, and a drain
started earlier (the patient wrote again) sees that the first item is not due and leaves at
once, spending no attempt. So a chatty patient during an outage does not use up the attempts
of their first message in seconds. After ``max_attempts`` (at once for a provider's
"retrying cannot help") the item moves to a dead list, trimmed to ``dead_kept`` entries, and
the drain raises ``ItemsSetAside`` after handling the rest, so the job shows in RQ's failed
registry.

A drain is bounded (``budget_seconds``, or a stop request such as SIGTERM between items): it
then marks the user due now and returns; the caller enqueues the next drain. The lock's
lease (``lock_timeout``) is renewed between items, so a killed worker blocks a user for at
most ``lock_timeout`` before the sweeper hands the user to another drain.

Its Redis keys are listed in ``workers/dead_list.py`` (``QueueKeys``), with its dead list.
"""

from __future__ import annotations

import enum
import json
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import redis
from redis.exceptions import LockError

from bot.privacy import mask
from integrations.errors import ProviderError
from integrations.metrics import ITEM_FAILURES
from workers import lua
from workers.dead_list import DEAD_TTL, ITEM_TTL, DeadItem, DeadList, QueueKeys, fingerprint  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

SEEN_TTL = 7 * 24 * 3600   # longer than any redelivery or retry
DEAD_KEPT = 1000
PENDING_TTL = 600          # a queued drain that never ran (its job lost) is forgotten after this
#: Seconds before the n-th retry of a failing first item (the last value repeats).
DEFAULT_BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900)
OWN_JOB = 2                # queue_append.lua's route: the user needs a drain job of its own


class ItemMustWait(Exception):
    """Raised by a handler: the item may not be handled yet (a cap), and it is no failure. It stays
    first in line, due in ``retry_after`` seconds, and no attempt is counted."""

    def __init__(self, retry_after: float, message: str = "held"):
        super().__init__(message)
        self.retry_after = retry_after


class ItemsSetAside(Exception):
    """Items could not be handled and were set aside in the dead list; raised so the job shows as failed."""


class UserQueue:
    """One named family of per-user ordered queues (see the module docstring)."""

    def __init__(self, connection: redis.Redis, name: str, *, max_attempts: int, lock_timeout: int,
                 backoff: Sequence[int] = DEFAULT_BACKOFF, dead_kept: int = DEAD_KEPT, seen_ttl: int = SEEN_TTL,
                 dead_key: str | None = None, seen_prefix: str | None = None, id_field: str | None = None,
                 clock: Callable[[], float] = time.time):
        """``id_field``: write the item id into each item under this name (for handlers that need it)."""
        self.redis = connection
        self.name = name
        self.keys = QueueKeys(name)
        self.max_attempts = max_attempts
        self.lock_timeout = lock_timeout
        self.backoff = tuple(backoff)
        self.seen_ttl = seen_ttl
        self.dead_key = dead_key or f"{name}:dead"
        self.seen_prefix = seen_prefix or f"{name}:seen"
        self.id_field = id_field
        self.due_key = self.keys.due
        self.ready_key = self.keys.ready
        self.clock = clock
        #: The items given up on: listed, erased and replayed there (``workers/dead_list.py``).
        self.dead = DeadList(connection, self.keys, key=self.dead_key, kept=dead_kept,
                             seen_prefix=self.seen_prefix, seen_ttl=seen_ttl, clock=clock)

    # -- appending ---------------------------------------------------------------------
    def append(self, user: str, item_id: str, item: dict[str, Any], *, pipeline=None) -> bool | None:
        """Queue ``item`` unless an item with this id was queued before; True if queued now.

        With ``pipeline``, the command joins the caller's transaction and its answer
        (1 or 0) is among the transaction's results; None is returned.
        """
        answer = self._append([(user, item_id, item)], pipeline or self.redis)
        return None if pipeline is not None else bool(answer)

    def append_and_route(self, items: Sequence[tuple[str, str, dict[str, Any]]], drains_queue: str,
                         enough: int) -> tuple[int, list[str]]:
        """Queue ``items`` (user, item id, item; in order), each as ``append`` does, and route each user
        who got something new, in one step: a drain is coming (its note is there): nothing; ``enough``
        drain jobs already wait in the RQ queue ``drains_queue``: the note and a place on the ready
        list, as ``mark_ready`` (a waiting job takes the user); else the user is returned, for the
        caller to queue a drain job of its own (with ``mark_drain_queued``). How many were appended,
        and those users."""
        users = list(dict.fromkeys(user for user, _, _ in items))
        appended, routes = self._append(items, self.redis, drains_queue, enough)
        return int(appended), [user for user, route in zip(users, routes) if route == OWN_JOB]

    def _append(self, items: Sequence[tuple[str, str, dict[str, Any]]], client, drains_queue: str | None = None,
                enough: int = 0):
        """Run ``queue_append.lua`` (on a client or in a pipeline); routing only with ``drains_queue``."""
        users = list(dict.fromkeys(user for user, _, _ in items))
        number = {user: n for n, user in enumerate(users, 1)}
        keys = [self.due_key, self.ready_key]
        for user in users:
            keys += [self.keys.items(user), self.keys.pending(user)]
        keys += [f"{self.seen_prefix}:{item_id}" for _, item_id, _ in items]
        if drains_queue is not None:
            keys.append(drains_queue)
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

    # -- draining ----------------------------------------------------------------------
    def drain(self, user: str, handle: Callable[[dict], None],
              on_set_aside: Callable[[dict, Exception], None] | None = None, *,
              budget_seconds: float | None = None, should_stop: Callable[[], bool] | None = None) -> int:
        """Handle the user's due items in order; return how many were handled (see ``_drain``)."""
        run = _Run(handle, on_set_aside, budget_seconds, should_stop)
        self._drain(user, run)
        return run.handled

    def _drain(self, user: str, run: _Run) -> bool:
        """Handle the user's due items in order (counted in ``run``); return whether the user's list was
        found empty at the end (and the user taken out of the due index).

        First of all, the drain-queued note is cleared: items appended from now on queue a new
        drain. A failure that is not (yet) permanent gives the first item its next due time and ends
        the drain quietly (the item stays first in line). ``run.on_set_aside(item, error)`` runs
        before an item is set aside (it must be idempotent: if it fails, the item stays and the error
        propagates). Items set aside raise ``ItemsSetAside`` at the end.
        """
        lock = self.redis.lock(self.keys.lock(user), timeout=self.lock_timeout)
        first = self._start(user, lock)  # the note cleared, the lock taken, the first item read
        end = _End.STOPPED
        while first is not None:  # None: another drain holds the user, and reaches the items
            end = self._drain_locked(user, lock, first, run)
            if end is not _End.LOOK_AGAIN:
                break
            first = self._peek(user) if lock.acquire(blocking=False) else None
        if run.set_aside:
            raise ItemsSetAside(f"{run.set_aside} {self.name} item(s) of {mask(user)} set aside in {self.dead_key}")
        return end is _End.EMPTIED

    def _drain_locked(self, user: str, lock, first: tuple[float | None, bytes | None], run: _Run) -> _End:
        """With the user's lock: handle their items from ``first`` (due time, item) on; the lock is
        released at the end, whatever happens."""
        due, raw = first
        released = False
        try:
            if raw is not None and due is not None and due > self.clock():
                return _End.STOPPED  # waiting out a backoff: the sweeper starts a drain when it is due
            end = self._handle_in_order(user, lock, raw, run)
            if end is _End.LEASE_LOST or end is _End.EMPTIED:  # the lock is no longer ours to release
                released = True
                return _End.EMPTIED if end is _End.EMPTIED else _End.STOPPED
            if end is _End.STOPPED:
                return end
            # The list ran out (after items set aside). Released and checked in one step: an item
            # queued while we held the lock, whose own drain gave up on the lock, is ours to handle.
            released = True
            return _End.EMPTIED if self._release_and_forget(user, lock) else _End.LOOK_AGAIN
        finally:
            if not released:
                try:
                    lock.release()
                except LockError:
                    log.warning("%s lock of %s expired while draining", self.name, mask(user))

    def _handle_in_order(self, user: str, lock, raw: bytes | None, run: _Run) -> _End | None:
        """Handle the first item, then the next, …; None when the list ran out with the lock still held."""
        leased_at = time.monotonic()
        while raw is not None:
            end, raw = self._handle_first(user, lock, raw, run)
            if end is not None:
                return end
            if raw is not None and run.should_yield():
                # Bounded: hand the rest to the next drain (the caller enqueues it).
                self.redis.zadd(self.due_key, {user: self.clock()})
                return _End.STOPPED
            if time.monotonic() - leased_at > self.lock_timeout / 3:
                lock.reacquire()  # renew the lease long before it can lapse
                leased_at = time.monotonic()
        return None

    def _handle_first(self, user: str, lock, raw: bytes, run: _Run) -> tuple[_End | None, bytes | None]:
        """Handle the user's first item (``raw``): (None, the next item) to go on, or how the drain ends."""
        item: Any = None
        try:
            item = json.loads(raw)
            run.handle(item)
        except ItemMustWait as exc:
            self.redis.zadd(self.due_key, {user: self.clock() + max(exc.retry_after, 1)})
            return _End.STOPPED, None
        except Exception as exc:
            if not self._give_up(user, raw, exc):
                return _End.STOPPED, None  # the item stays first in line, due later
            if run.on_set_aside is not None and isinstance(item, dict):
                run.on_set_aside(item, exc)
            self.dead.add(user, raw, exc)
            run.set_aside += 1
            return None, self.redis.lindex(self.keys.items(user), 0)
        run.handled += 1
        mine, next_raw = self._done(user, raw, lock)  # the list empty: released and forgotten
        if not mine:  # the lease lapsed: whoever holds the user now (or the sweeper) goes on
            return _End.LEASE_LOST, None
        return (_End.EMPTIED, None) if next_raw is None else (None, next_raw)

    def drain_and_hand_over(self, user: str, handle: Callable[[dict], None], enqueue_next: Callable[[str], None],
                            on_set_aside: Callable[[dict, Exception], None] | None = None, *,
                            budget_seconds: float | None = None, should_stop: Callable[[], bool] | None = None) -> int:
        """``drain`` within a budget; if items are left that are due now, ``enqueue_next(user)`` queues the
        next drain. (A first item waiting out a backoff is left to the sweeper, at its due time.)"""
        run = _Run(handle, on_set_aside, budget_seconds, should_stop)
        try:
            emptied = self._drain(user, run)
        except ItemsSetAside:
            if self.due_now(user):
                enqueue_next(user)
            raise
        # Found empty: whatever is appended from then on comes with a drain of its own (the note
        # was cleared as this drain started), so there is nothing to look at.
        if not emptied and self.due_now(user):
            enqueue_next(user)
        return run.handled

    # -- internals -------------------------------------------------------------------
    def _start(self, user: str, lock) -> tuple[float | None, bytes | None] | None:
        """A drain's first round trip: clear the drain-queued note, take the lock, and read the
        user's due time and first item (None: another drain holds the user). The lock is redis-py's,
        given the token it would have set itself, so that its renewal and release work as usual."""
        token = uuid.uuid4().hex.encode()
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.pending(user))
        pipe.set(self.keys.lock(user), token, nx=True, px=int(self.lock_timeout * 1000))
        pipe.zscore(self.due_key, user)
        pipe.lindex(self.keys.items(user), 0)
        _, taken, due, raw = pipe.execute()
        if not taken:
            return None
        lock.local.token = token
        return due, raw

    def _peek(self, user: str) -> tuple[float | None, bytes | None]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(self.due_key, user)
        pipe.lindex(self.keys.items(user), 0)
        due, raw = pipe.execute()
        return due, raw

    def _done(self, user: str, raw: bytes, lock) -> tuple[bool, bytes | None]:
        """The handled first item off the list: (True, the next one), (True, None) when the list is
        empty (the lock then released and the user forgotten, in the same step), or (False, None)
        when the lock is no longer ours: the drain stops (see ``workers/lua/queue_done.lua``)."""
        keys = [self.keys.items(user), self.keys.attempts(user), self.keys.lock(user), self.due_key]
        next_item, mine = lua.run(self.redis, "queue_done", keys=keys,
                                  args=[fingerprint(raw), lock.local.token, user, raw])
        if not mine:
            log.warning("%s lock of %s expired while draining", self.name, mask(user))
        if next_item is None:
            lock.local.token = None
        return bool(mine), next_item

    def _release_and_forget(self, user: str, lock) -> bool:
        """Release the lock and, if the list is empty, forget the user, in one step; whether it was."""
        keys = [self.keys.lock(user), self.keys.items(user), self.due_key, self.keys.attempts(user)]
        mine, forgot = lua.run(self.redis, "queue_release", keys=keys, args=[lock.local.token, user])
        lock.local.token = None
        if not mine:
            log.warning("%s lock of %s expired while draining", self.name, mask(user))
        return bool(forgot)

    def retry_delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt of an item."""
        return self.backoff[min(attempts, len(self.backoff)) - 1]

    def _give_up(self, user: str, raw: bytes, exc: Exception) -> bool:
        """Whether to set the failing first item aside: retrying cannot or did not help.
        Otherwise the item gets its next due time.

        Only a provider's clear "your request is wrong" is permanent at once. Anything
        else (a provider outage, a Redis blip, a job timeout, a bug) gets the full
        ``max_attempts`` first: setting aside loses the item from the user's sequence.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.keys.attempts(user), fingerprint(raw), 1)
        pipe.expire(self.keys.attempts(user), self.seen_ttl)
        attempts = pipe.execute()[0]
        permanent = isinstance(exc, ProviderError) and not exc.retryable
        # Provider errors are written to be log-safe; other exceptions' messages may quote the
        # patient's text (e.g. a validation error), so only their type (and stack) is logged.
        safe = str(exc) if isinstance(exc, ProviderError) else type(exc).__name__
        if not permanent and attempts < self.max_attempts:
            ITEM_FAILURES.labels(self.name).inc()
            delay = self.retry_delay(attempts)
            self.redis.zadd(self.due_key, {user: self.clock() + delay})
            log.warning("%s item of %s failed (attempt %d of %d), next try in %d s: %s", self.name, mask(user),
                        attempts, self.max_attempts, delay, safe)
            return False
        stack = "" if isinstance(exc, ProviderError) else "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s item of %s set aside after %d attempt(s): %s: %s%s", self.name, mask(user), attempts,
                  type(exc).__name__, safe, f"\n{stack}" if stack else "")
        return True


class _End(enum.Enum):
    """How a drain's work on a user ended."""

    STOPPED = "the rest waits: a backoff, a cap, the budget, or another drain took the user over"
    EMPTIED = "the list was found empty: the lock released and the user forgotten"
    LEASE_LOST = "the lock lapsed while an item was handled"
    LOOK_AGAIN = "the lock released, but an item came meanwhile"


@dataclass
class _Run:
    """One drain: what it does with each item, its bounds, and what it has done so far."""

    handle: Callable[[dict], None]
    on_set_aside: Callable[[dict, Exception], None] | None = None
    budget_seconds: float | None = None
    should_stop: Callable[[], bool] | None = None
    started: float = field(default_factory=lambda: time.monotonic())  # looked up late: tests replace it
    handled: int = 0
    set_aside: int = 0

    def should_yield(self) -> bool:
        """Whether to hand the rest to the next drain (a stop request, or the budget spent)."""
        if self.should_stop is not None and self.should_stop():
            return True
        return self.budget_seconds is not None and time.monotonic() - self.started >= self.budget_seconds
