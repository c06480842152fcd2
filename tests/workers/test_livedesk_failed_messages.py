"""A mirrored message LiveDesk answers with ``status: "failed"`` (EngageLab LiveDesk "ส่งข้อความ",
"การตอบกลับเมื่อล้มเหลว"): never posted twice, retried with ``/retry`` on the outbox item's own
backoff while the patient's later items wait, then one private note for staff, and on it goes."""

from __future__ import annotations

import logging
import time

import pytest

from bot.privacy import mask
from tests.handoff_stubs import (  # noqa: F401
    USER,
    http,
    line_extra,
    livedesk,
    oho,
    scheduled,
    services,
    settings,
)
from tests.support import play_backoffs, text_event
from workers.handoff.mirror import FAILED_RETRIES
from workers.handoff.store import mirror_outbox

QUESTION = "ที่จอดรถ"
DRAIN = "workers.handoff.jobs.drain_mirror"


def say(webhook, run_worker, text):
    webhook.post([text_event(text, user=USER)])
    run_worker()


def posts_of(livedesk, content: str) -> list[dict]:
    return [m for m in livedesk.messages if m["content"] == content]


def bot_answer(services) -> str:
    return services.dialog.answer_topic("parking").messages[0]["text"]


def next_try(redis, run_worker) -> None:
    """The item's backoff runs out: the sweeper starts its drain, a worker runs it."""
    assert play_backoffs(redis) == 1
    run_worker()


def test_a_message_that_fails_twice_is_posted_once_and_retried_on_the_items_backoff(
        webhook, run_worker, line_extra, oho, livedesk, redis, services):
    livedesk.fail[QUESTION] = 2  # the post's answer and the first retry's say failed
    say(webhook, run_worker, QUESTION)
    [made] = posts_of(livedesk, QUESTION)
    assert made["status"] == "failed"
    assert posts_of(livedesk, bot_answer(services)) == []  # the bot's answer waits behind it, in order
    outbox = mirror_outbox(redis)
    for attempt in (1, 2):
        due_in = redis.zscore(outbox.due_key, USER) - time.time()
        assert outbox.retry_delay(attempt) - 2 < due_in <= outbox.retry_delay(attempt)
        next_try(redis, run_worker)
        assert livedesk.retried == [made["id"]] * attempt

    assert posts_of(livedesk, QUESTION) == [made] and made["status"] == "sent"
    assert [m["content"] for m in livedesk.messages] == [QUESTION, bot_answer(services)]
    assert livedesk.notes() == []
    assert redis.llen("livedesk:outbox:dead") == 0  # done, not set aside
    assert scheduled(redis, DRAIN) == []  # the item's backoff, not RQ's Retry
    assert outbox.pending(USER) == [] and redis.keys("livedesk:failed:*") == []


def test_a_message_that_keeps_failing_ends_in_one_note_for_staff_and_the_chat_goes_on(
        webhook, run_worker, line_extra, oho, livedesk, redis, services, caplog):
    caplog.set_level(logging.INFO)
    livedesk.fail[QUESTION] = 99
    say(webhook, run_worker, QUESTION)
    [made] = posts_of(livedesk, QUESTION)
    for _ in range(FAILED_RETRIES - 1):
        next_try(redis, run_worker)
        assert livedesk.notes() == [] and posts_of(livedesk, bot_answer(services)) == []
    next_try(redis, run_worker)  # the last retry fails too: staff are told, the item is done

    assert livedesk.retried == [made["id"]] * FAILED_RETRIES
    assert posts_of(livedesk, QUESTION) == [made]  # never posted again
    [note] = [m for m in livedesk.messages if m["private"]]
    assert note["in_reply_to"] == made["id"]  # shown under the failed message
    assert note["content"].startswith("⚠️ LiveDesk ส่งข้อความจากผู้ป่วย")
    assert f"#{made['id']}" in note["content"] and "131047: Re-engagement message is not allowed" in note["content"]
    assert f"ลองส่งใหม่ {FAILED_RETRIES} ครั้ง" in note["content"]
    # In order: the failed message, the note under it, then what waited behind them.
    assert [m["content"] for m in livedesk.messages] == [QUESTION, note["content"], bot_answer(services)]
    assert mirror_outbox(redis).pending(USER) == [] and redis.keys("livedesk:failed:*") == []
    assert play_backoffs(redis) == 0  # nothing left to retry: no second note, ever

    say(webhook, run_worker, "ขอบคุณค่ะ")  # the next messages of the patient go in at once
    assert livedesk.messages[-2]["content"] == "ขอบคุณค่ะ" and livedesk.messages[-2]["status"] == "sent"
    assert len(livedesk.notes()) == 1
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "workers.handoff.mirror" and r.levelno == logging.WARNING]
    assert any("given up" in w and str(made["id"]) in w and mask(USER) in w for w in warnings)


def test_a_second_drain_after_the_failure_only_retries_never_posts_again(
        run_worker, line_extra, oho, livedesk, redis, services, http):
    """The drain that saw the failure died before the outbox knew (the item is due at once)."""
    livedesk.fail[QUESTION] = 1
    handoff = services.handoff
    mirror_outbox(redis).append(USER, "in:crash", {"kind": "text", "direction": "incoming", "text": QUESTION})
    [item] = mirror_outbox(redis).pending(USER)
    with pytest.raises(Exception, match="failed"):
        handoff.livedesk_mirror.post(USER, item)  # answered failed and recorded; then the worker is gone
    [made] = posts_of(livedesk, QUESTION)

    handoff.drain_mirror(USER)
    handoff.drain_mirror(USER)  # and once more: done is done
    message_posts = [c for c in http.calls if c.request.method == "POST" and c.request.url.endswith("/messages")]
    assert len(message_posts) == 1
    assert livedesk.retried == [made["id"]] and made["status"] == "sent"
    assert mirror_outbox(redis).pending(USER) == [] and livedesk.notes() == []


def test_a_retry_whose_answer_was_lost_is_not_retried_into_a_note(
        webhook, run_worker, line_extra, oho, livedesk, redis, services):
    """LiveDesk did the retry but its answer timed out: the next /retry is refused (422, no longer
    failed), which means it went through. No new post, no note."""
    livedesk.fail[QUESTION] = 1
    livedesk.retry_time_out = True
    say(webhook, run_worker, QUESTION)
    [made] = posts_of(livedesk, QUESTION)
    next_try(redis, run_worker)  # the retry times out: the item backs off again
    assert made["status"] == "sent" and posts_of(livedesk, bot_answer(services)) == []
    next_try(redis, run_worker)
    assert livedesk.retried == [made["id"], made["id"]]
    assert [m["content"] for m in livedesk.messages] == [QUESTION, bot_answer(services)]
    assert livedesk.notes() == []
    assert redis.llen("livedesk:outbox:dead") == 0  # done, not set aside


def test_a_failed_message_deleted_in_livedesk_is_noted_not_posted_again(
        webhook, run_worker, line_extra, oho, livedesk, redis, services):
    livedesk.fail[QUESTION] = 99
    say(webhook, run_worker, QUESTION)
    [made] = posts_of(livedesk, QUESTION)
    livedesk.messages.remove(made)  # an agent deleted it: its /retry answers 404
    next_try(redis, run_worker)
    assert posts_of(livedesk, QUESTION) == []
    [note] = [m for m in livedesk.messages if m["private"]]
    assert f"#{made['id']}" in note["content"] and note["in_reply_to"] is None
    assert livedesk.messages[-1]["content"] == bot_answer(services)
    assert redis.llen("livedesk:outbox:dead") == 0 and mirror_outbox(redis).pending(USER) == []


def test_a_note_that_fails_too_is_dropped_not_looped(webhook, run_worker, line_extra, oho, livedesk, redis,
                                                      services, caplog):
    livedesk.fail[QUESTION] = 99
    livedesk.fail_notes = True
    say(webhook, run_worker, QUESTION)
    for _ in range(FAILED_RETRIES):
        next_try(redis, run_worker)
    [made] = posts_of(livedesk, QUESTION)
    [note] = [m for m in livedesk.messages if m["private"]]
    assert note["status"] == "failed"
    assert livedesk.retried == [made["id"]] * FAILED_RETRIES  # never the note's
    assert livedesk.messages[-1]["content"] == bot_answer(services)  # the chat went on
    assert play_backoffs(redis) == 0 and mirror_outbox(redis).pending(USER) == []
    assert redis.llen("livedesk:outbox:dead") == 0
    assert any("dropped" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_no_patient_text_phone_or_user_id_in_the_note_or_the_logs(webhook, run_worker, line_extra, oho,
                                                                  livedesk, redis, services, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "ปวดท้องมากค่ะ เบอร์ 0891234567"
    livedesk.fail[secret] = 99
    livedesk.external_error = "number 0891234567 is not on WhatsApp"  # the channel may quote the number
    say(webhook, run_worker, secret)
    for _ in range(FAILED_RETRIES):
        next_try(redis, run_worker)
    [note] = livedesk.notes()
    assert "0891234567" not in note and "ปวดท้อง" not in note and "…4567" in note
    # Everything the service logged (werkzeug's lines are the LINE stub server's own access log).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "given up" in logged  # the logs were captured
    for leak in ("0891234567", "ปวดท้อง", USER):
        assert leak not in logged
    assert all(b"0891234567" not in redis.dump(k) for k in redis.keys("livedesk:failed:*"))
