"""Sliding-window budgets kept in Redis, shared by every process: providers' documented
limits (respected before sending, not discovered by failing) and our own caps
(OTP sends per number and per user).
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



class RedisRateLimiter:
    """Sliding-window budgets shared by every process that uses the same Redis.

    Each call is one sorted-set entry per limit; a MULTI transaction trims the
    window, adds the entry and counts, so two workers cannot both take the last
    slot. Over budget, the entries are taken back and ``RateLimitError`` says
    when to come back. ``redis=None`` switches limiting off (pure unit tests).
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
            key = f"{self.prefix}:{limit.name}"
            pipe.zremrangebyscore(key, "-inf", now - limit.per_seconds)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.expire(key, int(limit.per_seconds) + 1)
        replies = pipe.execute()
        waits = []
        for i, limit in enumerate(limits):
            count, oldest = replies[5 * i + 2], replies[5 * i + 3]
            if count > limit.limit:
                waits.append((max(oldest[0][1] + limit.per_seconds - now, 0.001), limit))
        if waits:
            pipe = self.redis.pipeline(transaction=True)
            for limit in limits:
                pipe.zrem(f"{self.prefix}:{limit.name}", member)
            pipe.execute()
            wait, limit = max(waits, key=lambda w: w[0])
            raise RateLimitError(f"local budget {limit.name} ({limit.limit}/{limit.per_seconds:g}s) used up",
                                 provider=self.provider, code="local_rate_limit", retry_after=round(wait, 3))
