"""Reminders: scheduled per REMINDER_SCHEDULE with RQ's scheduler, moved, removed, re-checked, sent once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot.appointments import BANGKOK, parse_appointment
from tests.conftest import make_settings
from tests.flex_rules import assert_valid_flex
from tests.moph_support import (  # noqa: F401  (moph is a fixture)
    CIDS,
    MOPH_SETTINGS,
    SEND_NOW,
    appointment_row,
    moph,
    work,
)
from workers.appointments.notices import REMINDER_QUEUE, AppointmentNotices
from workers.appointments.records import naming_key
from workers.queues import get_queue


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, reminder_schedule="1d@09:00,2h", **MOPH_SETTINGS)


def notices_at(services, now: dt.datetime) -> AppointmentNotices:
    """The service as if it were ``now`` (for deciding which reminders are still ahead)."""
    return services.build_appointment_notices(now=lambda: now)


def scheduled(redis) -> dict[str, dt.datetime]:
    """Scheduled reminder job id -> when, as RQ's registry holds it."""
    registry = ScheduledJobRegistry(queue=get_queue(redis, REMINDER_QUEUE))
    return {job_id: registry.get_scheduled_time(job_id).astimezone(BANGKOK)
            for job_id in registry.get_job_ids()}


def reminders_sent(moph) -> list[dict]:
    return [b for b in moph.bodies(SEND_NOW) if b["messages"][0]["altText"].startswith("แจ้งเตือนนัดหมาย")]


def appointment_at(starts: dt.datetime, **overrides):
    return parse_appointment(appointment_row(date=starts.date().isoformat(), time=starts.strftime("%H:%M"),
                                             **overrides))


def soon(minutes: int) -> dt.datetime:
    """A whole minute about ``minutes`` from now, in Bangkok."""
    return (dt.datetime.now(BANGKOK) + dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)


# --- scheduling -------------------------------------------------------------

def test_booked_appointment_schedules_each_reminder_of_the_schedule(services, redis):
    now = dt.datetime(2030, 3, 1, 8, 0, tzinfo=BANGKOK)
    (result,) = notices_at(services, now).submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30))])
    expected = [dt.datetime(2030, 3, 9, 9, 0, tzinfo=BANGKOK), dt.datetime(2030, 3, 10, 11, 30, tzinfo=BANGKOK)]
    assert sorted(scheduled(redis).values()) == expected
    assert list(result.reminders) == expected


def test_reminders_already_past_are_not_scheduled(services, redis):
    now = dt.datetime(2030, 3, 9, 10, 0, tzinfo=BANGKOK)  # after 09:00 the day before
    notices_at(services, now).submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30))])
    assert list(scheduled(redis).values()) == [dt.datetime(2030, 3, 10, 11, 30, tzinfo=BANGKOK)]


def test_a_change_moves_the_reminders(services, redis):
    notices = notices_at(services, dt.datetime(2030, 3, 1, 8, 0, tzinfo=BANGKOK))
    notices.submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30))])
    old_ids = set(scheduled(redis))
    notices.submit([appointment_at(dt.datetime(2030, 3, 12, 8, 0), status="changed")])
    now_scheduled = scheduled(redis)
    assert sorted(now_scheduled.values()) == [dt.datetime(2030, 3, 11, 9, 0, tzinfo=BANGKOK),
                                              dt.datetime(2030, 3, 12, 6, 0, tzinfo=BANGKOK)]
    assert not old_ids & set(now_scheduled)
    assert not any(redis.exists(Job.key_for(job_id)) for job_id in old_ids)  # the old jobs are gone


def test_a_cancellation_removes_the_reminders(services, redis):
    notices = notices_at(services, dt.datetime(2030, 3, 1, 8, 0, tzinfo=BANGKOK))
    notices.submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30))])
    old_ids = set(scheduled(redis))
    assert len(old_ids) == 2
    notices.submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30), status="cancelled")])
    assert scheduled(redis) == {}
    assert not any(redis.exists(Job.key_for(job_id)) for job_id in old_ids)


def test_a_repeated_submission_keeps_one_set_of_reminders(services, redis):
    notices = notices_at(services, dt.datetime(2030, 3, 1, 8, 0, tzinfo=BANGKOK))
    for _ in range(3):
        notices.submit([appointment_at(dt.datetime(2030, 3, 10, 13, 30))])
    assert len(scheduled(redis)) == 2


# --- sending ----------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_reminder_due_in_two_seconds_goes_out_once_through_the_real_scheduler(services, redis, moph):
    appointment = appointment_at(soon(90))
    notices = services.build_appointment_notices()
    notices.submit([appointment])  # the booked notice; its reminders are hours away
    work(redis)
    due = dt.datetime.now(BANGKOK) + dt.timedelta(seconds=2)
    notices.schedule_reminder(appointment, "2h", due, job_id="test-reminder")

    deadline = time.monotonic() + 60  # a bound for a loaded machine; it ends as soon as the send is seen
    while not reminders_sent(moph) and time.monotonic() < deadline:
        work(redis, with_scheduler=True)  # the scheduler moves due jobs to the queue; the worker runs them
        time.sleep(0.1)  # polling interval, not synchronisation: the loop waits for the send itself
    sent_at = dt.datetime.now(BANGKOK)
    assert reminders_sent(moph), f"no reminder sent in 60 s; Redis keys: {sorted(k.decode() for k in redis.keys('rq:*'))}"
    (body,) = reminders_sent(moph)
    assert sent_at >= due.replace(microsecond=0)  # RQ's scheduler keeps whole seconds
    assert body["datas"] == [CIDS[0]]
    assert_valid_flex(body["messages"][0])
    work(redis, with_scheduler=True)
    assert len(reminders_sent(moph)) == 1


@pytest.mark.usefixtures("jobs_here")
def test_submitted_reminder_runs_when_due_and_only_once(services, redis, moph):
    starts = soon(50)
    # Submitted "two seconds before" the 1-hour reminder (which is really ~10 minutes ago): it is
    # scheduled, and the scheduler finds it due at once.
    reminder_at = starts - dt.timedelta(hours=1)
    notices = AppointmentNotices(redis, key=naming_key(services.settings), reminder_schedule="1h", prefix="",
                                 now=lambda: reminder_at - dt.timedelta(seconds=2))
    (result,) = notices.submit([appointment_at(starts)])
    assert list(result.reminders) == [reminder_at]
    work(redis, with_scheduler=True)
    work(redis, with_scheduler=True)
    assert len(reminders_sent(moph)) == 1
    status = notices.statuses([notices.reminder_notice_id(appointment_at(starts), "1h")])[0]
    assert status["status"] == "sent" and status["kind"] == "reminder"


@pytest.mark.usefixtures("jobs_here")
def test_cancelled_appointments_reminder_never_goes_out(services, redis, moph):
    starts = soon(90)
    notices = services.build_appointment_notices()
    notices.submit([appointment_at(starts)])
    notices.submit([appointment_at(starts, status="cancelled")])
    # Even a reminder job that escaped the removal (say, already in the queue) re-checks and stays silent.
    stray = notices.schedule_reminder(appointment_at(starts), "2h", dt.datetime.now(BANGKOK) - dt.timedelta(seconds=1))
    work(redis, with_scheduler=True)
    assert reminders_sent(moph) == []
    titles = [b["messages"][0]["altText"].split(" ")[0] for b in moph.bodies(SEND_NOW)]
    assert titles == ["ยกเลิกนัดหมาย"]  # the booking was superseded before it went out
    assert stray.get_status(refresh=True) == "finished"
    status = notices.statuses([notices.reminder_notice_id(appointment_at(starts), "2h")])[0]
    assert status["status"] == "skipped-cancelled"


@pytest.mark.usefixtures("jobs_here")
def test_reminder_for_a_moved_appointment_stays_silent(services, redis, moph):
    starts = soon(90)
    notices = services.build_appointment_notices()
    notices.submit([appointment_at(starts)])
    notices.submit([appointment_at(starts + dt.timedelta(days=1), status="changed")])
    notices.schedule_reminder(appointment_at(starts), "1h", dt.datetime.now(BANGKOK) - dt.timedelta(seconds=1))
    work(redis, with_scheduler=True)
    assert reminders_sent(moph) == []
    status = notices.statuses([notices.reminder_notice_id(appointment_at(starts), "1h")])[0]
    assert status["status"] == "skipped-moved"


def test_reminder_after_the_appointment_has_started_stays_silent(services, redis, moph):
    starts = soon(90)
    services.build_appointment_notices().submit([appointment_at(starts)])
    late = services.build_appointment_delivery(now=lambda: starts + dt.timedelta(minutes=1))
    notice_id = late.reminder_notice_id(appointment_at(starts), "1h")
    late.deliver_reminder(late.appointment_ref("A-1001"), notice_id, "1h")
    assert reminders_sent(moph) == []
    assert late.statuses([notice_id])[0]["status"] == "skipped-past"
