"""Jobs of the phone verification (enqueued by the feature, the store and the service). Thin: the service does the work.

Arguments are request ids and LINE user ids only: the phone number and the typed
code stay in Redis values (``workers.verification.store``), out of job data and logs.
"""

from __future__ import annotations

from workers.runtime import current_job_id, fail_fast, final_attempt, services


def send_code(request_id: str) -> None:
    """Text the OTP of one request (at most once) and push the outcome, unless the patient has it:
    a turn's backstop, a send held for the provider's pace, or a retry."""
    _run(lambda service: service.send_code(request_id, final=final_attempt(), holder=_holder()))


def check_code(request_id: str, attempt: int) -> None:
    """Check one typed code and push the outcome, unless the turn told it (the backstop, a retry)."""
    _run(lambda service: service.check_code(request_id, attempt, final=final_attempt(), holder=_holder()))


def tell_undelivered(request_id: str) -> None:
    """Tell the patient the OTP SMS did not arrive, offering a new code."""
    _run(lambda service: service.tell_undelivered(request_id))


def update_contact(user_id: str) -> None:
    """Put the verified phone, the ``verified`` tag and the time on the patient's Oho contact."""
    _run(lambda service: service.update_contact(user_id))


def _holder() -> str | None:
    """The running job's name when it claims the telling of an outcome: its RQ retries keep it."""
    job_id = current_job_id()
    return f"job:{job_id}" if job_id is not None else None


def _run(work) -> None:
    try:
        work(services().verification)
    except Exception as exc:
        fail_fast(exc)
