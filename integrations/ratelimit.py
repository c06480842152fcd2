"""Sliding-window budgets kept in Redis, shared by every process: providers' documented
limits (respected before sending, not discovered by failing) and our own caps
(OTP sends per number and per user).

A provider may also say "no more for now" (a 429 with ``Retry-After``, or
``RateLimit-Remaining: 0``): ``pause`` records that for every process, and
``acquire`` / ``wait_seconds`` honour it like a full window.

Redis: ``<prefix>:<limit name>`` (sorted set of calls, expires after the window),
``<prefix>:<limit name>:paused`` (unix time the provider's pause ends, expires then); a limit with a
``key`` of its own is kept there instead (a hospital's share of a pace every hospital shares, or a cap
every hospital counts into), so that one ``acquire`` takes them all or none.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass

from integrations.errors import RateLimitError


@dataclass(frozen=True)
class RateLimit:
    name: str
    limit: int
    per_seconds: float
    key: str | None = None  # None: ``<prefix>:<name>``


class RedisRateLimiter:
    """Sliding-window budgets shared by every process that uses the same Redis.

    Each call is one sorted-set entry per limit; a MULTI transaction trims the
    window, adds the entry and counts, so two workers cannot both take the last
    slot. Over budget (or paused by the provider), the entries are taken back
    and ``RateLimitError.retry_after`` says when the next slot is.
    ``wait_seconds`` tells the same without taking a slot, so a caller can queue
    work at the allowed pace. ``redis=None`` switches limiting off (pure unit tests).
    """

    def __init__(self, redis, *, prefix: str = "ratelimit", provider: str = "", clock=time.time):
        self.redis = redis
        self.prefix = prefix
        self.provider = provider
        self._clock = clock

    def acquire(self, *limits: RateLimit) -> None:
        """Take one call from every budget in ``limits``, or none and raise ``RateLimitError``."""
        if self.redis is None or not limits:
            return
        now = self._clock()
        member = f"{now:.6f}:{uuidlib.uuid4().hex}"
        pipe = self.redis.pipeline(transaction=True)
        for limit in limits:
            key = self._key(limit)
            pipe.get(f"{key}:paused")
            pipe.zremrangebyscore(key, "-inf", now - limit.per_seconds)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.expire(key, int(limit.per_seconds) + 1)
        replies = pipe.execute()
        waits = []
        for i, limit in enumerate(limits):
            paused, count, oldest = replies[6 * i], replies[6 * i + 3], replies[6 * i + 4]
            if paused is not None and float(paused) > now:
                waits.append((float(paused) - now, limit, "paused by the provider"))
            if count > limit.limit:
                waits.append((max(oldest[0][1] + limit.per_seconds - now, 0.001), limit, "used up"))
        if waits:
            pipe = self.redis.pipeline(transaction=True)
            for limit in limits:
                pipe.zrem(self._key(limit), member)
            pipe.execute()
            wait, limit, why = max(waits, key=lambda w: w[0])
            # code "local_rate_limit" either way: callers read it as "stopped here, nothing was sent".
            raise RateLimitError(f"budget {limit.name} ({limit.limit}/{limit.per_seconds:g}s) {why}",
                                 provider=self.provider, code="local_rate_limit", retry_after=round(wait, 3))

    def wait_seconds(self, *limits: RateLimit) -> float:
        """Seconds until ``acquire(*limits)`` would succeed (0.0: now). Takes nothing."""
        if self.redis is None or not limits:
            return 0.0
        now = self._clock()
        pipe = self.redis.pipeline(transaction=False)
        for limit in limits:
            key = self._key(limit)
            pipe.get(f"{key}:paused")
            pipe.zremrangebyscore(key, "-inf", now - limit.per_seconds)
            # The limit-th newest call: once it leaves the window, a slot is free.
            pipe.zrange(key, -limit.limit, -limit.limit, withscores=True)
        replies = pipe.execute()
        wait = 0.0
        for i, limit in enumerate(limits):
            paused, nth = replies[3 * i], replies[3 * i + 2]
            if paused is not None:
                wait = max(wait, float(paused) - now)
            if nth:
                wait = max(wait, nth[0][1] + limit.per_seconds - now)
        return round(max(wait, 0.0), 3)

    def pause(self, limit: RateLimit, seconds: float) -> None:
        """The provider said "not before ``seconds`` from now": every process waits that long."""
        if self.redis is None or seconds <= 0:
            return
        until = self._clock() + seconds
        key = f"{self._key(limit)}:paused"
        current = self.redis.get(key)
        if current is None or float(current) < until:  # a racing shorter pause is harmless: both say wait
            self.redis.set(key, f"{until:.3f}", px=max(1, int(seconds * 1000)))

    def _key(self, limit: RateLimit) -> str:
        return limit.key or f"{self.prefix}:{limit.name}"
