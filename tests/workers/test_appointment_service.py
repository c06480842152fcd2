"""Submitting appointments and sending their notices: dedup, kinds, token reuse, retries, failures.

MOPH is stubbed at the HTTP boundary (``responses``); jobs run in a real RQ worker.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import redis as redis_lib
import requests
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from bot.appointments import notice_kind, parse_appointment, parse_appointments
from tests.conftest import make_settings
from tests.flex_rules import assert_valid_flex
from tests.moph_support import (  # noqa: F401  (moph is a fixture)
    CIDS,
    HOSPITAL,
    MOPH_SETTINGS,
    SEND_NOW,
    appointment_row,
    future_day,
    moph,
    work,
)
from workers import job_names
from workers.queues import DEFAULT_QUEUE, get_queue
from workers.services import Services


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, **MOPH_SETTINGS)


@pytest.fixture
def notices(services):
    return services.build_appointment_notices()


def submit(notices, *rows):
    return notices.submit([parse_appointment(r) for r in rows])


def sent(moph):
    """(CIDs, altText of the first message) of every send-now that reached MOPH."""
    return [(b["datas"], b["messages"][0]["altText"]) for b in moph.bodies(SEND_NOW)]


# --- kinds --------------------------------------------------------------------

def test_notice_kind_follows_status_and_treats_a_moved_booking_as_a_change():
    booked = parse_appointment(appointment_row())
    moved = parse_appointment(appointment_row(time="13:00"))
    assert notice_kind(booked, None) == ("booked", None)
    assert notice_kind(booked, booked) == ("booked", None)
    assert notice_kind(moved, booked) == ("changed", booked)
    assert notice_kind(parse_appointment(appointment_row(status="changed")), None) == ("changed", None)
    assert notice_kind(parse_appointment(appointment_row(status="cancelled")), booked) == ("cancelled", None)
    cancelled = parse_appointment(appointment_row(status="cancelled"))
    assert notice_kind(moved, cancelled) == ("booked", None)


def test_parse_appointments_splits_good_and_bad_rows():
    good, bad = parse_appointments([appointment_row(), appointment_row(cid="1234567890123", date="x"), "nope"])
    assert len(good) == 1
    assert bad[0] == (1, {"cid": "check digit does not match (mistyped citizen ID?)",
                          "date": "must be a date written YYYY-MM-DD"})
    assert bad[1][0] == 2 and "appointment" in bad[1][1]


# --- sending --------------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_booked_appointment_sends_one_flex_notice_to_its_cid(notices, moph, redis):
    (result,) = submit(notices, appointment_row())
    assert (result.status, result.kind) == ("queued", "booked")
    assert moph.all_moph_calls() == []  # submitting never calls MOPH
    work(redis)
    (call,) = moph.calls(SEND_NOW)
    body = json.loads(call.request.body)
    assert body["datas"] == [CIDS[0]]
    (message,) = body["messages"]
    assert_valid_flex(message)
    assert message["altText"].startswith(f"ยืนยันการนัดหมาย {HOSPITAL}")
    assert CIDS[0] not in json.dumps(message)  # the CID addresses the notice, it is not shown
    assert call.request.headers["Authorization"] == f"Bearer {moph.token}"
    assert notices.statuses([result.notice_id])[0]["status"] == "sent"


@pytest.mark.usefixtures("jobs_here")
def test_token_is_fetched_once_for_many_notices(notices, moph, redis):
    submit(notices, *[appointment_row(f"A-{n}", CIDS[n]) for n in range(6)])
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 6
    assert len(moph.token_calls) == 1
    assert sorted(cids[0] for cids, _ in sent(moph)) == sorted(CIDS[:6])


@pytest.mark.usefixtures("jobs_here")
def test_same_notice_is_never_pushed_twice(notices, moph, redis):
    row = appointment_row()
    first, again_in_same_call = submit(notices, row, row)
    assert (first.status, again_in_same_call.status) == ("queued", "skipped-duplicate")
    work(redis)
    (later,) = submit(notices, dict(row, clinic="  " + row["clinic"]))
    assert later.status == "skipped-duplicate"
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 1
    assert notices.statuses([first.notice_id])[0]["status"] == "sent"  # a duplicate leaves it as it was


@pytest.mark.usefixtures("jobs_here")
def test_a_rerun_job_does_not_send_again(notices, moph, redis):
    submit(notices, appointment_row())
    work(redis)
    queue = get_queue(redis, DEFAULT_QUEUE)
    (job_id,) = queue.finished_job_registry.get_job_ids()
    queue.enqueue_job(Job.fetch(job_id, connection=redis, serializer=queue.serializer))  # as a retry would
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 1


@pytest.mark.usefixtures("jobs_here")
def test_change_and_cancel_send_their_own_notices(notices, moph, redis):
    booked = submit(notices, appointment_row())[0]
    work(redis)
    changed = submit(notices, appointment_row(time="14:00", status="changed"))[0]
    moved_again = submit(notices, appointment_row(time="15:00"))[0]  # "booked" at another time: a change
    cancelled = submit(notices, appointment_row(time="15:00", status="cancelled"))[0]
    assert [r.kind for r in (booked, changed, moved_again, cancelled)] == ["booked", "changed", "changed",
                                                                         "cancelled"]
    assert len({r.notice_id for r in (booked, changed, moved_again, cancelled)}) == 4
    work(redis)
    titles = [alt.split(" ")[0] for _, alt in sent(moph)]
    # The two changes were superseded by the cancellation before a worker got to them.
    assert titles == ["ยืนยันการนัดหมาย", "ยกเลิกนัดหมาย"]
    statuses = [s["status"] for s in notices.statuses([changed.notice_id, moved_again.notice_id])]
    assert statuses == ["skipped-superseded", "skipped-superseded"]


@pytest.mark.usefixtures("jobs_here")
def test_changed_notice_shows_the_previous_time_struck_through(notices, moph, redis):
    submit(notices, appointment_row(time="09:30"))
    work(redis)
    submit(notices, appointment_row(time="14:00", status="changed"))
    work(redis)
    message = moph.bodies(SEND_NOW)[1]["messages"][0]
    assert_valid_flex(message)
    text = json.dumps(message, ensure_ascii=False)
    assert "นัดเดิม" in text and "09:30 น." in text and "14:00 น." in text
    assert '"decoration": "line-through"' in text


@pytest.mark.usefixtures("jobs_here")
def test_cancellation_of_an_unknown_appointment_is_still_sent(notices, moph, redis):
    (result,) = submit(notices, appointment_row(status="cancelled"))
    work(redis)
    assert result.kind == "cancelled" and len(moph.calls(SEND_NOW)) == 1


def test_jobs_and_redis_names_hold_no_cid_and_no_plain_hash(notices, redis):
    submit(notices, appointment_row())
    queue = get_queue(redis, DEFAULT_QUEUE)
    jobs = [Job.fetch(i, connection=redis, serializer=queue.serializer) for i in queue.job_ids]
    reminders = ScheduledJobRegistry(queue=queue).get_job_ids()
    jobs += [Job.fetch(i, connection=redis, serializer=queue.serializer) for i in reminders]
    assert len(jobs) == 2
    for job in jobs:  # RQ logs descriptions, and arguments when a job fails
        assert CIDS[0] not in job.description and "A-1001" not in job.description
        assert CIDS[0] not in json.dumps(job.args) and "A-1001" not in json.dumps(job.args)
    names = b" ".join(redis.keys("*")).decode()
    plain = [hashlib.sha256(text.encode()).hexdigest()[:32] for text in ("A-1001", CIDS[0])]
    assert CIDS[0] not in names and "A-1001" not in names
    assert not any(digest in names for digest in plain)  # a plain hash is undone by trying every id


# --- failures ----------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_401_refreshes_the_token_once_and_retries(notices, moph, redis):
    moph.replace("POST", SEND_NOW, json={"message": "token expired", "message_code": 401})
    moph.mock.add("POST", SEND_NOW, json={"message": "", "message_code": 200})
    (result,) = submit(notices, appointment_row())
    # responses answers registrations for one URL in turn: first 401, then 200.
    work(redis)
    assert len(moph.token_calls) == 2
    assert len(moph.calls(SEND_NOW)) == 2
    assert notices.statuses([result.notice_id])[0]["status"] == "sent"


@pytest.mark.usefixtures("jobs_here")
def test_a_gateway_error_is_uncertain_and_never_repeated(notices, moph, redis):
    moph.replace("POST", SEND_NOW, status=503, json={"message": "maintenance"})  # no MOPH error code
    (result,) = submit(notices, appointment_row())
    work(redis)
    assert notices.statuses([result.notice_id])[0]["status"] == "uncertain"
    assert len(moph.calls(SEND_NOW)) == 1
    assert FailedJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE)).get_job_ids() == []


@pytest.mark.usefixtures("jobs_here")
def test_server_error_is_retried_later(notices, moph, redis):
    moph.replace("POST", SEND_NOW, status=500, json={"message": "maintenance", "message_code": 500})
    (result,) = submit(notices, appointment_row())
    work(redis)
    status = notices.statuses([result.notice_id])[0]
    assert status["status"] == "retrying" and "maintenance" in status["error"]
    queue = get_queue(redis, DEFAULT_QUEUE)
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 2  # the retry and the reminder
    assert FailedJobRegistry(queue=queue).get_job_ids() == []


@pytest.mark.usefixtures("jobs_here")
def test_rate_limit_in_a_200_is_retried(notices, moph, redis):
    moph.replace("POST", SEND_NOW, json={"message": "มีการร้องขอบ่อยเกินไป", "message_code": 200})
    (result,) = submit(notices, appointment_row())
    work(redis)
    assert notices.statuses([result.notice_id])[0]["status"] == "retrying"


@pytest.mark.usefixtures("jobs_here")
def test_permanent_error_fails_at_once_and_frees_the_notice(notices, moph, redis):
    moph.replace("POST", SEND_NOW, json={"message": f"cid {CIDS[0]} not found", "message_code": 400})
    (result,) = submit(notices, appointment_row())
    work(redis)
    status = notices.statuses([result.notice_id])[0]
    assert status["status"] == "failed"
    assert CIDS[0] not in status["error"] and CIDS[0][-4:] in status["error"]
    queue = get_queue(redis, DEFAULT_QUEUE)
    assert len(FailedJobRegistry(queue=queue).get_job_ids()) == 1
    assert len(moph.calls(SEND_NOW)) == 1  # not retried
    # Fixed at MOPH's end: submitting again is not a duplicate, and it goes out.
    moph.replace("POST", SEND_NOW, json={"message": "", "message_code": 200})
    assert submit(notices, appointment_row())[0].status == "queued"
    work(redis)
    assert notices.statuses([result.notice_id])[0]["status"] == "sent"


def test_missing_moph_settings_fail_the_notice_with_a_reason(redis_server, line_stub, redis, moph, jobs_here):
    from workers.services import Services

    unconfigured = jobs_here(Services(make_settings(redis_server, line_stub, **dict(MOPH_SETTINGS, moph_user=None)),
                                      redis_connection=redis))
    (result,) = unconfigured.build_appointment_notices().submit([parse_appointment(appointment_row())])
    work(redis)
    status = unconfigured.build_appointment_notices().statuses([result.notice_id])[0]
    assert status["status"] == "failed" and "MOPH_USER" in status["error"]
    assert moph.all_moph_calls() == []


def test_dates_of_appointments_are_kept_in_redis_for_changes(notices):
    submit(notices, appointment_row(date=future_day(3)))
    latest = notices.latest("A-1001")
    assert latest.date.isoformat() == future_day(3) and latest.cid == CIDS[0]
    assert notices.latest("A-unknown") is None


# --- at most once ---------------------------------------------------------------

def retry_notices_now(redis):
    """Queue the notice jobs waiting for a retry now, as the scheduler would later (reminders stay)."""
    queue = get_queue(redis, DEFAULT_QUEUE)
    for job in map(queue.fetch_job, queue.scheduled_job_registry.get_job_ids()):
        if job.func_name == job_names.APPOINTMENT_SEND_NOTICE:
            queue.scheduled_job_registry.remove(job)
            queue.enqueue_job(job)


@pytest.mark.usefixtures("jobs_here")
def test_a_send_without_an_answer_is_uncertain_and_never_repeated(notices, moph, redis):
    # The request left; MOPH may have pushed it before the answer was lost.
    moph.replace("POST", SEND_NOW, body=requests.ReadTimeout("read timed out"))
    (result,) = submit(notices, appointment_row())
    work(redis)
    status = notices.statuses([result.notice_id])[0]
    assert status["status"] == "uncertain" and "หมอพร้อม" in status["error"]
    queue = get_queue(redis, DEFAULT_QUEUE)
    assert FailedJobRegistry(queue=queue).get_job_ids() == []
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1  # the reminder only: no retry
    # RQ runs a job again after its worker died mid-call: that run must not push either.
    moph.replace("POST", SEND_NOW, json={"message": "", "message_code": 200})
    (job_id,) = queue.finished_job_registry.get_job_ids()
    queue.enqueue_job(Job.fetch(job_id, connection=redis, serializer=queue.serializer))
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 1
    assert notices.statuses([result.notice_id])[0]["status"] == "uncertain"
    assert submit(notices, appointment_row())[0].status == "skipped-duplicate"


@pytest.mark.usefixtures("jobs_here")
def test_a_connection_that_never_reached_moph_is_retried(notices, moph, redis):
    moph.replace("POST", SEND_NOW, body=requests.ConnectTimeout("connect timed out"))
    (result,) = submit(notices, appointment_row())
    work(redis)
    assert notices.statuses([result.notice_id])[0]["status"] == "retrying"
    assert len(moph.calls(SEND_NOW)) == 3  # nothing left the machine: repeated in-process too
    moph.replace("POST", SEND_NOW, json={"message": "", "message_code": 200})
    retry_notices_now(redis)
    work(redis)
    assert notices.statuses([result.notice_id])[0]["status"] == "sent"
    assert len(moph.calls(SEND_NOW)) == 4


@pytest.mark.usefixtures("jobs_here")
def test_a_refused_submission_leaves_no_claim_behind(settings, notices, moph, redis, redis_server):
    # Redis refuses to queue the job (here an ACL; in production e.g. out of memory): the claim,
    # the stored appointment and the reminders must not stay behind, or the notice would read
    # "skipped-duplicate" for 400 days without ever being sent.
    redis.acl_setuser("no-enqueue", enabled=True, passwords=["+no-enqueue-pw"], keys=["*"],
                      commands=["+@all", "-rpush", "-lpush"])
    limited = redis_lib.Redis.from_url(redis_server.url, username="no-enqueue", password="no-enqueue-pw")
    try:
        refused = Services(settings, redis_connection=limited).build_appointment_notices()
        with pytest.raises(redis_lib.exceptions.ResponseError):
            submit(refused, appointment_row())
    finally:
        limited.close()
        redis.acl_deluser("no-enqueue")
    assert redis.keys("appt:*") == [] and redis.keys("rq:*") == []
    (again,) = submit(notices, appointment_row())
    assert again.status == "queued"
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 1
