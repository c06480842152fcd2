"""The Redis connection of this process: ``REDIS_URL``, Redis Sentinel, or the shared embedded server.

Every client retries a command that met a dropped connection or a timeout, with backoff, for
about ten seconds: a Redis restart or a Sentinel failover is ridden out without restarting
the process (the webhook answers 503 meanwhile, so LINE redelivers).
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.settings import Settings
from workers.embedded_redis import EmbeddedRedis

#: ~0.1, 0.2, 0.4 … 2 s between tries: about ten seconds in all.
RETRIES = 8


def redis_url(settings: Settings) -> str:
    """``REDIS_URL`` if set; otherwise the embedded server's address (started if needed)."""
    if settings.redis_url:
        return settings.redis_url
    embedded = EmbeddedRedis(settings.var_dir)
    embedded.ensure()
    return embedded.url


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.1), RETRIES,
                 supported_errors=(RedisConnectionError, RedisTimeoutError, ConnectionResetError))


def connect_redis(settings: Settings, *, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A client with timeouts, so a stuck Redis fails a request instead of hanging it.

    Workers pass ``socket_timeout=None``: RQ blocks on its queues for longer than any
    sensible request timeout and sets its own limits for that.
    """
    options = dict(socket_timeout=socket_timeout, socket_connect_timeout=3, health_check_interval=30,
                   retry=_retry(), retry_on_error=[RedisConnectionError, RedisTimeoutError])
    if settings.redis_sentinels:
        # The password and database of REDIS_URL, if given, apply to the master.
        url_options = redis.connection.parse_url(settings.redis_url) if settings.redis_url else {}
        master_options = {k: v for k, v in url_options.items() if k in ("password", "username", "db")}
        sentinel = Sentinel(settings.sentinel_addresses(), socket_timeout=3, socket_connect_timeout=3,
                            sentinel_kwargs={"socket_timeout": 3, "password": master_options.get("password")})
        return sentinel.master_for(settings.redis_sentinel_master, **options, **master_options)
    return redis.Redis.from_url(redis_url(settings), **options)

