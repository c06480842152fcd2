"""Moving a deployment of one hospital under a hospital id (``flask hospitals adopt ID``), so that its
file in ``HOSPITALS_DIR`` finds its patients, queued jobs and scheduled reminders where a registry
looks: every key of ours gets the prefix ``h:<id>:``, and RQ's queued, scheduled, deferred and failed
jobs move to that hospital's queues (a fixed job id, such as a reminder's, gets ``h_<id>_`` in front,
as the code will look for it: ``workers.queues.job_prefix``). TTLs are kept (RENAME keeps them).

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

from workers.queues import QUEUE_NAMES, job_prefix, queue_key

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
    """Move everything; run again after an interruption, it goes on where it stopped."""
    prefix = f"h:{hospital_id}:"
    alive = Worker.count(connection=redis)
    if alive:
        raise AdoptError(f"{alive} worker(s) alive: stop every process first (or put the web behind a 503)")
    marker = prefix + "adopting"  # set while a move is under way: a second run finishes it
    if not redis.exists(marker) and any(True for _ in redis.scan_iter(match=f"{prefix}*", count=1000)):
        raise AdoptError(f"hospital {hospital_id!r} already has data here: nothing was moved")
    redis.set(marker, 1)
    done = Adopted()
    for kind in QUEUE_NAMES:
        done.jobs += _move_queue(redis, kind, prefix + kind, job_prefix(prefix))
    for key in list(redis.scan_iter(count=1000)):
        name = key.decode()
        if name.startswith(SHARED):
            continue
        try:
            redis.rename(key, prefix + name)
            done.keys += 1
        except redis_lib.ResponseError:  # expired since the scan (an event's seen-marker, a claim)
            continue
    redis.delete(marker)
    return done


def _move_queue(redis: redis_lib.Redis, old: str, new: str, id_prefix: str) -> int:
    """Each job leaves the old queue as it joins the new one (one transaction), so that an interrupted
    move loses and doubles nothing."""
    moved = 0
    while (job_id := redis.lindex(queue_key(old), 0)) is not None:
        new_id = _move_job(redis, job_id.decode(), new, id_prefix)
        with redis.pipeline() as pipe:
            pipe.rpush(queue_key(new), new_id).lpop(queue_key(old)).sadd("rq:queues", queue_key(new))
            pipe.execute()
        moved += 1
    for registry in REGISTRIES:
        old_key, new_key = f"rq:{registry}:{old}", f"rq:{registry}:{new}"
        for job_id, score in redis.zrange(old_key, 0, -1, withscores=True):
            new_id = _move_job(redis, job_id.decode(), new, id_prefix)
            with redis.pipeline() as pipe:
                pipe.zadd(new_key, {new_id: score}).zrem(old_key, job_id).sadd("rq:queues", queue_key(new))
                pipe.execute()
            moved += 1
    return moved


def _move_job(redis: redis_lib.Redis, job_id: str, queue: str, id_prefix: str) -> str:
    """The job under its new id (a fixed id gets the prefix; RQ's random ones stay), in its new queue."""
    new_id = job_id if _RANDOM_ID.match(job_id) else id_prefix + job_id
    if new_id != job_id and redis.exists(Job.key_for(job_id)):
        redis.rename(Job.key_for(job_id), Job.key_for(new_id))
    redis.hset(Job.key_for(new_id), "origin", queue)
    return new_id
