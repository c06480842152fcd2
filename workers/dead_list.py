"""A ``UserQueue``'s set-aside items (its dead list): listing, erasing and replaying them.

``DeadList`` is a part of ``UserQueue`` (``workers/user_queue.py``), in its own module for size;
it uses the queue's keys and settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from integrations.errors import ProviderError
from integrations.metrics import SET_ASIDE
from workers import lua

DEAD_TTL = 14 * 24 * 3600  # set-aside items hold patient data: kept long enough to replay, then gone
ITEM_TTL = 7 * 24 * 3600   # a user's waiting items expire a week after the last append

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
    """The set-aside half of ``UserQueue`` (it uses the queue's ``redis``, ``name``, ``dead_key``,
    ``dead_kept``, ``due_key``, ``seen_prefix``, ``seen_ttl``, ``clock`` and key names)."""

    def dead_items(self, limit: int | None = None) -> list[DeadItem]:
        """The set-aside items, newest first."""
        entries = self.redis.lrange(self.dead_key, 0, -1 if limit is None else limit - 1)
        return [DeadItem.parse(entry) for entry in entries]

    def forget_dead(self, user: str) -> int:
        """Remove the user's set-aside items (a data subject's erasure); how many were removed."""
        removed = 0
        for dead in self.dead_items():
            owner = dead.user
            if owner is None:  # an entry from before users were recorded: a LINE event names its user
                try:
                    owner = (json.loads(dead.raw).get("source") or {}).get("userId")
                except (ValueError, AttributeError):
                    owner = None
            if owner == user:
                removed += self.redis.lrem(self.dead_key, 0, dead.entry)
        return removed

    def replay(self, dead: DeadItem, user: str, item_id: str) -> bool:
        """Put a set-aside item back at the end of ``user``'s list; False if it was no longer set aside.
        The caller starts the user's drain."""
        keys = [self.dead_key, self._items(user), self.due_key, f"{self.seen_prefix}:{item_id}"]
        args = [dead.entry, dead.raw, self.clock(), user, ITEM_TTL, self.seen_ttl]
        return bool(lua.run(self.redis, "queue_replay", keys=keys, args=args))

    def _move_to_dead(self, user: str, raw: bytes, exc: Exception) -> None:
        # The reason as logged: a provider's (log-safe) message, else only the exception's type.
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, ProviderError) else type(exc).__name__
        entry = json.dumps({"user": user, "at": round(self.clock(), 3), "reason": reason[:300],
                            "item": raw.decode("utf-8", "replace")}, ensure_ascii=False)
        pipe = self.redis.pipeline()
        pipe.lpop(self._items(user))
        pipe.lpush(self.dead_key, entry)
        pipe.ltrim(self.dead_key, 0, self.dead_kept - 1)
        pipe.expire(self.dead_key, DEAD_TTL)
        pipe.hdel(self._attempts(user), _fingerprint(raw))
        pipe.execute()
        SET_ASIDE.labels(self.name).inc()


def _fingerprint(raw: bytes) -> str:
    """Which item the attempt count belongs to (only the first item is ever attempted)."""
    return hashlib.sha256(raw).hexdigest()[:16]
