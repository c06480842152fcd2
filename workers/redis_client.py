"""The Redis connection of this process: ``REDIS_URL``, or the shared embedded server."""

from __future__ import annotations

import redis

from bot.settings import Settings
from workers.embedded_redis import EmbeddedRedis


def redis_url(settings: Settings) -> str:
    """``REDIS_URL`` if set; otherwise the embedded server's address (started if needed)."""
    if settings.redis_url:
        return settings.redis_url
    embedded = EmbeddedRedis(settings.var_dir)
    embedded.ensure()
    return embedded.url


def connect_redis(settings: Settings, *, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A client with timeouts, so a stuck Redis fails a request instead of hanging it.

    Workers pass ``socket_timeout=None``: RQ blocks on its queues for longer than any
    sensible request timeout and sets its own limits for that.
    """
    return redis.Redis.from_url(redis_url(settings), socket_timeout=socket_timeout,
                                socket_connect_timeout=3, health_check_interval=30)
