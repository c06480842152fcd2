"""Jobs that push appointment notices, reminders and announcements through MOPH Alert.

Thin: the deciding (sent already? superseded? cancelled?) is in
``bot.appointment_service`` and ``bot.announcements``. 429/5xx/timeouts are
retried by RQ with backoff; errors a retry cannot fix go straight to the failed
registry. Either way the notice's status in Redis says what happened.
"""

from __future__ import annotations

from contextlib import contextmanager

from rq import get_current_job

from bot.announcements import deliver_chunk
from bot.appointment_service import AppointmentNotices
from bot.appointments import parse_appointment
from bot.settings import SettingsError
from integrations.errors import ProviderError
from workers.runtime import fail_without_retry, services


def send_notice(appointment: dict, kind: str, previous: dict | None = None) -> str:
    """Send one booked/changed/cancelled notice (at most once)."""
    notices = AppointmentNotices.from_services(services())
    with _permanent_errors_fail_at_once():
        return notices.deliver_notice(parse_appointment(appointment), kind,
                                      parse_appointment(previous) if previous else None,
                                      final_attempt=_final_attempt())


def send_reminder(appointment: dict, rule: str) -> str:
    """Send one scheduled reminder, if the appointment still stands as scheduled."""
    notices = AppointmentNotices.from_services(services())
    with _permanent_errors_fail_at_once():
        return notices.deliver_reminder(parse_appointment(appointment), rule, final_attempt=_final_attempt())


def send_announcement_chunk(chunk_id: str, cids: list[str], messages: list[dict], upload: str = "json") -> str:
    """Upload one chunk of CIDs and send the announcement to them (at most once)."""
    s = services()
    with _permanent_errors_fail_at_once():
        return deliver_chunk(s.redis, lambda: s.moph, chunk_id, cids, messages, upload,
                             final_attempt=_final_attempt())


def _final_attempt() -> bool:
    # RQ stores retries_left 0 as None: both mean this run is the last one.
    job = get_current_job()
    return job is None or not job.retries_left


@contextmanager
def _permanent_errors_fail_at_once():
    try:
        yield
    except ProviderError as exc:
        if not exc.retryable:
            fail_without_retry(exc)
        raise
    except (ValueError, SettingsError) as exc:  # bad data or no MOPH settings: a retry cannot help
        fail_without_retry(exc)
