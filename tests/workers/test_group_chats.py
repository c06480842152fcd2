"""Groups and rooms over the webhook: answers stay in the group, verification only in 1:1 chats,
and a redelivered event without ``webhookEventId`` is still recognised."""

from __future__ import annotations

import copy

import pytest

from tests.support import text_event
from tests.verification_support import (  # noqa: F401  (fixtures used by name)
    SMS_SETTINGS,
    USER,
    provider,
    rsps,
    settings,
    sms,
)
from workers.line.inbox import event_id

GROUP = "C" + "1" * 32
ROOM = "R" + "2" * 32


def group_event(text: str, kind: str = "group", chat: str = GROUP, **extra) -> dict:
    event = text_event(text, user=USER, **extra)
    event["source"] = {"type": kind, f"{kind}Id": chat, "userId": USER}
    return event


def sent_to(line_stub) -> list[tuple[str, str]]:
    return [(request.path, request.get_json().get("to", "")) for request, _ in line_stub.log
            if request.path.startswith("/v2/bot/message/")]


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("kind, chat", [("group", GROUP), ("room", ROOM)])
def test_a_pushed_answer_to_a_group_message_goes_to_the_group(webhook, run_worker, line_stub, sms, kind, chat):
    event = group_event("ที่จอดรถอยู่ไหน", kind, chat)
    del event["replyToken"]  # no reply token: the answer is pushed
    assert webhook.post([event]).status_code == 200
    run_worker()
    assert sent_to(line_stub) == [("/v2/bot/message/push", chat)]


@pytest.mark.parametrize("provider", ["sepsms"])
def test_verification_is_refused_in_a_group_and_nothing_is_stored(webhook, run_worker, line_stub, sms, redis):
    for text in ("ยืนยันตัวตน", "0812345678"):
        event = group_event(text)
        del event["replyToken"]
        webhook.post([event])
        run_worker()
    first = [r for r, _ in line_stub.log if r.path == "/v2/bot/message/push"][0].get_json()
    assert first["to"] == GROUP and "แชทส่วนตัว" in first["messages"][0]["text"]
    assert sms.sends == [] and redis.keys("verify:*") == []


def test_a_redelivered_event_without_an_id_is_recognised(webhook, run_worker, line_stub):
    event = text_event("ที่จอดรถอยู่ไหน")
    del event["webhookEventId"]
    again = copy.deepcopy(event)
    again["deliveryContext"] = {"isRedelivery": True}
    assert event_id(event) == event_id(again)
    webhook.post([event])
    answer = webhook.post([again])
    assert answer.status_code == 200
    run_worker()
    assert len(sent_to(line_stub)) == 1
