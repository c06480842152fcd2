"""Handoff under failure and repetition: outages retried then failed (never lost), jobs safe to run twice,
a post that timed out after LiveDesk made it, an emergency when Redis refuses the handoff's writes."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from tests.handoff_stubs import (  # noqa: F401
    USER,
    QuickServices,
    agent_event,
    http,
    line_extra,
    livedesk,
    make_due,
    oho,
    post_livedesk,
    pushes,
    replies,
    resolved_event,
    scheduled,
    services,
    settings,
)
from tests.support import play_backoffs, text_event
from workers.handoff import jobs as handoff_jobs
from workers.handoff.store import mirror_outbox
from bot.turn import Turn
from workers.line.events import TurnReads
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


def test_livedesk_outage_is_retried_on_the_items_backoff_and_nothing_is_lost(webhook, run_worker, line_extra, oho,
                                                                           livedesk, redis):
    livedesk.down = True
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert len(replies(line_extra)) == 1  # the patient's answer does not wait for LiveDesk
    outbox = mirror_outbox(redis)
    for attempt in (1, 2, 3):  # each failure schedules the next try further out; nothing is lost
        due_in = redis.zscore(outbox.due_key, USER) - time.time()
        assert outbox.retry_delay(attempt) - 2 < due_in <= outbox.retry_delay(attempt)
        assert play_backoffs(redis) == 1
        run_worker()
    assert failed_jobs(redis, "workers.handoff.jobs.drain_mirror") == []  # an outage is not a failure
    assert [item["kind"] for item in outbox.pending(USER)] == ["text", "note", "text"]
    assert livedesk.messages == []

    livedesk.down = False  # back: the next try posts everything, in order
    play_backoffs(redis)
    run_worker()
    say(webhook, run_worker, "ยังรออยู่ค่ะ")
    assert [(m["message_type"], m["private"]) for m in livedesk.messages] == [
        ("incoming", False), ("outgoing", True), ("outgoing", False), ("incoming", False)]
    assert livedesk.public()[-1] == ("incoming", "ยังรออยู่ค่ะ")
    assert outbox.pending(USER) == []


def test_oho_outage_is_retried_then_failed_and_can_be_requeued(webhook, run_worker, line_extra, oho, livedesk,
                                                               redis):
    oho.down = True
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert len(replies(line_extra)) == 1
    # The note still reaches staff, saying Oho could not be read.
    assert "Oho: อ่านข้อมูลไม่ได้ขณะนี้" in livedesk.notes()[0]
    retry_until_failed(redis, run_worker, "workers.handoff.jobs.request_agent")
    [job_id] = failed_jobs(redis, "workers.handoff.jobs.request_agent")
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
    assert len(failed_jobs(redis, "workers.handoff.jobs.drain_mirror")) == 1
    assert scheduled(redis, "workers.handoff.jobs.drain_mirror") == []  # no retry: it would fail the same way
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
                                                                  livedesk, redis, services):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    line_extra.clear_all_handlers()
    line_extra.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    line_extra.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})
    post_livedesk(client, agent_event(9002))
    run_worker()
    assert play_backoffs(redis) == 1  # the agent's reply waits out its backoff, then goes again
    run_worker()
    post_livedesk(client, agent_event(9003, "อีกข้อความค่ะ"))
    run_worker()
    first, retry, other = [p.headers["X-Line-Retry-Key"] for p in pushes(line_extra)]
    assert first == retry      # the same message, retried: LINE sends it once
    assert other != first      # another agent message: its own key
    assert services.build_handoff().store.transcript(USER)[-1]["who"] == "agent"


def test_jobs_run_twice_do_not_double_anything(webhook, client, run_worker, line_extra, oho, livedesk, redis,
                                               services):
    event = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    session = event["webhookEventId"]
    handoff_jobs.request_agent(USER, session)  # RQ runs jobs at least once
    assert len(oho.calls("PATCH")) == 1        # the label merge found nothing to change
    assert len(oho.calls("POST", "/request-agent")) == 2 and oho.room == "agent"  # 2nd answered 409

    note_item = {"item_id": f"note:{session}", "kind": "note", "text": "again"}
    services.build_handoff().livedesk_mirror.post(USER, note_item)  # already posted: not again
    assert len(livedesk.notes()) == 1

    post_livedesk(client, resolved_event(141))
    run_worker()
    handoff_jobs.close_handoff(USER, session, "resolved", True)
    assert len(pushes(line_extra)) == 1
    assert len(livedesk.notes()) == 2  # the handoff note and one closing note


def test_no_agent_notice_is_sent_once_when_its_time_comes(webhook, run_worker, line_extra, oho, livedesk, redis):
    session = say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    [job] = scheduled(redis, "workers.handoff.jobs.check_no_agent")
    due = ScheduledJobRegistry(queue=get_queue(redis)).get_scheduled_time(job)
    assert 9 * 60 < due.timestamp() - time.time() <= 10 * 60
    make_due(redis, "workers.handoff.jobs.check_no_agent")
    run_worker()
    [push] = pushes(line_extra)
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
    [agent_reply] = pushes(line_extra)
    assert "อยู่ในคิว" not in agent_reply.get_data(as_text=True)


def test_an_echo_of_a_post_that_timed_out_is_not_an_agent_reply(webhook, client, run_worker, line_extra, oho,
                                                                 livedesk, redis, services):
    """LiveDesk made the bot's message but its answer never came: the echo must not go back to the patient."""
    parking = services.dialog.answer_topic("parking").messages[0]["text"]
    livedesk.time_out.add(parking)
    say(webhook, run_worker, "ที่จอดรถ")
    [made] = [m for m in livedesk.messages if m["content"] == parking]
    assert redis.zscore(mirror_outbox(redis).due_key, USER) > time.time()  # the post is retried later
    echo = agent_event(made["id"], parking)  # posted with the API's agent token: it looks like an agent's
    assert post_livedesk(client, echo).get_json()["outcome"] == "echo"
    run_worker()
    assert pushes(line_extra) == []


@pytest.fixture
def no_rq_writes(redis_server, redis):
    """A Redis connection allowed everything but RQ's keys: the handoff's jobs cannot be queued."""
    redis.acl_setuser("handoff-no-rq", enabled=True, nopass=True, commands=["+@all"],
                      keys=["handoff:*", "livedesk:*", "line:*", "verify:*", "oho:*"])
    limited = redis_lib.Redis.from_url(redis_server.url, username="handoff-no-rq", password="")
    yield limited
    limited.close()
    redis.acl_deluser("handoff-no-rq")


def test_an_emergency_gets_1669_even_when_the_handoff_cannot_open(settings, redis, no_rq_writes):
    """Opening writes the state and queues its jobs in one transaction: no half-open handoff without timers."""
    limited = QuickServices(settings, redis_connection=no_rq_writes)
    [feature, *_] = limited.conversation_features
    event = text_event("พ่อหายใจไม่ออกค่ะ", user=USER)
    emergency = limited.dialog.on_text("พ่อหายใจไม่ออกค่ะ")
    assert emergency.intent == "emergency"

    answer = feature.on_turn(Turn.parse(event), emergency, TurnReads())
    assert answer.messages == emergency.messages  # 1669, whatever failed
    assert not redis.exists(f"handoff:state:{USER}")  # nothing half done
    assert mirror_outbox(redis).pending(USER) == []


def test_an_emergency_during_a_handoff_gets_1669_even_when_escalating_fails(settings, redis, no_rq_writes,
                                                                           services):
    [feature, *_] = services.conversation_features
    opening = text_event("ขอคุยกับเจ้าหน้าที่", user=USER)
    feature.on_turn(Turn.parse(opening), services.dialog.on_text("ขอคุยกับเจ้าหน้าที่"), TurnReads())
    assert redis.exists(f"handoff:state:{USER}")

    [limited_feature, *_] = QuickServices(settings, redis_connection=no_rq_writes).conversation_features
    emergency = services.dialog.on_text("เจ็บหน้าอกมากค่ะ")
    answer = limited_feature.on_turn(Turn.parse(text_event("เจ็บหน้าอกมากค่ะ", user=USER)), emergency, TurnReads())
    assert answer.messages == emergency.messages
    assert redis.hget(f"handoff:state:{USER}", "urgent") == b"0"  # not flagged without its note and Oho label
