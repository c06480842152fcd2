"""A ``UserQueue``'s keys, and its set-aside items (its dead list): listing, erasing and replaying them.

In their own module for size; ``UserQueue`` (``workers/user_queue.py``) holds a ``DeadList``.

Redis, for a queue named ``<name>`` of the hospital whose keys start with ``prefix`` (every key
below, the dead list's and the seen markers' too, starts with it: ``h:b:line:inbox:<user>``):
  <name>:<user>             the items, oldest first (JSON)                          item_ttl
  <seen_prefix>:<item id>   "already appended" markers                            seen_ttl
  <name>-due                sorted set: user -> when the first item is due (present while items wait)
  <name>-lock:<user>        the drain lock                                        lock_timeout
  <name>-attempts:<user>    hash: failed attempts of the first item               seen_ttl
  <name>-pending:<user>     a drain is coming (value: when it was queued)          pending_ttl
  <name>-ready              users whose drain is left to a running or queued batch (``mark_ready``),
                            oldest first                                          pending_ttl after the last
  <dead_key>                set-aside items, newest first: JSON {user, at, reason, item (the raw
                            item)}; older entries are the raw item alone     dead_kept entries, dead_ttl

A set-aside item can be put back (``replay``): at the end of its user's list, past the
seen-check (its marker is what stops a redelivery, not a replay), and only if it was still
in the dead list, removed from it in the same step, so that it is replayed once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Callable

import redis

from integrations.errors import ProviderError
from integrations.metrics import SET_ASIDE
from workers import lua

DEAD_TTL = 14 * 24 * 3600  # set-aside items hold patient data: kept long enough to replay, then gone
ITEM_TTL = 7 * 24 * 3600   # a user's waiting items expire a week after the last append


@dataclass(frozen=True)
class QueueKeys:
    """The Redis keys of one family of per-user queues of one hospital (the table in the module docstring)."""

    name: str
    prefix: str = ""

    @property
    def due(self) -> str:
        return f"{self.prefix}{self.name}-due"

    @property
    def ready(self) -> str:
        return f"{self.prefix}{self.name}-ready"

    def items(self, user: str) -> str:
        return f"{self.prefix}{self.name}:{user}"

    def lock(self, user: str) -> str:
        return f"{self.prefix}{self.name}-lock:{user}"

    def attempts(self, user: str) -> str:
        return f"{self.prefix}{self.name}-attempts:{user}"

    def pending(self, user: str) -> str:
        return f"{self.prefix}{self.name}-pending:{user}"


@dataclass(frozen=True)
class DeadItem:
    """One set-aside entry: whose, when, why, and the item as it was queued."""

    entry: bytes              # the dead list's entry, exactly (what ``replay`` removes)
    user: str | None          # None for entries written before users were recorded
    at: float | None
    reason: str
    raw: bytes                # the item as it was queued

    @classmethod
    def parse(cls, entry: bytes) -> "DeadItem":
        try:
            found = json.loads(entry)
        except ValueError:
            found = None
        if isinstance(found, dict) and set(found) == {"user", "at", "reason", "item"} \
                and isinstance(found["item"], str):
            return cls(entry, found["user"], found["at"], found["reason"], found["item"].encode())
        return cls(entry, None, None, "", entry)


class DeadList:
    """The items a ``UserQueue`` gave up on (key ``key``, newest first, at most ``kept`` entries)."""

    def __init__(self, connection: redis.Redis, keys: QueueKeys, *, key: str, kept: int, seen_prefix: str,
                 seen_ttl: int, clock: Callable[[], float] = time.time):
        self.redis = connection
        self.keys = keys
        self.key = key
        self.kept = kept
        self.seen_prefix = seen_prefix
        self.seen_ttl = seen_ttl
        self.clock = clock

    def items(self, limit: int | None = None) -> list[DeadItem]:
        """The set-aside items, newest first."""
        entries = self.redis.lrange(self.key, 0, -1 if limit is None else limit - 1)
        return [DeadItem.parse(entry) for entry in entries]

    def forget(self, user: str) -> int:
        """Remove the user's set-aside items (a data subject's erasure); how many were removed."""
        removed = 0
        for dead in self.items():
            owner = dead.user
            if owner is None:  # an entry from before users were recorded: a LINE event names its user
                try:
                    owner = (json.loads(dead.raw).get("source") or {}).get("userId")
                except (ValueError, AttributeError):
                    owner = None
            if owner == user:
                removed += self.redis.lrem(self.key, 0, dead.entry)
        return removed

    def replay(self, dead: DeadItem, user: str, item_id: str) -> bool:
        """Put a set-aside item back at the end of ``user``'s list; False if it was no longer set aside.
        The caller starts the user's drain."""
        keys = [self.key, self.keys.items(user), self.keys.due, f"{self.seen_prefix}:{item_id}"]
        args = [dead.entry, dead.raw, self.clock(), user, ITEM_TTL, self.seen_ttl]
        return bool(lua.run(self.redis, "queue_replay", keys=keys, args=args))

    def add(self, user: str, raw: bytes, exc: Exception) -> None:
        """Move the user's failing first item (``raw``) from their list to the dead list."""
        # The reason as logged: a provider's (log-safe) message, else only the exception's type.
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, ProviderError) else type(exc).__name__
        entry = json.dumps({"user": user, "at": round(self.clock(), 3), "reason": reason[:300],
                            "item": raw.decode("utf-8", "replace")}, ensure_ascii=False)
        pipe = self.redis.pipeline()
        pipe.lpop(self.keys.items(user))
        pipe.lpush(self.key, entry)
        pipe.ltrim(self.key, 0, self.kept - 1)
        pipe.expire(self.key, DEAD_TTL)
        pipe.hdel(self.keys.attempts(user), fingerprint(raw))
        pipe.execute()
        SET_ASIDE.labels(self.keys.name).inc()


def fingerprint(raw: bytes) -> str:
    """Which item the attempt count belongs to (only the first item is ever attempted)."""
    return hashlib.sha256(raw).hexdigest()[:16]
