"""Per-user ordered queues in Redis: each user's items handled in order, users in parallel, nothing lost.

Used for the LINE inbox (``workers/line/inbox.py``) and the handoff outboxes (``workers/handoff/store.py``).
An item is appended once per id (a redelivered webhook or a retried turn does not queue it
twice) and leaves the list only after it was handled, so a killed worker loses nothing: the
next drain handles it again (handlers are idempotent). One drain per user at a time (a lock);
the others return at once, because the lock holder reaches their items.

An item that keeps failing must not block the user's later items forever: after
``max_attempts`` (at once for a provider's "retrying cannot help") it moves to a dead list,
trimmed to ``dead_kept`` entries, and the drain raises ``ItemsSetAside`` after handling the
rest, so the job shows in RQ's failed registry.

Redis, for a queue named ``<name>``:
  <name>:<user>             the items, oldest first (JSON)
  <seen_prefix>:<item id>   "already appended" markers                 seen_ttl
  <name>-lock:<user>        the drain lock                             lock_timeout
  <name>-attempts:<user>    hash: failed attempts of the first item    seen_ttl
  <dead_key>                set-aside items, newest first              dead_kept entries
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from typing import Any, Callable

import redis
from redis.exceptions import LockError

from bot.privacy import mask
from integrations.errors import ProviderError

log = logging.getLogger(__name__)

SEEN_TTL = 7 * 24 * 3600   # longer than any redelivery or retry
DEAD_KEPT = 1000

# Seen-check and append in one step, so two processes given the same item cannot both queue it.
_APPEND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class ItemsSetAside(Exception):
    """Items could not be handled and were set aside in the dead list; raised so the job shows as failed."""


class UserQueue:
    """One named family of per-user ordered queues (see the module docstring)."""

    def __init__(self, connection: redis.Redis, name: str, *, max_attempts: int, lock_timeout: int,
                 dead_kept: int = DEAD_KEPT, seen_ttl: int = SEEN_TTL, dead_key: str | None = None,
                 seen_prefix: str | None = None, id_field: str | None = None):
        """``id_field``: write the item id into each item under this name (for handlers that need it)."""
        self.redis = connection
        self.name = name
        self.max_attempts = max_attempts
        self.lock_timeout = lock_timeout
        self.dead_kept = dead_kept
        self.seen_ttl = seen_ttl
        self.dead_key = dead_key or f"{name}:dead"
        self.seen_prefix = seen_prefix or f"{name}:seen"
        self.id_field = id_field
        self._append = connection.register_script(_APPEND)

    def append(self, user: str, item_id: str, item: dict[str, Any], *, pipeline=None) -> bool | None:
        """Queue ``item`` unless an item with this id was queued before; True if queued now.

        With ``pipeline``, the command joins the caller's transaction and its answer
        (1 or 0) is among the transaction's results; None is returned.
        """
        payload = {**item, self.id_field: item_id} if self.id_field else item
        keys = [f"{self.seen_prefix}:{item_id}", self._items(user)]
        args = [self.seen_ttl, json.dumps(payload, ensure_ascii=False, separators=(",", ":"))]
        if pipeline is not None:
            # EVAL, not the registered script: in a pipeline redis-py would first ask
            # SCRIPT EXISTS, an extra round trip on the webhook's hot path.
            pipeline.eval(_APPEND, len(keys), *keys, *args)
            return None
        return bool(self._append(keys=keys, args=args))

    def seen(self, item_id: str) -> bool:
        """Whether an item with this id was appended (within ``seen_ttl``)."""
        return bool(self.redis.exists(f"{self.seen_prefix}:{item_id}"))

    def pending(self, user: str) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self._items(user), 0, -1)]

    def has_pending(self, user: str) -> bool:
        return bool(self.redis.llen(self._items(user)))

    def drain(self, user: str, handle: Callable[[dict], None],
              on_set_aside: Callable[[dict, Exception], None] | None = None) -> int:
        """Handle the user's items in order; return how many were handled.

        A failure that is not (yet) permanent propagates with the item still first in
        line, so the job retries with backoff. ``on_set_aside(item, error)`` runs before
        an item is set aside (it must be idempotent: a failure in it is retried too).
        """
        items = self._items(user)
        lock = self.redis.lock(f"{self.name}-lock:{user}", timeout=self.lock_timeout)
        handled, set_aside = 0, 0
        while lock.acquire(blocking=False):
            leased_at = time.monotonic()
            try:
                raw = self.redis.lindex(items, 0)
                while raw is not None:
                    item: Any = None
                    try:
                        item = json.loads(raw)
                        handle(item)
                    except Exception as exc:
                        if not self._give_up(user, raw, exc):
                            raise  # the item stays first in line
                        if on_set_aside is not None and isinstance(item, dict):
                            on_set_aside(item, exc)
                        self._move_to_dead(user, raw)
                        set_aside += 1
                        raw = self.redis.lindex(items, 0)
                    else:
                        # Done with it, and a look at the next one, in one round trip.
                        pipe = self.redis.pipeline(transaction=False)
                        pipe.lpop(items)
                        pipe.hdel(self._attempts(user), _fingerprint(raw))
                        pipe.lindex(items, 0)
                        raw = pipe.execute()[2]
                        handled += 1
                    if time.monotonic() - leased_at > self.lock_timeout / 3:
                        lock.reacquire()  # renew the lease long before it can lapse
                        leased_at = time.monotonic()
            finally:
                try:
                    lock.release()
                except LockError:
                    log.warning("%s lock of %s expired while draining", self.name, mask(user))
            # Checked after releasing: an item queued while we held the lock, whose own
            # drain job gave up on the lock, is ours to handle.
            if not self.redis.llen(items):
                break
        if set_aside:
            raise ItemsSetAside(f"{set_aside} {self.name} item(s) of {mask(user)} set aside in {self.dead_key}")
        return handled

    # -- internals -------------------------------------------------------------------
    def _items(self, user: str) -> str:
        return f"{self.name}:{user}"

    def _attempts(self, user: str) -> str:
        return f"{self.name}-attempts:{user}"

    def _give_up(self, user: str, raw: bytes, exc: Exception) -> bool:
        """Whether to set the failing first item aside: retrying cannot or did not help.

        Only a provider's clear "your request is wrong" is permanent at once. Anything
        else (a provider outage, a Redis blip, a job timeout, a bug) gets the full
        ``max_attempts`` first: setting aside loses the item from the user's sequence.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self._attempts(user), _fingerprint(raw), 1)
        pipe.expire(self._attempts(user), self.seen_ttl)
        attempts = pipe.execute()[0]
        permanent = isinstance(exc, ProviderError) and not exc.retryable
        if not permanent and attempts < self.max_attempts:
            log.warning("%s item of %s failed (attempt %d of %d): %s", self.name, mask(user), attempts,
                        self.max_attempts, exc if isinstance(exc, ProviderError) else type(exc).__name__)
            return False
        # Provider errors are written to be log-safe; other exceptions' messages may quote the
        # patient's text (e.g. a validation error), so only their type and stack are logged.
        detail = str(exc) if isinstance(exc, ProviderError) else "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s item of %s set aside after %d attempt(s): %s: %s", self.name, mask(user), attempts,
                  type(exc).__name__, detail)
        return True

    def _move_to_dead(self, user: str, raw: bytes) -> None:
        pipe = self.redis.pipeline()
        pipe.lpop(self._items(user))
        pipe.lpush(self.dead_key, raw)
        pipe.ltrim(self.dead_key, 0, self.dead_kept - 1)
        pipe.hdel(self._attempts(user), _fingerprint(raw))
        pipe.execute()


def _fingerprint(raw: bytes) -> str:
    """Which item the attempt count belongs to (only the first item is ever attempted)."""
    return hashlib.sha256(raw).hexdigest()[:16]
