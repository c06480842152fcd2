"""RedisRateLimiter: when the next slot is, and a provider's pause shared by every process."""

from __future__ import annotations

import pytest

from integrations.errors import RateLimitError
from integrations.ratelimit import RateLimit, RedisRateLimiter

PER_MINUTE = RateLimit("test:otp", 2, 60)
OVERALL = RateLimit("test:all", 3, 60)


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_wait_seconds_is_the_time_until_acquire_succeeds(redis, clock):
    limiter = RedisRateLimiter(redis, clock=clock)
    limiter.acquire(PER_MINUTE)
    clock.now += 10
    limiter.acquire(PER_MINUTE)
    assert limiter.wait_seconds(PER_MINUTE) == pytest.approx(50)
    with pytest.raises(RateLimitError) as full:
        limiter.acquire(PER_MINUTE)
    assert full.value.retry_after == pytest.approx(50)
    clock.now += 50.001
    assert limiter.wait_seconds(PER_MINUTE) == 0.0
    limiter.acquire(PER_MINUTE)


def test_wait_seconds_takes_nothing(redis, clock):
    limiter = RedisRateLimiter(redis, clock=clock)
    for _ in range(10):
        assert limiter.wait_seconds(PER_MINUTE, OVERALL) == 0.0
    limiter.acquire(PER_MINUTE, OVERALL)
    limiter.acquire(PER_MINUTE, OVERALL)
    assert limiter.wait_seconds(OVERALL) == 0.0 and limiter.wait_seconds(PER_MINUTE, OVERALL) == pytest.approx(60)


def test_a_pause_holds_every_process_and_the_longer_one_wins(redis, clock):
    one, other = RedisRateLimiter(redis, clock=clock), RedisRateLimiter(redis, clock=clock)
    one.pause(OVERALL, 30)
    other.pause(OVERALL, 5)  # a shorter pause does not cut the first one short
    assert other.wait_seconds(PER_MINUTE, OVERALL) == pytest.approx(30)
    with pytest.raises(RateLimitError) as paused:
        other.acquire(PER_MINUTE, OVERALL)
    assert paused.value.retry_after == pytest.approx(30) and paused.value.code == "local_rate_limit"
    assert one.wait_seconds(PER_MINUTE) == 0.0  # the refused call took no slot
    clock.now += 30.5
    other.acquire(PER_MINUTE, OVERALL)


def test_without_redis_nothing_is_limited():
    limiter = RedisRateLimiter(None)
    limiter.pause(PER_MINUTE, 30)
    for _ in range(5):
        limiter.acquire(PER_MINUTE)
    assert limiter.wait_seconds(PER_MINUTE) == 0.0
