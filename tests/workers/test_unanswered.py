"""What the bot could not answer, counted for the hospital: signed webhook -> real RQ worker -> real Redis,
read back with ``flask bot unanswered``; taken back by ``flask pdpa erase``; and the answers-by-topic metric."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq.registry import FailedJobRegistry

from bot.privacy import mask
from bot.thai_dates import BANGKOK
from integrations.metrics import render
from tests.conftest import make_settings
from tests.support import FakeClock, text_event
from workers.queues import get_queue
from workers.unanswered import MAX_PER_USER_PER_DAY, UnansweredQuestions, day_key, user_key

USER = "U" + "1" * 32
OTHER = "U" + "2" * 32
CAT = "แมวชื่อส้ม 3 ขวบ ไลน์ somchai@mail.com 0812345678"   # made-up address and number
CAT_MASKED = "แมวชื่อส้ม # ขวบ ไลน์ @ #"
SOUP = "ขอสูตรแกงเขียวหวาน 2 ที่"
SOUP_MASKED = "ขอสูตรแกงเขียวหวาน # ที่"


def ask(webhook, run_worker, text, user=USER, **extra):
    event = text_event(text, user=user, **extra)
    assert webhook.post([event]).status_code == 200
    run_worker()
    return event


def unanswered(app, *args) -> str:
    result = app.test_cli_runner().invoke(args=["bot", "unanswered", *args])
    assert result.exit_code == 0, result.output
    return result.output


def listed(output: str) -> dict[str, int]:
    """The phrasing -> count lines of ``flask bot unanswered``."""
    rows = [line.strip().split("  ", 1) for line in output.splitlines() if line.startswith("  ")]
    return {said: int(count) for count, said in rows}


def test_an_unanswered_question_is_listed_with_its_digits_masked_and_no_user(webhook, run_worker, app, redis):
    ask(webhook, run_worker, CAT)
    output = unanswered(app)
    assert listed(output) == {CAT_MASKED: 1}
    for leak in ("081", "5678", "3 ขวบ", "somchai", "mail.com", USER, mask(USER)):
        assert leak not in output
    # Nor next to the phrasing in Redis: the day's list holds phrasings and counts only.
    today = dt.datetime.now(BANGKOK).date()
    assert redis.zrange(day_key(today), 0, -1, withscores=True) == [(CAT_MASKED.encode(), 1.0)]


def test_asked_twice_it_counts_two_most_frequent_first(webhook, run_worker, app):
    ask(webhook, run_worker, SOUP)
    ask(webhook, run_worker, CAT)
    ask(webhook, run_worker, CAT.replace("3", "5"))  # another age: the same masked phrasing
    output = unanswered(app)
    assert listed(output) == {CAT_MASKED: 2, SOUP_MASKED: 1}
    assert output.index(CAT_MASKED) < output.index(SOUP_MASKED)
    assert listed(unanswered(app, "--limit", "1")) == {CAT_MASKED: 2}


def test_pdpa_erase_takes_the_senders_questions_back_and_leaves_the_others(webhook, run_worker, app, redis):
    ask(webhook, run_worker, CAT, user=USER)
    ask(webhook, run_worker, SOUP, user=USER)
    ask(webhook, run_worker, CAT, user=OTHER)
    assert listed(unanswered(app)) == {CAT_MASKED: 2, SOUP_MASKED: 1}

    erased = app.test_cli_runner().invoke(args=["pdpa", "erase", USER, "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "questions the bot could not answer, taken off the counts (2)" in erased.output
    assert listed(unanswered(app)) == {CAT_MASKED: 1}
    assert not redis.exists(user_key(USER)) and redis.exists(user_key(OTHER))


def test_an_unfollow_takes_the_users_questions_back_too(webhook, run_worker, app, redis):
    ask(webhook, run_worker, CAT)
    unfollow = text_event("", user=USER, type="unfollow")
    del unfollow["message"], unfollow["replyToken"]
    webhook.post([unfollow])
    run_worker()
    assert "No unanswered questions" in unanswered(app)
    assert list(redis.scan_iter("unanswered:*")) == []


def test_topic_answers_emergencies_and_group_messages_are_not_recorded(webhook, run_worker, app, redis, line_stub):
    ask(webhook, run_worker, "เปิดกี่โมงคะ")
    ask(webhook, run_worker, "แม่เจ็บหน้าอก หายใจไม่ออก")
    ask(webhook, run_worker, CAT, source={"type": "group", "groupId": "C" + "3" * 32, "userId": USER})
    assert len([r for r, _ in line_stub.log if r.path == "/v2/bot/message/reply"]) == 3  # all answered
    assert "No unanswered questions in the last 7 days." in unanswered(app)
    assert list(redis.scan_iter("unanswered:*")) == []


def test_everything_recorded_expires(redis_server, line_stub, redis):
    settings = make_settings(redis_server, line_stub, bot_unanswered_days=3)
    from workers.services import Services

    questions = Services(settings, redis_connection=redis).unanswered
    assert questions.record(USER, "event-1", CAT)
    today = dt.datetime.now(BANGKOK).date()
    # Today's list goes at the start of the day three days on: today and the two days before are kept.
    assert 2 * 86400 < redis.ttl(day_key(today)) <= 3 * 86400
    assert 3 * 86400 - 5 <= redis.ttl(user_key(USER)) <= 3 * 86400


def test_nothing_is_recorded_with_zero_days(redis_server, line_stub, redis):
    from handlers.app import create_app
    from workers.services import Services

    settings = make_settings(redis_server, line_stub, bot_unanswered_days=0)
    services = Services(settings, redis_connection=redis)
    assert not any(type(f).__name__ == "UnansweredRecorder" for f in services.conversation_features)
    assert not services.unanswered.record(USER, "event-1", CAT)
    app = create_app(settings, services=services)
    assert "Recording is off (BOT_UNANSWERED_DAYS=0)" in unanswered(app)
    assert list(redis.scan_iter("unanswered:*")) == []


def test_a_failure_to_record_never_fails_the_turn(webhook, run_worker, redis, line_stub, caplog):
    redis.set(user_key(USER), "not a hash")  # recording now fails with WRONGTYPE
    with caplog.at_level(logging.WARNING, logger="workers.unanswered"):
        ask(webhook, run_worker, CAT)
    assert len([r for r, _ in line_stub.log if r.path == "/v2/bot/message/reply"]) == 1
    assert redis.llen(f"line:inbox:{USER}") == 0
    assert FailedJobRegistry(queue=get_queue(redis)).count == 0
    [warning] = [r for r in caplog.records if r.name == "workers.unanswered"]
    assert warning.levelno == logging.WARNING and "ResponseError" in warning.getMessage()
    assert "แมว" not in caplog.text and "081" not in caplog.text


def test_a_retried_turn_counts_once(services, redis, app):
    event = text_event(CAT, user=USER)
    services.line_events.handle(event)
    services.line_events.handle(event)  # after_send runs again; LINE is not called again
    assert listed(unanswered(app)) == {CAT_MASKED: 1}


# -- the store, on a clock of its own ------------------------------------------------------------------
def at(day: int, hour: int, minute: int = 0) -> FakeClock:
    return FakeClock(dt.datetime(2026, 3, day, hour, minute, tzinfo=BANGKOK))


def test_a_days_list_lasts_until_its_last_day_ends(redis):
    clock = at(10, 23, 30)
    UnansweredQuestions(redis, 1, clock, prefix="").record(USER, "e1", SOUP)
    assert 1795 <= redis.ttl("unanswered:day:2026-03-10") <= 1800  # with one day kept: until midnight


def test_the_last_n_days_are_read_by_bangkok_day(redis):
    clock = at(10, 23, 59)
    questions = UnansweredQuestions(redis, 30, clock, prefix="")
    questions.record(USER, "e1", SOUP)
    clock.advance(minutes=2)  # 00:01 on the 11th in Bangkok (still the 10th in UTC)
    questions.record(OTHER, "e2", CAT)
    assert questions.most_asked(1, 10) == [(CAT_MASKED, 1)]
    assert questions.most_asked(2, 10) == [(SOUP_MASKED, 1), (CAT_MASKED, 1)]  # a tie: in text order


def test_a_users_record_drops_days_no_longer_kept_and_caps_a_day(redis):
    clock = at(10, 9)
    questions = UnansweredQuestions(redis, 2, clock, prefix="")
    questions.record(USER, "old", SOUP)
    clock.advance(2 * 86400)
    for number in range(MAX_PER_USER_PER_DAY + 5):
        questions.record(USER, f"e{number}", CAT)
    fields = [field.decode() for field in redis.hkeys(user_key(USER))]
    assert len(fields) == MAX_PER_USER_PER_DAY and all(f.startswith("2026-03-12|") for f in fields)
    assert questions.most_asked(1, 10) == [(CAT_MASKED, MAX_PER_USER_PER_DAY)]


# -- the answers-by-topic metric -------------------------------------------------------------------------
def answers_by_topic() -> dict[str, float]:
    text = render()[0].decode()
    return {sample.labels["topic"]: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "linebot_bot_answers_total"
            and sample.labels.get("hospital") == "default"}  # other tests' hospitals count apart


def test_the_answers_metric_counts_topics_and_unknown(webhook, run_worker):
    before = answers_by_topic()
    ask(webhook, run_worker, "เปิดกี่โมงคะ")
    ask(webhook, run_worker, CAT)
    ask(webhook, run_worker, SOUP)
    after = answers_by_topic()
    assert after.get("hours", 0) - before.get("hours", 0) == 1
    assert after.get("unknown", 0) - before.get("unknown", 0) == 2


@pytest.mark.parametrize("intent, label", [("hours", "hours"), ("unknown", "unknown"),
                                           ("handoff_offer", "handoff_offer"), ("แมว 081", "other")])
def test_a_topic_label_is_a_topic_id_or_a_fixed_intent_never_free_text(services, intent, label):
    assert services.dialog.topic_label(intent) == label
