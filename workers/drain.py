"""The drain of a user's queue: take the user's lock, handle their items in order, retry a failing
first item later, and set aside what retrying cannot help.

``UserQueue`` (``workers/user_queue.py``) keeps what is stored and holds a ``Drainer`` for this loop;
callers drain through ``UserQueue.drain`` and ``UserQueue.drain_and_hand_over``.

Retries belong to the *item*, not to a job. A failing first item gets a due time (``backoff``
after each failed attempt) in the ``-due`` index, and the drain returns without raising: the
sweeper (``workers/maintenance.py``) starts a new drain when the item is due, and a drain
started earlier (the patient wrote again) sees that the first item is not due and leaves at
once, spending no attempt. So a chatty patient during an outage does not use up the attempts
of their first message in seconds. After ``max_attempts`` (at once for a provider's
"retrying cannot help") the item moves to the dead list, and the drain raises ``ItemsSetAside``
after handling the rest, so the job shows in RQ's failed registry.

A drain is bounded (``budget_seconds``, or a stop request such as SIGTERM between items): it
then marks the user due now and returns; the caller enqueues the next drain. The lock's
lease (``lock_timeout``) is renewed between items, so a killed worker blocks a user for at
most ``lock_timeout`` before the sweeper hands the user to another drain.
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
from workers.dead_list import DeadList, QueueKeys, fingerprint

log = logging.getLogger(__name__)


class ItemMustWait(Exception):
    """Raised by a handler: the item may not be handled yet (a cap), and it is no failure. It stays
    first in line, due in ``retry_after`` seconds, and no attempt is counted."""

    def __init__(self, retry_after: float, message: str = "held"):
        super().__init__(message)
        self.retry_after = retry_after


class ItemsSetAside(Exception):
    """Items could not be handled and were set aside in the dead list; raised so the job shows as failed."""


class Drainer:
    """Drains the users of one family of per-user queues (see the module docstring)."""

    def __init__(self, connection: redis.Redis, keys: QueueKeys, dead: DeadList, *, max_attempts: int,
                 lock_timeout: int, backoff: Sequence[int], seen_ttl: int, clock: Callable[[], float]):
        self.redis = connection
        self.name = keys.name
        self.keys = keys
        self.dead = dead
        self.max_attempts = max_attempts
        self.lock_timeout = lock_timeout
        self.backoff = tuple(backoff)
        self.seen_ttl = seen_ttl
        self.clock = clock

    def run(self, user: str, handle: Callable[[dict], None],
            on_set_aside: Callable[[dict, Exception], None] | None = None, *,
            budget_seconds: float | None = None, should_stop: Callable[[], bool] | None = None) -> tuple[int, bool]:
        """Handle the user's due items in order: how many were handled, and whether the user's list
        was found empty at the end (and the user taken out of the due index).

        First of all, the drain-queued note is cleared: items appended from now on queue a new
        drain. A failure that is not (yet) permanent gives the first item its next due time and ends
        the drain quietly (the item stays first in line). ``on_set_aside(item, error)`` runs
        before an item is set aside (it must be idempotent: if it fails, the item stays and the error
        propagates). Items set aside raise ``ItemsSetAside`` at the end.
        """
        run = _Run(handle, on_set_aside, budget_seconds, should_stop)
        lock = self.redis.lock(self.keys.lock(user), timeout=self.lock_timeout)
        first = self._start(user, lock)  # the note cleared, the lock taken, the first item read
        end = _End.STOPPED
        while first is not None:  # None: another drain holds the user, and reaches the items
            end = self._drain_locked(user, lock, first, run)
            if end is not _End.LOOK_AGAIN:
                break
            first = self._peek(user) if lock.acquire(blocking=False) else None
        if run.set_aside:
            raise ItemsSetAside(f"{run.set_aside} {self.name} item(s) of {mask(user)} set aside in {self.dead.key}")
        return run.handled, end is _End.EMPTIED

    def retry_delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failed attempt of an item."""
        return self.backoff[min(attempts, len(self.backoff)) - 1]

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
                self.redis.zadd(self.keys.due, {user: self.clock()})
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
            self.redis.zadd(self.keys.due, {user: self.clock() + max(exc.retry_after, 1)})
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

    # -- round trips -----------------------------------------------------------------------
    def _start(self, user: str, lock) -> tuple[float | None, bytes | None] | None:
        """A drain's first round trip: clear the drain-queued note, take the lock, and read the
        user's due time and first item (None: another drain holds the user). The lock is redis-py's,
        given the token it would have set itself, so that its renewal and release work as usual."""
        token = uuid.uuid4().hex.encode()
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.pending(user))
        pipe.set(self.keys.lock(user), token, nx=True, px=int(self.lock_timeout * 1000))
        pipe.zscore(self.keys.due, user)
        pipe.lindex(self.keys.items(user), 0)
        _, taken, due, raw = pipe.execute()
        if not taken:
            return None
        lock.local.token = token
        return due, raw

    def _peek(self, user: str) -> tuple[float | None, bytes | None]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(self.keys.due, user)
        pipe.lindex(self.keys.items(user), 0)
        due, raw = pipe.execute()
        return due, raw

    def _done(self, user: str, raw: bytes, lock) -> tuple[bool, bytes | None]:
        """The handled first item off the list: (True, the next one), (True, None) when the list is
        empty (the lock then released and the user forgotten, in the same step), or (False, None)
        when the lock is no longer ours: the drain stops (see ``workers/lua/queue_done.lua``)."""
        keys = [self.keys.items(user), self.keys.attempts(user), self.keys.lock(user), self.keys.due]
        next_item, mine = lua.run(self.redis, "queue_done", keys=keys,
                                  args=[fingerprint(raw), lock.local.token, user, raw])
        if not mine:
            log.warning("%s lock of %s expired while draining", self.name, mask(user))
        if next_item is None:
            lock.local.token = None
        return bool(mine), next_item

    def _release_and_forget(self, user: str, lock) -> bool:
        """Release the lock and, if the list is empty, forget the user, in one step; whether it was."""
        keys = [self.keys.lock(user), self.keys.items(user), self.keys.due, self.keys.attempts(user)]
        mine, forgot = lua.run(self.redis, "queue_release", keys=keys, args=[lock.local.token, user])
        lock.local.token = None
        if not mine:
            log.warning("%s lock of %s expired while draining", self.name, mask(user))
        return bool(forgot)

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
            self.redis.zadd(self.keys.due, {user: self.clock() + delay})
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
