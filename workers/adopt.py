"""Moving a deployment of one hospital under a hospital id (``flask hospitals adopt ID``), so that its
file in ``HOSPITALS_DIR`` finds its patients, queued jobs and scheduled reminders where a registry
looks: every key of ours gets the prefix ``h:<id>:``, and RQ's queued, scheduled, deferred and failed
jobs move to that hospital's queues (a fixed job id, such as a reminder's, gets ``h_<id>_`` in front,
as the code will look for it: ``Hospital.job_prefix``). TTLs are kept (RENAME keeps them).

Run it with every process of the deployment stopped (it refuses while a worker is alive: a job
running during the move could write under the old names), or with the web behind a maintenance page
that answers 503, which LINE delivers again later: a web process still taking events would queue
them under the old names, where the registry's workers never look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis as redis_lib
from rq import Worker
from rq.job import Job

from workers.queues import QUEUE_NAMES, queue_key

#: Keys every hospital shares (the allow-list): not moved.
SHARED = ("rq:", "h:", "fair:", "maintenance:lock", "redis:findings-logged", "readyz:", "moph:token",
          "ratelimit:sepsms:", "sandbox:", "verify:sends:number:")
#: RQ's registries of job ids (sorted sets) that are moved with their queue.
REGISTRIES = ("scheduled", "deferred", "failed")
_RANDOM_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class AdoptError(RuntimeError):
    """The move cannot start (nothing was moved)."""


@dataclass
class Adopted:
    keys: int = 0
    jobs: int = 0


def adopt(redis: redis_lib.Redis, hospital_id: str) -> Adopted:
    prefix = f"h:{hospital_id}:"
    alive = Worker.count(connection=redis)
    if alive:
        raise AdoptError(f"{alive} worker(s) alive: stop every worker first (the web may stay up)")
    if any(True for _ in redis.scan_iter(match=f"{prefix}*", count=1000)):
        raise AdoptError(f"hospital {hospital_id!r} already has data here: nothing was moved")
    done = Adopted()
    for kind in QUEUE_NAMES:
        done.jobs += _move_queue(redis, kind, prefix + kind, f"h_{hospital_id}_")
    for key in list(redis.scan_iter(count=1000)):
        name = key.decode()
        if not name.startswith(SHARED):
            redis.rename(key, prefix + name)
            done.keys += 1
    return done


def _move_queue(redis: redis_lib.Redis, old: str, new: str, job_prefix: str) -> int:
    moved = 0
    for job_id in [j.decode() for j in redis.lrange(queue_key(old), 0, -1)]:
        redis.rpush(queue_key(new), _move_job(redis, job_id, new, job_prefix))
        moved += 1
    redis.delete(queue_key(old))
    for registry in REGISTRIES:
        old_key, new_key = f"rq:{registry}:{old}", f"rq:{registry}:{new}"
        for job_id, score in redis.zrange(old_key, 0, -1, withscores=True):
            redis.zadd(new_key, {_move_job(redis, job_id.decode(), new, job_prefix): score})
            moved += 1
        redis.delete(old_key)
    if moved:
        redis.sadd("rq:queues", queue_key(new))
    return moved


def _move_job(redis: redis_lib.Redis, job_id: str, queue: str, job_prefix: str) -> str:
    """The job under its new id (a fixed id gets the prefix; RQ's random ones stay), in its new queue."""
    new_id = job_id if _RANDOM_ID.match(job_id) else job_prefix + job_id
    if new_id != job_id and redis.exists(Job.key_for(job_id)):
        redis.rename(Job.key_for(job_id), Job.key_for(new_id))
    redis.hset(Job.key_for(new_id), "origin", queue)
    return new_id
