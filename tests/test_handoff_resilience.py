"""Handoff under failure and repetition: outages retried then failed (never lost), jobs safe to run twice,
timers (no-agent notice, idle close) that check the state when they run."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from bot import create_app
from bot.handoff import parse_business_hours
from bot.services import Services
from handlers.handoff import HandoffStore, mirror_outbox
from integrations.line import retry_key_for
from tests.conftest import make_settings
from tests.support import LineWebhook, text_event
from tests.handoff_stubs import (HOOK_TOKEN, LIVEDESK, OHO, OHO_KEY, USER, agent_event,  # noqa: F401
                                      http, line_extra, livedesk, make_due, oho, post_livedesk, pushes, replies,
                                      resolved_event, scheduled, services, settings)
from workers import handoff_jobs, runtime
from workers.queues import get_queue


def say(webhook, run_worker, text):
    event = text_event(text, user=USER)
    webhook.post([event])
    run_worker()
    return event


def failed_jobs(redis, func):
    registry = FailedJobRegistry(queue=get_queue(redis))
    return [job for job in registry.get_job_ids() if get_queue(redis).fetch_job(job).func_name == func]


def retry_until_failed(redis, run_worker, func):
    """Play RQ's scheduler through every backoff interval of ``func``'s retries."""
    rounds = 0
    while make_due(redis, func):
        run_worker()
        rounds += 1
        assert rounds < 10
    return rounds


def test_livedesk_outage_is_retried_then_failed_and_nothing_is_lost(webhook, run_worker, line_extra, oho,
                                                                    livedesk, redis):
    livedesk.down = True
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert len(replies(line_extra)) == 1  # the patient's answer does not wait for LiveDesk
    assert retry_until_failed(redis, run_worker, "workers.handoff_jobs.drain_mirror") == 5
    assert len(failed_jobs(redis, "workers.handoff_jobs.drain_mirror")) == 1
    assert [item["kind"] for item in mirror_outbox(redis).pending(USER)] == ["text", "note", "text"]
    assert livedesk.messages == []

    livedesk.down = False  # back: the next turn's drain posts everything, in order
    say(webhook, run_worker, "ยังรออยู่ค่ะ")
    assert [(m["message_type"], m["private"]) for m in livedesk.messages] == [
        ("incoming", False), ("outgoing", True), ("outgoing", False), ("incoming", False)]
    assert livedesk.public()[-1] == ("incoming", "ยังรออยู่ค่ะ")
    assert mirror_outbox(redis).pending(USER) == []


def test_oho_outage_is_retried_then_failed_and_can_be_requeued(webhook, run_worker, line_extra, oho, livedesk,
                                                               redis):
    oho.down = True
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert len(replies(line_extra)) == 1
    # The note still reaches staff, saying Oho could not be read.
    assert "Oho: อ่านข้อมูลไม่ได้ขณะนี้" in livedesk.notes()[0]
    retry_until_failed(redis, run_worker, "workers.handoff_jobs.request_agent")
    [job_id] = failed_jobs(redis, "workers.handoff_jobs.request_agent")
    assert oho.calls("POST", "/request-agent") == []  # create-contact failed first each time

    oho.down = False
    FailedJobRegistry(queue=get_queue(redis)).requeue(job_id)
    run_worker()
    assert len(oho.calls("POST", "/request-agent")) == 1
    assert oho.contact["labels"] == ["handoff"]


def test_rejected_mirror_item_is_set_aside_without_blocking_the_rest(webhook, run_worker, line_extra, oho,
                                                                      livedesk, redis):
    livedesk.reject.add("ข้อความที่ LiveDesk ไม่รับ")
    say(webhook, run_worker, "ข้อความที่ LiveDesk ไม่รับ")
    assert len(failed_jobs(redis, "workers.handoff_jobs.drain_mirror")) == 1
    assert scheduled(redis, "workers.handoff_jobs.drain_mirror") == []  # no retry: it would fail the same way
    assert redis.llen("livedesk:outbox:dead") == 1
    assert [kind for kind, _ in livedesk.public()] == ["outgoing"]  # the bot's answer still went in


def test_a_gone_conversation_is_replaced_and_old_replies_still_arrive(webhook, client, run_worker, line_extra,
                                                                     oho, livedesk):
    say(webhook, run_worker, "ที่จอดรถ")
    livedesk.gone.add(141)
    say(webhook, run_worker, "ขอบคุณค่ะ")
    assert [c["id"] for c in livedesk.conversations] == [141, 142]
    assert len(livedesk.contacts) == 1  # the contact is kept
    assert livedesk.messages[-2]["conversation"] == 142
    assert post_livedesk(client, agent_event(9100, conversation=141)).get_json()["outcome"] == "queued"
    assert post_livedesk(client, agent_event(9101, conversation=142)).get_json()["outcome"] == "queued"


def test_line_outage_for_an_agent_reply_retries_with_the_same_key(webhook, client, run_worker, line_extra, oho,
                                                                  livedesk, redis):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    line_extra.clear_all_handlers()
    line_extra.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    line_extra.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})
    post_livedesk(client, agent_event(9002))
    run_worker()
    assert make_due(redis, "workers.handoff_jobs.drain_to_patient") == 1
    run_worker()
    keys = [p.headers["X-Line-Retry-Key"] for p in pushes(line_extra)]
    assert keys == [retry_key_for("agent", "9002")] * 2
    assert HandoffStore(redis).transcript(USER)[-1]["who"] == "agent"


def test_jobs_run_twice_do_not_double_anything(webhook, client, run_worker, line_extra, oho, livedesk, redis,
                                               services):
    event = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    session = event["webhookEventId"]
    handoff_jobs.request_agent(USER, session)  # RQ runs jobs at least once
    assert len(oho.calls("PATCH")) == 1        # the label merge found nothing to change
    assert len(oho.calls("POST", "/request-agent")) == 2 and oho.room == "agent"  # 2nd answered 409

    note_item = {"item_id": f"note:{session}", "kind": "note", "text": "again"}
    handoff_jobs.LiveDeskMirror(services).post(USER, note_item)  # already posted: not again
    assert len(livedesk.notes()) == 1

    post_livedesk(client, resolved_event(141))
    run_worker()
    handoff_jobs.close_handoff(USER, session, "resolved", True)
    assert len(pushes(line_extra)) == 1
    assert len(livedesk.notes()) == 2  # the handoff note and one closing note


def test_no_agent_notice_is_sent_once_when_its_time_comes(webhook, run_worker, line_extra, oho, livedesk, redis):
    session = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    [job] = scheduled(redis, "workers.handoff_jobs.check_no_agent")
    due = ScheduledJobRegistry(queue=get_queue(redis)).get_scheduled_time(job)
    assert 9 * 60 < due.timestamp() - time.time() <= 10 * 60
    make_due(redis, "workers.handoff_jobs.check_no_agent")
    run_worker()
    [push] = pushes(line_extra)
    assert push.headers["X-Line-Retry-Key"] == retry_key_for("handoff-no-agent", session)
    assert "อยู่ในคิว" in push.get_json()["messages"][0]["text"]
    assert "อยู่ในคิว" in livedesk.public()[-1][1]
    handoff_jobs.check_no_agent(USER, session)  # a second run: nothing more
    assert len(pushes(line_extra)) == 1


def test_no_agent_notice_is_not_sent_once_an_agent_answered(webhook, client, run_worker, line_extra, oho,
                                                            livedesk, redis):
    session = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    post_livedesk(client, agent_event(9003))
    run_worker()
    handoff_jobs.check_no_agent(USER, session)
    assert [p.headers["X-Line-Retry-Key"] for p in pushes(line_extra)] == [retry_key_for("agent", "9003")]


def test_idle_check_waits_while_there_is_activity_then_closes(webhook, run_worker, line_extra, oho, livedesk,
                                                              redis):
    session = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    assert make_due(redis, "workers.handoff_jobs.check_idle") == 1
    run_worker()  # too early: it looks again later instead of closing
    assert oho.calls("POST", "/close-chat") == [] and HandoffStore(redis).state(USER) is not None
    assert len(scheduled(redis, "workers.handoff_jobs.check_idle")) == 1

    long_ago = time.time() - 2 * 3600
    HandoffStore(redis).update(USER, session, since=long_ago, last_patient=long_ago)
    make_due(redis, "workers.handoff_jobs.check_idle")
    run_worker()
    assert HandoffStore(redis).state(USER) is None
    assert len(oho.calls("POST", "/close-chat")) == 1
    [closing] = pushes(line_extra)
    assert "ไม่มีข้อความเพิ่มเติม" in closing.get_json()["messages"][0]["text"]


@pytest.fixture
def closed_settings(redis_server, line_stub):
    """Open one minute a week: it is (almost) always outside business hours."""
    return make_settings(redis_server, line_stub, oho_api_key=OHO_KEY, oho_base_url=OHO,
                         livedesk_api_key="ld-test-key", livedesk_api_secret="ld-test-secret",
                         livedesk_base_url=LIVEDESK, livedesk_inbox_id=79, livedesk_webhook_token=HOOK_TOKEN,
                         business_hours="Mon 00:00-00:01")


def test_outside_hours_the_patient_is_told_when_and_timers_start_at_opening(closed_settings, redis, line_extra,
                                                                           run_worker, oho, livedesk):
    hours = parse_business_hours(closed_settings.business_hours)
    if hours.is_open(dt.datetime.now(dt.timezone.utc)):
        pytest.skip("the one open minute of the week")
    services = Services(closed_settings, redis_connection=redis)
    runtime.install(services)
    try:
        webhook = LineWebhook(create_app(closed_settings, services=services).test_client())
        webhook.post([text_event("ขอคุยกับเจ้าหน้าที่", user=USER)])
        run_worker()
    finally:
        runtime.install(None)
    text = replies(line_extra)[0].get_json()["messages"][0]["text"]
    assert "ขณะนี้อยู่นอกเวลาทำการ" in text and "เวลา 00:00 น." in text
    [job] = scheduled(redis, "workers.handoff_jobs.check_no_agent")
    due = ScheduledJobRegistry(queue=get_queue(redis)).get_scheduled_time(job).timestamp()
    opening = hours.next_opening(dt.datetime.now(dt.timezone.utc))
    assert abs(due - (opening.timestamp() + 10 * 60)) < 5
