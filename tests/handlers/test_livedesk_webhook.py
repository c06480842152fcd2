"""POST /webhooks/livedesk/<token>: guard (token, signature, size, JSON shape), filters, queueing; no HTTP inside."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from bot.handoff.state import HandoffState
from tests.conftest import make_settings
from tests.handoff_stubs import HOOK_TOKEN, LIVEDESK, OHO, OHO_KEY, USER, agent_event, resolved_event, services  # noqa: F401
from workers.handoff.store import patient_outbox
from workers.queues import get_queue

SECRET = "ld-webhook-secret-not-real-0123456789ab"


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, oho_api_key=OHO_KEY, oho_base_url=OHO,
                         livedesk_api_key="ld-test-key", livedesk_api_secret="ld-test-secret",
                         livedesk_base_url=LIVEDESK, livedesk_inbox_id=79, livedesk_webhook_token=HOOK_TOKEN,
                         livedesk_webhook_secret=SECRET, max_webhook_bytes=2000)


@pytest.fixture
def store(services):
    return services.build_handoff().store


@pytest.fixture
def known_conversation(store):
    store.set_conversation(USER, 141)


def queued(redis) -> list[str]:
    return [job.func_name for job in get_queue(redis).jobs]


def signed(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Chatwoot-Signature": f"sha256={digest}", "X-Chatwoot-Timestamp": str(timestamp),
            "Content-Type": "application/json"}


def post_livedesk(client, payload, token: str = HOOK_TOKEN):
    """Post an event signed as Chatwoot signs (this module's settings have a webhook secret)."""
    body = json.dumps(payload).encode()
    return client.post(f"/webhooks/livedesk/{token}", data=body, headers=signed(body))


def test_agent_reply_is_queued_for_the_patient_without_calling_out(client, redis, line_stub, known_conversation,
                                                                   store):
    response = post_livedesk(client, agent_event(9001, "ผลแล็บปกติค่ะ"))
    assert response.status_code == 200 and response.get_json()["outcome"] == "queued"
    assert queued(redis) == ["workers.handoff.jobs.drain_to_patient"]
    [item] = patient_outbox(redis).pending(USER)
    assert item["content"] == "ผลแล็บปกติค่ะ" and item["message_id"] == "9001"
    assert line_stub.log == []
    # Nothing changes before the drain has read the message back: only then may it open a handoff.
    assert store.state(USER) is None


@pytest.mark.parametrize("token", ["wrong-token", HOOK_TOKEN[:-1], HOOK_TOKEN + "x"])
def test_wrong_token_is_404_and_nothing_is_done(client, redis, known_conversation, token):
    response = post_livedesk(client, agent_event(9001), token=token)
    assert response.status_code == 404
    assert queued(redis) == [] and patient_outbox(redis).pending(USER) == []


def test_no_token_configured_means_no_endpoint(redis_server, line_stub, redis):
    from handlers.app import create_app
    from workers.services import Services

    settings = make_settings(redis_server, line_stub)
    app = create_app(settings, services=Services(settings, redis_connection=redis))
    assert post_livedesk(app.test_client(), agent_event(9001), token="anything").status_code == 404


def test_good_signature_is_accepted(client, redis, known_conversation):
    body = json.dumps(agent_event(9001)).encode()
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers=signed(body))
    assert response.status_code == 200 and response.get_json()["outcome"] == "queued"


@pytest.mark.parametrize("headers", [
    lambda body: signed(body, secret="not-the-secret"),
    lambda body: signed(body + b" "),
    lambda body: signed(body, timestamp=int(time.time()) - 3600),   # a replay
    lambda body: {"X-Chatwoot-Signature": signed(body)["X-Chatwoot-Signature"]},  # no timestamp
    lambda body: {"X-Chatwoot-Timestamp": signed(body)["X-Chatwoot-Timestamp"]},  # no signature
    lambda body: {},                                                               # not signed at all
    lambda body: {**signed(body), "X-Chatwoot-Signature": "0" * 64},               # no sha256= prefix
])
def test_bad_signature_is_401_and_nothing_is_done(client, redis, known_conversation, headers):
    body = json.dumps(agent_event(9001)).encode()
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body,
                           headers={"Content-Type": "application/json", **headers(body)})
    assert response.status_code == 401
    assert queued(redis) == []


@pytest.mark.parametrize("timestamp", ["²", "١٢٣", "-5", "1.5", "1" * 13, "9" * 5000])
def test_a_timestamp_that_is_no_unix_time_is_400_even_when_signed(client, redis, known_conversation, timestamp):
    """A signed 5,000-digit timestamp once answered 500 (``int()`` refuses over 4,300 digits)."""
    body = json.dumps(agent_event(9001)).encode()
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers={
        "Content-Type": "application/json", "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": timestamp})
    assert response.status_code == 400 and "unix seconds" in response.get_json()["error"]
    assert queued(redis) == []
    assert client.get("/healthz").status_code == 200


def test_without_a_secret_the_token_is_the_guard(redis_server, line_stub, redis):
    # Whether LiveDesk signs is undocumented: with no LIVEDESK_WEBHOOK_SECRET, the secret path token guards alone.
    from handlers.app import create_app
    from workers.services import Services

    settings = make_settings(redis_server, line_stub, livedesk_api_key="ld-test-key",
                             livedesk_api_secret="ld-test-secret", livedesk_base_url=LIVEDESK, livedesk_inbox_id=79,
                             livedesk_webhook_token=HOOK_TOKEN)
    services = Services(settings, redis_connection=redis)
    services.build_handoff().store.set_conversation(USER, 141)
    response = create_app(settings, services=services).test_client().post(
        f"/webhooks/livedesk/{HOOK_TOKEN}", json=agent_event(9001))
    assert response.status_code == 200 and response.get_json()["outcome"] == "queued"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", "ข้อความ".encode()])
def test_malformed_body_is_400(client, redis, body):
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers=signed(body))
    assert response.status_code == 400
    assert queued(redis) == []


@pytest.mark.parametrize("change", [
    {"sender": "Nurse A"},
    {"sender": ["user"]},
    {"attachments": "https://evil.test/x.png"},
    {"attachments": {"data_url": "https://livedesk.test/a.png"}},
    {"attachments": [1]},
    {"attachments": [{"file_type": "image", "data_url": ["https://livedesk.test/a.png"]}]},
    {"id": "nine"},
    {"id": None},
    {"id": True},
    {"conversation": {"id": [141]}},
    {"conversation": "141"},
    {"content": {"text": "hi"}},
])
def test_an_agent_message_of_the_wrong_shape_is_400_not_500(client, redis, known_conversation, change):
    body = json.dumps({**agent_event(9001), **change}).encode()
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers=signed(body))
    assert response.status_code == 400
    assert queued(redis) == [] and patient_outbox(redis).pending(USER) == []


def test_a_resolution_of_the_wrong_shape_is_400(client, redis, known_conversation):
    body = json.dumps({"event": "conversation_status_changed", "status": "resolved", "id": {"x": 1}}).encode()
    assert client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers=signed(body)).status_code == 400


def test_oversized_body_is_413(client, redis, known_conversation):
    body = json.dumps(agent_event(9001, "ก" * 3000)).encode()
    response = client.post(f"/webhooks/livedesk/{HOOK_TOKEN}", data=body, headers=signed(body))
    assert response.status_code == 413
    assert queued(redis) == []


@pytest.mark.parametrize("change", [
    {"private": True},                                           # a private note between agents
    {"message_type": "incoming"},                                # the patient's side (our mirror)
    {"message_type": "activity", "content": "Conversation was marked resolved"},
    {"sender": {"id": 1, "type": "agent_bot"}},                  # a bot, not a person
    {"sender": {"id": 7, "type": "contact"}},
])
def test_messages_that_are_not_an_agent_reply_are_ignored(client, redis, known_conversation, change):
    assert post_livedesk(client, agent_event(9001, **change)).get_json()["outcome"] == "ignored"
    assert queued(redis) == [] and patient_outbox(redis).pending(USER) == []


def test_our_own_posts_coming_back_are_echoes(client, redis, known_conversation, store):
    store.remember_posted(5003)
    assert post_livedesk(client, agent_event(5003, "คำตอบของบอท")).get_json()["outcome"] == "echo"
    # The echo can arrive before our post has returned its id: its content is in flight then.
    store.mark_in_flight(141, "กำลังส่งอยู่")
    assert post_livedesk(client, agent_event(5004, "กำลังส่งอยู่")).get_json()["outcome"] == "echo"
    assert queued(redis) == []


def test_duplicate_delivery_is_queued_once(client, redis, known_conversation):
    outcomes = [post_livedesk(client, agent_event(9001)).get_json()["outcome"] for _ in range(3)]
    assert outcomes == ["queued", "duplicate", "duplicate"]
    assert len(patient_outbox(redis).pending(USER)) == 1
    assert queued(redis).count("workers.handoff.jobs.drain_to_patient") == 1


def test_reply_in_a_conversation_we_do_not_know_is_ignored(client, redis):
    assert post_livedesk(client, agent_event(9001, conversation=999)).get_json()["outcome"] == "unknown conversation"
    assert queued(redis) == []


def test_resolved_is_checked_with_livedesk_before_anything_closes(client, redis, known_conversation, store):
    store.open(USER, HandoffState(session="01SESSION", reason="asked", since=time.time()))
    assert post_livedesk(client, resolved_event(141)).get_json()["outcome"] == "checking"
    [job] = get_queue(redis).jobs  # the job reads the conversation back; only then is the close queued (once)
    assert job.func_name == "workers.handoff.jobs.resolve_handoff"
    assert job.args == [USER, "01SESSION", 141]
    assert store.state(USER) is not None and not redis.exists("handoff:claim:close:01SESSION")


def test_resolved_or_reopened_without_a_handoff_is_ignored(client, redis, known_conversation):
    assert post_livedesk(client, resolved_event(141)).get_json()["outcome"] == "ignored"
    reopened = {"event": "conversation_status_changed", "id": 141, "status": "open"}
    assert post_livedesk(client, reopened).get_json()["outcome"] == "ignored"
    assert queued(redis) == []


def test_message_text_is_never_logged(client, redis, known_conversation, caplog):
    caplog.set_level(logging.DEBUG)
    post_livedesk(client, agent_event(9001, "เบอร์ 0812345678 ผลเลือดปกติ"))
    assert "0812345678" not in caplog.text and "ผลเลือด" not in caplog.text
