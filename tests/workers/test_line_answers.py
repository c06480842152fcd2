"""Webhook → real RQ worker → LINE stub: the right answer, once, by reply or by push."""

import json

from rq.registry import FailedJobRegistry

from integrations.line import retry_key_for
from tests.support import ACCESS_TOKEN, play_backoffs, text_event
from workers.queues import LINE_QUEUE, get_queue

USER = "U" + "d" * 32


def requests_to(line_stub, path):
    return [request for request, _ in line_stub.log if request.path == path]


def test_text_message_gets_one_reply_with_the_matching_topic(webhook, run_worker, line_stub, services):
    event = text_event("โรงพยาบาลเปิดกี่โมงคะ", user=USER)
    assert webhook.post([event]).status_code == 200
    run_worker()
    replies = requests_to(line_stub, "/v2/bot/message/reply")
    assert len(replies) == 1
    body = replies[0].get_json()
    assert body["replyToken"] == event["replyToken"]
    assert body["messages"] == services.dialog.answer_topic("hours").messages
    assert replies[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert requests_to(line_stub, "/v2/bot/message/push") == []


def test_follow_postback_and_sticker_are_answered(webhook, run_worker, line_stub, services):
    follow = text_event("", user=USER, type="follow", follow={"isUnblocked": False})
    del follow["message"]
    postback = text_event("", user=USER, type="postback", postback={"data": "action=topic&id=parking"})
    del postback["message"]
    sticker = text_event("", user=USER)
    sticker["message"] = {"type": "sticker", "id": "1", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC"}
    webhook.post([follow, postback, sticker])
    run_worker()
    bodies = [r.get_json() for r in requests_to(line_stub, "/v2/bot/message/reply")]
    assert [b["replyToken"] for b in bodies] == [follow["replyToken"], postback["replyToken"], sticker["replyToken"]]
    assert bodies[0]["messages"] == services.dialog.on_follow().messages
    assert bodies[1]["messages"] == services.dialog.answer_topic("parking").messages
    assert bodies[2]["messages"] == services.dialog.on_other_message("sticker").messages


def test_expired_reply_token_falls_back_to_an_idempotent_push(webhook, run_worker, line_stub):
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "Invalid reply token"}, status=400)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})
    event = text_event("ที่จอดรถ", user=USER)
    webhook.post([event])
    run_worker()
    assert len(requests_to(line_stub, "/v2/bot/message/reply")) == 1
    [push] = requests_to(line_stub, "/v2/bot/message/push")
    assert push.get_json()["to"] == USER
    assert push.headers["X-Line-Retry-Key"] == retry_key_for("answer", event["webhookEventId"])


def test_a_retried_job_never_reuses_the_reply_token_and_pushes_with_the_same_key(webhook, run_worker, line_stub, redis):
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "Internal error"}, status=500)
    line_stub.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    event = text_event("ขอบคุณค่ะ", user=USER)
    webhook.post([event])
    run_worker()  # reply fails, push fails: the event is kept, due again after its backoff
    assert redis.llen(f"line:inbox:{USER}") == 1

    line_stub.expect_request("/v2/bot/message/push").respond_with_json({}, status=409)  # LINE: already accepted
    assert play_backoffs(redis) == 1  # the sweeper starts the retry when it is due
    run_worker()
    assert len(requests_to(line_stub, "/v2/bot/message/reply")) == 1
    pushes = requests_to(line_stub, "/v2/bot/message/push")
    assert len(pushes) == 2
    assert {p.headers["X-Line-Retry-Key"] for p in pushes} == {retry_key_for("answer", event["webhookEventId"])}
    assert redis.llen(f"line:inbox:{USER}") == 0


def test_rejected_messages_fail_without_retry_and_show_in_failed_registry(webhook, run_worker, line_stub, redis):
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "The request body has 1 error(s)"}, status=400)
    webhook.post([text_event("สวัสดี", user=USER)])
    run_worker()
    failed = FailedJobRegistry(queue=get_queue(redis, LINE_QUEUE))
    assert failed.count == 1
    assert requests_to(line_stub, "/v2/bot/message/push") == []  # a push would fail the same way
    assert redis.llen("line:dead-events") == 1


def test_unknown_event_types_are_ignored(webhook, run_worker, line_stub, redis):
    odd = text_event("", user=USER, type="somethingNew")
    del odd["message"]
    webhook.post([odd])
    run_worker()
    assert line_stub.log == []
    assert FailedJobRegistry(queue=get_queue(redis, LINE_QUEUE)).count == 0


class BrokenFeature:
    """A conversation feature whose state store is down."""

    def on_turn(self, turn, proposed, reads):
        raise ConnectionError("redis down")

    def after_send(self, turn, proposed, sent, reads):
        pass


def test_an_emergency_is_answered_even_when_a_feature_breaks(services, line_stub, redis):
    from tests.support import text_event
    from workers.line.events import LineEventHandler
    handler = LineEventHandler(services.dialog, services.line, redis, [BrokenFeature()], prefix="")
    event = text_event("เจ็บหน้าอก หายใจไม่ออก", user=USER)
    import pytest
    with pytest.raises(ConnectionError):
        handler.handle(event)
    [reply] = requests_to(line_stub, "/v2/bot/message/reply")
    assert reply.get_json()["messages"] == services.dialog.answer_emergency().messages
    assert "1669" in json.dumps(reply.get_json(), ensure_ascii=False)


def test_push_quota_exhausted_is_not_retried(services, line_stub):
    from integrations.errors import ProviderError
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/push").respond_with_json(
        {"message": "You have reached your monthly limit."}, status=429)
    import pytest
    with pytest.raises(ProviderError) as caught:
        services.line.push(USER, [{"type": "text", "text": "hi"}], retry_key_for("x"))
    assert caught.value.status == 429 and not caught.value.retryable


def test_retry_keys_are_stable_per_event_and_differ_between_events():
    assert retry_key_for("answer", "01A") == retry_key_for("answer", "01A")
    assert retry_key_for("answer", "01A") != retry_key_for("answer", "01B")
    assert retry_key_for("answer", "01A") != retry_key_for("agent", "01A")
