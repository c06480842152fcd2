"""This worker process's services, and how a job says "retrying cannot help"."""

from __future__ import annotations

from rq import get_current_job

from bot.services import Services
from bot.settings import load_settings

_services: Services | None = None


def services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services
    if _services is None:
        _services = Services(load_settings(), worker=True)
    return _services


def install(new: Services | None) -> None:
    """Use ``new`` for the jobs of this process (the worker entry point and tests)."""
    global _services
    _services = new


def fail_without_retry(exc: BaseException) -> None:
    """Mark the running job so RQ sends it to the failed registry instead of retrying, then raise.

    For errors a retry cannot fix (bad credentials, a rejected request): retrying
    them for twenty minutes only delays the alarm.
    """
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    raise exc
