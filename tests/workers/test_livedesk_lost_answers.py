"""A mirrored post LiveDesk made whose answer was lost (the connection reset after LiveDesk made it):
LiveDesk's message API has no idempotency key, so the next attempt reads the conversation back and
adopts the message instead of posting it again (LIVEDESK_READ_BACK); with read-back off, or no read
endpoint, it is posted again, with a WARNING. Nothing of the message text reaches the logs."""

from __future__ import annotations

import logging

import pytest

from tests.handoff_stubs import (  # noqa: F401
    USER,
    agent_event,
    handoff_settings,
    http,
    line_extra,
    livedesk,
    oho,
    post_livedesk,
    pushes,
    services,
)
from tests.support import play_backoffs, text_event
from workers.handoff.mirror_drains import queue_staff_note
from workers.handoff.store import mirror_outbox

QUESTION = "ที่จอดรถ"
NOTE = "หมายเหตุถึงเจ้าหน้าที่: ผู้ป่วยขอเลื่อนนัด"


@pytest.fixture
def settings(redis_server, line_stub, request):
    return handoff_settings(redis_server, line_stub, livedesk_read_back=getattr(request, "param", "on"))


@pytest.fixture(autouse=True)
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def our_logs(caplog) -> str:
    """The service's log lines (the LINE stub's own access log quotes the user's profile path)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] != "werkzeug")


def say(webhook, run_worker, text: str) -> None:
    webhook.post([text_event(text, user=USER)])
    run_worker()


def next_try(redis, run_worker) -> None:
    """The item's backoff runs out: the sweeper starts its drain, a worker runs it."""
    assert play_backoffs(redis) == 1
    run_worker()


def made(livedesk, content: str, message_type: str | None = None) -> list[dict]:
    return [m for m in livedesk.messages if m["content"] == content
            and (message_type is None or m["message_type"] == message_type)]


def bot_answer(services) -> str:
    return services.dialog.answer_topic("parking").messages[0]["text"]


def image_event() -> dict:
    image = text_event("", user=USER)
    image["message"] = {"type": "image", "id": "468789577898262530", "contentProvider": {"type": "line"}}
    return image


def nothing_pending(redis) -> bool:
    return not mirror_outbox(redis).has_pending(USER) and not redis.keys("livedesk:attempt:*")


@pytest.mark.parametrize("kind", ["incoming", "outgoing", "note", "attachment"])
def test_a_post_whose_answer_was_lost_is_adopted_not_posted_again(kind, webhook, client, run_worker, line_extra,
                                                                 oho, livedesk, redis, services, caplog):
    content, message_type = {"incoming": (QUESTION, "incoming"), "outgoing": (bot_answer(services), "outgoing"),
                             "note": (NOTE, None), "attachment": ("", "incoming")}[kind]
    if kind in ("note", "attachment"):
        say(webhook, run_worker, "สวัสดีค่ะ")  # the conversation exists
    livedesk.reset.add(content)  # LiveDesk makes it, then the connection is reset: the answer is lost
    if kind == "note":
        queue_staff_note(redis, USER, "note-1", NOTE)
        run_worker()
    elif kind == "attachment":
        webhook.post([image_event()])
        run_worker()
    else:
        say(webhook, run_worker, QUESTION)
    [first] = made(livedesk, content, message_type)
    assert mirror_outbox(redis).has_pending(USER) and livedesk.reads == []  # due again on its backoff

    next_try(redis, run_worker)
    assert made(livedesk, content, message_type) == [first]  # read back and adopted: one message in LiveDesk
    assert livedesk.reads and nothing_pending(redis)
    assert redis.exists(f"livedesk:posted:{first['id']}")  # its webhook echo is known as ours
    if kind == "incoming":
        assert made(livedesk, bot_answer(services), "outgoing")  # the rest followed, in order
        assert livedesk.messages.index(first) < livedesk.messages.index(made(livedesk, bot_answer(services))[0])
    if kind == "outgoing":
        for key in redis.keys("livedesk:in-flight:*"):
            redis.delete(key)  # long after: only the adopted id tells the echo from an agent's reply
        assert post_livedesk(client, agent_event(first["id"], content)).get_json()["outcome"] == "echo"
        run_worker()
        assert pushes(line_extra) == []
    assert "LiveDesk made the earlier post" in caplog.text
    assert (content or QUESTION) not in caplog.text and USER not in our_logs(caplog)


def test_an_earlier_post_of_the_same_words_is_not_taken_for_the_lost_one(webhook, run_worker, line_extra, oho,
                                                                        livedesk, redis):
    say(webhook, run_worker, QUESTION)
    livedesk.unavailable.add(QUESTION)  # the second one is answered 503 and never made
    say(webhook, run_worker, QUESTION)
    assert len(made(livedesk, QUESTION)) == 1
    next_try(redis, run_worker)
    assert livedesk.reads and len(made(livedesk, QUESTION)) == 2 and nothing_pending(redis)


def test_a_failing_read_back_retries_the_item_and_never_posts_blind(webhook, run_worker, line_extra, oho,
                                                                   livedesk, redis, caplog):
    livedesk.reset.add(QUESTION)
    say(webhook, run_worker, QUESTION)
    livedesk.read_back_down = True
    next_try(redis, run_worker)
    assert len(made(livedesk, QUESTION)) == 1 and livedesk.reads == []  # 503: no answer, nothing posted
    assert mirror_outbox(redis).has_pending(USER)
    livedesk.read_back_down = False
    next_try(redis, run_worker)
    assert len(made(livedesk, QUESTION)) == 1 and nothing_pending(redis)
    assert QUESTION not in caplog.text


@pytest.mark.parametrize("settings", ["off"], indirect=True)
def test_with_read_back_off_the_lost_post_is_posted_again_with_a_warning(webhook, run_worker, line_extra, oho,
                                                                        livedesk, redis, caplog):
    livedesk.reset.add(QUESTION)
    say(webhook, run_worker, QUESTION)
    next_try(redis, run_worker)
    assert len(made(livedesk, QUESTION)) == 2 and livedesk.reads == [] and nothing_pending(redis)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and "posting it again" in r.getMessage()]
    assert "LIVEDESK_READ_BACK=off" in warning.getMessage() and "twice" in warning.getMessage()
    assert QUESTION not in caplog.text and USER not in our_logs(caplog)


@pytest.mark.parametrize("settings", ["auto", "on"], indirect=True)
@pytest.mark.parametrize("refusal", [True, 422], ids=["404", "422"])
def test_without_a_read_endpoint_the_lost_post_is_posted_again_with_a_warning(webhook, run_worker, line_extra, oho,
                                                                             livedesk, redis, caplog, refusal):
    livedesk.read_back_missing = refusal  # the EngageLab document shows no read endpoint: 404
    livedesk.reset.add(QUESTION)
    say(webhook, run_worker, QUESTION)
    next_try(redis, run_worker)
    assert len(made(livedesk, QUESTION)) == 2 and nothing_pending(redis)
    assert any(r.levelno == logging.WARNING and "cannot read it back" in r.getMessage() for r in caplog.records)
    assert QUESTION not in caplog.text


def test_the_attempt_marker_holds_no_text_and_expires(webhook, run_worker, line_extra, oho, livedesk, redis):
    livedesk.reset.add(QUESTION)
    say(webhook, run_worker, QUESTION)
    [key] = redis.keys("livedesk:attempt:*")
    assert 0 < redis.ttl(key) <= 24 * 3600
    stored = b" ".join(k + b" " + v for k, v in redis.hgetall(key).items())
    assert QUESTION.encode() not in stored
