"""Jobs that push appointment notices, reminders and announcements through MOPH Alert.

Thin: the deciding (sent already? superseded? cancelled?) is in
``workers.appointments.delivery`` and ``workers.appointments.announcements``. 429/5xx/timeouts are
retried by RQ with backoff; errors a retry cannot fix go straight to the failed
registry. Either way the notice's status in Redis says what happened.

Arguments name what to send (an appointment ref, a notice id, a chunk id); the
CIDs are read from Redis, so RQ never logs one.
"""

from __future__ import annotations

from bot.settings import SettingsError
from workers.appointments import announcements
from workers.runtime import fail_fast, fail_without_retry, final_attempt, services


def send_notice(appointment_ref: str, notice_id: str, kind: str) -> str:
    """Send one booked/changed/cancelled notice (at most once)."""
    return _run(lambda: services().appointment_delivery.deliver_notice(
        appointment_ref, notice_id, kind, final_attempt=final_attempt()))


def send_reminder(appointment_ref: str, notice_id: str, rule: str) -> str:
    """Send one scheduled reminder, if the appointment still stands as scheduled."""
    return _run(lambda: services().appointment_delivery.deliver_reminder(
        appointment_ref, notice_id, rule, final_attempt=final_attempt()))


def send_announcement_chunk(chunk_id: str, messages: list[dict], upload: str = "json") -> str:
    """Upload one chunk of CIDs and send the announcement to them (at most once)."""
    s = services()
    return _run(lambda: announcements.deliver_chunk(s.redis, lambda: s.moph, chunk_id, messages, upload,
                                                    final_attempt=final_attempt(), prefix=s.hospital.prefix))


def _run(work):
    try:
        return work()
    except (ValueError, SettingsError) as exc:  # bad data or no MOPH settings: a retry cannot help
        fail_without_retry(exc)
    except Exception as exc:
        fail_fast(exc)
