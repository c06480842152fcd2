"""No hospital holds every worker of a kind: while one hospital's jobs hang (its LINE API slow) or
pile up (a 50,000-row push), at most the live workers of that kind less one run its jobs, so the
others' patients and OTPs still find a worker; and while another hospital is active (it started a job
of that kind within ``ACTIVE_FOR`` seconds), at most half of them, so that a hanging hospital does not
leave every other one a single worker to share (its drains hold theirs for as long as its API makes
them wait, 20 s and more). Round-robin order (``HospitalTurns``) alone cannot do this: it decides which
job is taken next, not how long the taken ones hold their workers.

Only a deployment serving several hospitals uses it (one hospital has no one to be fair to). Workers
say they are alive at each heartbeat and as they ask for a job, and a busy worker counts as live; a
job is counted until it ends, or its timeout at the latest (a killed worker's count lapses). Shared
keys: ``fair:busy:<kind>``, ``fair:alive:<kind>``, ``fair:active:<kind>``.
"""

from __future__ import annotations

import time
from typing import Callable

import redis as redis_lib

from workers import lua

#: A worker counts as live this long after its last heartbeat (the worker's TTL).
ALIVE_FOR = 35
#: A hospital counts as active this long after it last started a job of a kind: longer than the
#: quiet moments of a hospital whose patients are writing (one every few seconds).
ACTIVE_FOR = 60


class FairShare:
    def __init__(self, redis: redis_lib.Redis, clock: Callable[[], float] = time.time):
        self.redis = redis
        self.clock = clock

    @staticmethod
    def _keys(kind: str) -> tuple[str, str, str]:
        return f"fair:busy:{kind}", f"fair:alive:{kind}", f"fair:active:{kind}"

    def alive(self, worker: str, kinds, pipe) -> None:
        """Count ``worker`` live for ``kinds`` (on the heartbeat's pipeline: no round trip of its own)."""
        now = self.clock()
        for kind in kinds:
            pipe.zadd(self._keys(kind)[1], {worker: now})
            pipe.expire(self._keys(kind)[1], ALIVE_FOR * 2)

    def take(self, kind: str, hospital: str, worker: str, timeout: float) -> bool:
        """May ``worker`` start a job of ``hospital`` (of ``kind``, running at most ``timeout`` s)?"""
        now = self.clock()
        return bool(lua.run(self.redis, "fair_share_take", self._keys(kind),
                            [now, hospital, worker, now + timeout, ALIVE_FOR, ACTIVE_FOR]))

    def give_back(self, kind: str, hospital: str, worker: str) -> None:
        self.redis.zrem(self._keys(kind)[0], f"{hospital}|{worker}")

    def gone(self, worker: str, kinds) -> None:
        """The worker stops: it no longer counts as live."""
        with self.redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.zrem(self._keys(kind)[1], worker)
            pipe.execute()
