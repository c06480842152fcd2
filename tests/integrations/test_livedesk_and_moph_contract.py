"""EngageLab LiveDesk "ส่งข้อความ" and MOPH Alert "API Send Now" as documented: a failed message is
a typed, retryable error carrying its (masked) ``external_error`` and id; send-now's body key
is a setting. Bodies are the documents' own examples."""

from __future__ import annotations

import json
import time

import pytest
import responses

from bot.settings import SettingsError, load_settings
from integrations.livedesk import LiveDeskClient, LiveDeskMessageFailed
from integrations.moph import MophAlertClient
from tests.moph_support import CIDS, fake_jwt

LIVEDESK = "https://livedesk.test"
MESSAGES = f"{LIVEDESK}/api/v2/accounts/conversations/141/messages"

# "ตัวอย่างการตอบกลับแบบข้อความ"
SENT = {"id": 3030, "content": "เจ้าหน้าที่กำลังส่งข้อความ เป็นปกติหรือไม่", "inbox_id": 79, "conversation_id": 141,
        "message_type": 1, "content_type": "text", "status": "sent", "content_attributes": {},
        "created_at": 1762331029, "private": False, "source_id": None, "sorting_id": 4,
        "sender": {"id": 3, "name": "TEST", "available_name": "TEST", "avatar_url": "", "type": "user",
                   "availability_status": "offline", "thumbnail": ""}}
# "การตอบกลับเมื่อล้มเหลว"
FAILED = {"id": 123, "status": "failed",
          "content_attributes": {"external_error": "131047: Re-engagement message is not allowed"}}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def livedesk() -> LiveDeskClient:
    return LiveDeskClient("key", "secret", base_url=LIVEDESK, sleep=lambda s: None)


def test_the_documented_text_message_is_sent(http):
    http.post(MESSAGES, json=SENT)
    message = livedesk().send_message(141, SENT["content"], in_reply_to=29)
    assert message["id"] == 3030
    assert json.loads(http.calls[0].request.body)["content_attributes"] == {"in_reply_to": 29}


def test_a_failed_message_is_a_retryable_error_with_its_reason(http):
    http.post(MESSAGES, json=FAILED)
    with pytest.raises(LiveDeskMessageFailed) as failed:
        livedesk().send_message(141, "ข้อความที่แสดงในหน้าต่างแชต")
    error = failed.value
    assert error.retryable is True
    assert (error.conversation_id, error.message_id) == (141, 123)
    assert error.external_error == "131047: Re-engagement message is not allowed"
    assert error.answer["id"] == 123  # so the caller knows its webhook echo


def test_the_external_error_is_masked(http):
    http.post(MESSAGES, json={"id": 124, "status": "failed",
                              "content_attributes": {"external_error": "number 0812345678 is not on WhatsApp"}})
    with pytest.raises(LiveDeskMessageFailed) as failed:
        livedesk().send_message(141, "hello")
    assert "0812345678" not in failed.value.external_error and "0812345678" not in str(failed.value)
    assert "5678" in failed.value.external_error


def test_a_failed_attachment_message_is_the_same_error(http):
    http.post(MESSAGES, json=FAILED)
    with pytest.raises(LiveDeskMessageFailed):
        livedesk().send_attachments(141, [("a.jpg", b"\xff\xd8", "image/jpeg")], "รายละเอียดของรูปภาพมีดังนี้")


def test_retry_posts_to_the_documented_path(http):
    http.post(f"{MESSAGES}/123/retry", body="")
    assert livedesk().retry_message(141, 123) == {}
    assert http.calls[0].request.method == "POST"
    assert http.calls[0].request.url == f"{MESSAGES}/123/retry"


def test_a_retry_that_fails_again_says_so(http):
    http.post(f"{MESSAGES}/123/retry", json=FAILED)
    with pytest.raises(LiveDeskMessageFailed) as failed:
        livedesk().retry_message(141, 123)
    assert failed.value.message_id == 123


# -- MOPH Alert 3.5 API Send Now -----------------------------------------------------------------

MOPH = "https://moph.test"
TOKEN_URL = "https://token.test/token"
# The document's example message (its CIDs are replaced by made-up, checksum-valid ones).
FLEX = {"type": "flex", "altText": "แจ้งเตือนรหัส OTP", "contents": {
    "type": "bubble",
    "hero": {"type": "image", "url": "https://phr1.moph.go.th/moph_account_center1.png", "size": "full",
             "aspectRatio": "20:8", "aspectMode": "cover"},
    "body": {"type": "box", "layout": "vertical", "spacing": "md", "backgroundColor": "#40F500FF", "contents": [
        {"type": "text", "text": "แจ้งเตือนรหัส OTP", "weight": "bold", "size": "xl", "color": "#206803FF",
         "align": "center", "gravity": "center", "wrap": True, "contents": []}]}}}
RESULT = {"message": "", "message_code": 200}


def moph(redis, **kwargs) -> MophAlertClient:
    return MophAlertClient(MOPH, token_url=TOKEN_URL, user="moph-user", password_hash="FAKEHASH0123",
                           hospital_code="10999", redis=redis, sleep=lambda s: None, clock=time.time, **kwargs)


@pytest.mark.parametrize("key", ["messages", "message"])
def test_send_now_body_key_follows_the_setting(http, redis, key):
    http.get(TOKEN_URL, body=fake_jwt())
    http.post(f"{MOPH}/api/v2/send-message/send-now", json=RESULT)
    moph(redis, send_now_messages_key=key).send_now(CIDS[:2], [FLEX])
    body = json.loads(http.calls[-1].request.body)
    assert body == {"datas": CIDS[:2], key: [FLEX]}


def test_send_now_key_setting_defaults_to_the_example():
    assert load_settings(_env_file=None).moph_send_now_messages_key == "messages"
    assert load_settings(_env_file=None, moph_send_now_messages_key="message").moph_send_now_messages_key \
        == "message"
    with pytest.raises(SettingsError, match="MOPH_SEND_NOW_MESSAGES_KEY"):
        load_settings(_env_file=None, moph_send_now_messages_key="msgs")
