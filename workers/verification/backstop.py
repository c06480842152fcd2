"""The scheduled jobs that get an OTP outcome to the patient when the turn could not tell it.

Each request (or typed code) is saved with a backstop job ``BACKSTOP_SECONDS`` ahead, in the same
transaction: should the worker die before the patient is told, the job does the same work. It is
cancelled once the turn's reply (or a late push) carries the outcome. The same jobs also hold a
send for the provider's pace, retry after a provider error, and look again once another attempt's
hold on telling an outcome has lapsed. In their own module so that ``service.py`` keeps the OTP rules.
"""

from __future__ import annotations

import math
import time

import redis as redis_lib
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from workers import job_names
from workers.queues import DEFAULT_QUEUE, enqueue_at, get_queue, job_prefix
from workers.verification.outcome import CHECK_RETRY, SEND_RETRY, TELLING_LEASE, Outcome, after


def send_job_id(request_id: str, beside: str = "") -> str:
    """The id of a request's send job. Scheduling under the plain id moves the one scheduled (the
    backstop); a job that must run as well as the backstop, or is scheduled by the backstop itself
    while it runs, gets its own id ``beside`` it: held for the pace, looking again after a lease."""
    return f"otp-send-{request_id}-{beside}" if beside else f"otp-send-{request_id}"


def check_job_id(request_id: str, attempt: int, beside: str = "") -> str:
    """The id of the check job of a typed code; ``beside`` as in ``send_job_id``."""
    return f"otp-check-{request_id}-{attempt}-{beside}" if beside else f"otp-check-{request_id}-{attempt}"


class Backstop:
    """Schedules and cancels the send and check jobs of verification requests (on the queue of the
    hospital whose prefix is ``prefix``, with its job ids)."""

    def __init__(self, connection: redis_lib.Redis, *, prefix: str = ""):
        self.redis = connection
        self.prefix = prefix

    def schedule_send(self, request_id: str, delay: float, *, pipe=None, beside: str = "") -> None:
        """The send job of a request, ``delay`` seconds ahead; ``beside``: see ``send_job_id``."""
        enqueue_at(self.redis, after(delay), job_names.VERIFICATION_SEND_CODE, request_id, pipeline=pipe,
                   retry=SEND_RETRY, job_id=send_job_id(request_id, beside), description="send an OTP SMS",
                   prefix=self.prefix)

    def schedule_check(self, request_id: str, attempt: int, delay: float, *, pipe=None, beside: str = "") -> None:
        """The check job of the code typed for ``attempt``, ``delay`` seconds ahead."""
        enqueue_at(self.redis, after(delay), job_names.VERIFICATION_CHECK_CODE, request_id, attempt, pipeline=pipe,
                   retry=CHECK_RETRY, job_id=check_job_id(request_id, attempt, beside),
                   description="check an OTP code", prefix=self.prefix)

    def cancel(self, outcome: Outcome, pipe) -> None:
        """In ``pipe``: the patient has ``outcome``, so its backstop need not run."""
        if outcome.attempt is not None:
            self._cancel(check_job_id(outcome.request_id, outcome.attempt), pipe)
        elif outcome.final:  # not final ("on its way"): the backstop is the send held for its slot
            self._cancel(send_job_id(outcome.request_id), pipe)

    def tell_after_lease(self, outcome: Outcome) -> None:
        """A job that tells ``outcome`` once the telling now held has lapsed, unless the patient has it
        by then (it then finds it told, and stays silent)."""
        beside = f"again-{math.ceil(time.time() + TELLING_LEASE)}"
        if outcome.attempt is not None:
            self.schedule_check(outcome.request_id, outcome.attempt, TELLING_LEASE, beside=beside)
        else:
            self.schedule_send(outcome.request_id, TELLING_LEASE, beside=beside)

    def _cancel(self, job_id: str, pipe) -> None:
        job_id = job_prefix(self.prefix) + job_id  # as ``enqueue_at`` named it
        registry = ScheduledJobRegistry(queue=get_queue(self.redis, DEFAULT_QUEUE, prefix=self.prefix))
        registry.remove(job_id, pipeline=pipe)
        pipe.delete(Job.key_for(job_id))
