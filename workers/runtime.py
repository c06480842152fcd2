"""A job's services (its hospital's, found by the queue it came from), and how a job says "retrying
cannot help"."""

from __future__ import annotations

import threading

from rq import get_current_job

from integrations.errors import ProviderError

_services_for_queue = None


def services():
    """The running job's ``Services`` (``workers.services``): its hospital's, by the queue it was taken
    from, as the worker's start-up installed them (outside a job: the implicit hospital's)."""
    if _services_for_queue is None:
        raise RuntimeError("no services installed for jobs: a process that runs jobs calls "
                           "workers.runtime.install(...) first (see workers/__main__.py)")
    job = get_current_job()
    return _services_for_queue(job.origin if job is not None else "")


_stopping = threading.Event()


def request_stop() -> None:
    """A warm shutdown was asked for (SIGTERM): bounded loops hand over between items."""
    _stopping.set()


def stopping() -> bool:
    return _stopping.is_set()


def install(new) -> None:
    """Use ``new`` for the jobs this process runs: a ``HospitalServices`` (each job its hospital's), one
    ``Services`` (every job's), or None (none). The worker's start-up calls it once."""
    global _services_for_queue
    if new is None or hasattr(new, "for_queue"):
        _services_for_queue = new and new.for_queue
    else:
        _services_for_queue = lambda queue_name: new


def fail_without_retry(exc: BaseException) -> None:
    """Mark the running job so RQ sends it to the failed registry instead of retrying, then raise.

    For errors a retry cannot fix (bad credentials, a rejected request): retrying
    them for twenty minutes only delays the alarm.
    """
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    raise exc


def fail_fast(exc: BaseException) -> None:
    """Re-raise ``exc``; a provider error that says retrying cannot help skips RQ's retries.

    The one ``except`` clause every job needs: outages are retried with backoff,
    rejections go straight to the failed registry.
    """
    if isinstance(exc, ProviderError) and not exc.retryable:
        fail_without_retry(exc)
    raise exc


def current_job_id() -> str | None:
    """The running job's id (None outside a job); RQ's retries of a job keep it."""
    job = get_current_job()
    return job.id if job is not None else None


def final_attempt() -> bool:
    """Whether the running job has no RQ retries left (so a failure now is the last word)."""
    job = get_current_job()
    return job is None or not job.retries_left
