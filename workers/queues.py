"""Queue names, job defaults, and the one place jobs are enqueued from.

Every job goes through ``enqueue()``, by its name from ``workers.job_names``: JSON serialisation
(jobs cross process boundaries; pickle would couple them to code versions), an explicit timeout,
``Retry`` with backoff, and a description that carries no patient data (RQ
logs descriptions, and by default they hold the arguments' reprs).

``prefix`` is the hospital's (``Services.hospital.prefix``: "" for the implicit hospital, ``h:<id>:``
otherwise): it starts the name of every queue (``h:b:line``), so that a worker knows a job's hospital
by its queue (``workers/hospitals.py``), and every fixed job id, so that two hospitals' fixed ids never
meet. RQ takes only letters, digits, ``_`` and ``-`` in a job id (it splits its own keys on ``:``),
so there the prefix is written with ``_`` (``job_prefix``): ``h_b_otp-send-<id>``. No hospital id has
a ``_``, and none of the implicit hospital's fixed ids starts with ``h_``.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

#: Worker order is priority order: patients waiting on an answer come first.
LINE_QUEUE = "line"          # answering patients, in order per user
DEFAULT_QUEUE = "default"    # handoff, mirror, SMS, single notices
BULK_QUEUE = "bulk"          # campaigns and CSV pushes: may wait
QUEUE_NAMES = (LINE_QUEUE, DEFAULT_QUEUE, BULK_QUEUE)

#: Backoff for transient provider failures: ~6 tries over ~20 minutes, then the failed registry.
DEFAULT_RETRY = Retry(max=5, interval=[5, 30, 120, 300, 900])
DEFAULT_TIMEOUT = 60


def get_queue(connection: redis.Redis, name: str = DEFAULT_QUEUE, *, prefix: str = "") -> Queue:
    """The hospital's (``prefix``) queue of kind ``name``."""
    return Queue(prefix + name, connection=connection, serializer=JSONSerializer)


def queue_key(name: str, *, prefix: str = "") -> str:
    """The Redis list of a queue's waiting job ids (what ``get_queue(...).key`` is, without building a Queue)."""
    return Queue.redis_queue_namespace_prefix + prefix + name


def job_prefix(prefix: str) -> str:
    """The hospital's prefix as it starts a fixed job id (``h:b:`` -> ``h_b_``; "" stays "")."""
    return prefix.replace(":", "_")


def job_options(*, description: str, job_id: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                retry: Retry | None = DEFAULT_RETRY, prefix: str = "", **options: Any) -> dict[str, Any]:
    """The options every job gets; shared by ``enqueue``, ``enqueue_at`` and ``prepare``."""
    return dict(job_id=job_prefix(prefix) + job_id if job_id else None, description=description,
                timeout=timeout, retry=retry, result_ttl=3600, failure_ttl=14 * 24 * 3600, **options)


def enqueue(connection: redis.Redis, job: str, *args: Any, queue: str = DEFAULT_QUEUE,
            description: str, job_id: str | None = None, timeout: int = DEFAULT_TIMEOUT,
            retry: Retry | None = DEFAULT_RETRY, prefix: str = "", **options: Any):
    """Enqueue the job named ``job`` (``workers.job_names``) with ``args`` on the hospital's (``prefix``)
    queue ``queue``. ``description`` is what logs show: never patient data."""
    opts = job_options(description=description, job_id=job_id, timeout=timeout, retry=retry, prefix=prefix,
                       **options)
    opts["job_timeout"] = opts.pop("timeout")
    return get_queue(connection, queue, prefix=prefix).enqueue(job, *args, **opts)


def enqueue_at(connection: redis.Redis, when, job: str, *args: Any, queue: str = DEFAULT_QUEUE,
               description: str, job_id: str | None = None, timeout: int = DEFAULT_TIMEOUT,
               retry: Retry | None = DEFAULT_RETRY, prefix: str = "", **options: Any):
    """Schedule the job named ``job`` with ``args`` for ``when`` (an aware datetime) via RQ's scheduler."""
    opts = job_options(description=description, job_id=job_id, timeout=timeout, retry=retry, prefix=prefix,
                       **options)
    opts["job_timeout"] = opts.pop("timeout")
    return get_queue(connection, queue, prefix=prefix).enqueue_at(when, job, *args, **opts)


def prepare(job: str, *args: Any, description: str, job_id: str | None = None,
            timeout: int = DEFAULT_TIMEOUT, retry: Retry | None = DEFAULT_RETRY, prefix: str = "", **options: Any):
    """Job data for ``get_queue(..., prefix=prefix).enqueue_many([...], pipeline=...)``: many jobs, one
    round trip."""
    opts = job_options(description=description, job_id=job_id, timeout=timeout, retry=retry, prefix=prefix,
                       **options)
    return Queue.prepare_data(job, args=args, **opts)
