"""The simulated providers, driven by the service's own clients and by raw HTTP where the shape matters.

Each test checks a rule the vendor documents (or the provider notes) state, so that the
sandbox cannot drift from what the real services do.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from handlers.sandbox.people import BOT_INFO, PATIENTS
from integrations.errors import AuthenticationError, NotFoundError, ProviderError
from integrations.line import LineClient, token_refused
from integrations.livedesk import LiveDeskClient
from integrations.moph import MophAlertClient
from integrations.oho import OhoClient, line_contact
from integrations.sepsms import OtpExpiredError, SepsmsClient
from integrations.thaibulksms import InvalidSenderError, ThaiBulkSmsClient
from tests.support import wait_for

SOMCHAI, MALEE, JOHN = PATIENTS


def _chat(sandbox, patient):
    return sandbox.store.items(f"line:chat:{patient.user_id}")


# -- LINE ----------------------------------------------------------------------------------------

def test_patient_message_reaches_callback_signed_and_its_reply_token_works_once(sandbox):
    answer = sandbox.post(f"/sandbox/ui/patients/{SOMCHAI.key}/messages", json={"text": "สวัสดี"})
    assert answer.status_code == 202
    # /callback verified the signature (200) and queued the event for the worker.
    wait_for(lambda: any(l["what"] == "webhook message" and l["status"] == 200 for l in sandbox.traffic("line")),
             what="the signed webhook")
    token = next(k.decode().rsplit(":", 1)[1] for k in sandbox.store.redis.scan_iter("sandbox:line:reply-token:*"))
    assert 0 < sandbox.store.redis.ttl(f"sandbox:line:reply-token:{token}") <= 60  # "about a minute"

    line = LineClient.from_settings(sandbox.settings)
    line.reply(token, [{"type": "text", "text": "ตอบครั้งแรก"}])
    with pytest.raises(ProviderError) as second:
        line.reply(token, [{"type": "text", "text": "ตอบซ้ำ"}])
    assert second.value.status == 400 and "reply token" in second.value.message.lower()
    shown = [e for e in _chat(sandbox, SOMCHAI) if e["from"] == "bot"]
    assert [(e["via"], e["messages"][0]["text"]) for e in shown] == [("reply", "ตอบครั้งแรก")]


def test_expired_reply_token_falls_back_to_push_and_a_repeated_retry_key_is_a_409(sandbox):
    line = LineClient.from_settings(sandbox.settings)
    key = str(uuid.uuid4())
    with pytest.raises(ProviderError) as refused:  # a token the simulator never issued
        line.reply("never-issued", [{"type": "text", "text": "แจ้งเตือน"}])
    assert token_refused(refused.value)
    line.push(MALEE.user_id, [{"type": "text", "text": "แจ้งเตือน"}], key)
    repeat = sandbox.post("/sandbox/line/v2/bot/message/push", json={"to": MALEE.user_id, "messages": [
        {"type": "text", "text": "แจ้งเตือน"}]}, headers=_line_auth(sandbox, **{"X-Line-Retry-Key": key}))
    assert repeat.status_code == 409 and repeat.headers["x-line-accepted-request-id"]
    line.push(MALEE.user_id, [{"type": "text", "text": "แจ้งเตือน"}], key)  # the client takes 409 as "done"
    assert [e["via"] for e in _chat(sandbox, MALEE)] == ["push"]


def test_line_rules_on_auth_sizes_retry_key_and_loading(sandbox):
    auth = _line_auth(sandbox)
    text = {"type": "text", "text": "x"}
    assert sandbox.post("/sandbox/line/v2/bot/message/push", json={"to": JOHN.user_id, "messages": [text]},
                        headers={"Authorization": "Bearer wrong"}).status_code == 401
    too_many = sandbox.post("/sandbox/line/v2/bot/message/push",
                            json={"to": JOHN.user_id, "messages": [text] * 6}, headers=auth)
    assert too_many.status_code == 400 and too_many.json()["details"][0]["property"] == "messages"
    quick = {**text, "quickReply": {"items": [{"type": "action", "action": {"type": "message", "label": "a",
                                                                           "text": "a"}}] * 14}}
    assert sandbox.post("/sandbox/line/v2/bot/message/push", json={"to": JOHN.user_id, "messages": [quick]},
                        headers=auth).status_code == 400
    reply_with_key = sandbox.post("/sandbox/line/v2/bot/message/reply", json={"replyToken": "t", "messages": [text]},
                                  headers={**auth, "X-Line-Retry-Key": str(uuid.uuid4())})
    assert reply_with_key.status_code == 400  # reply does not take a retry key
    assert sandbox.post("/sandbox/line/v2/bot/message/push", json={"to": JOHN.user_id, "messages": [text]},
                        headers={**auth, "X-Line-Retry-Key": "not-a-uuid"}).status_code == 400
    for seconds, status in ((7, 400), (65, 400), (0, 400), (10, 202)):
        answer = sandbox.post("/sandbox/line/v2/bot/chat/loading/start",
                              json={"chatId": JOHN.user_id, "loadingSeconds": seconds}, headers=auth)
        assert answer.status_code == status, seconds
    assert 0 < sandbox.store.redis.ttl(f"sandbox:line:loading:{JOHN.user_id}") <= 10


def test_bot_info_and_profiles_as_line_gives_them(sandbox):
    line = LineClient.from_settings(sandbox.settings)
    info = line.bot_info()
    assert info["userId"] == BOT_INFO["userId"] and info["basicId"] == "@sandbox"
    assert line.profile(SOMCHAI.user_id)["pictureUrl"].endswith("/sandbox/static/avatar.svg")
    raw = sandbox.get(f"/sandbox/line/v2/bot/profile/{MALEE.user_id}", headers=_line_auth(sandbox)).json()
    assert raw["displayName"] == MALEE.name and "pictureUrl" not in raw  # omitted, not empty


# -- Oho -----------------------------------------------------------------------------------------

def test_oho_envelope_wholesale_update_and_room_switches(sandbox):
    bad = sandbox.post("/sandbox/oho/contact", json={}, headers={"x-oho-api-key": "wrong"})
    assert bad.status_code == 401 and bad.json() == {"ok": False, "status_code": 401,
                                                     "message": "You do not have valid permission"}
    oho = OhoClient.from_settings(sandbox.settings, sleep=lambda _: None)
    platform = BOT_INFO["userId"]
    contact = {"social_profile": {"platform": "line", "id": JOHN.user_id, "platform_id": platform,
                                  "platform_name": BOT_INFO["displayName"], "line_basic_id": "@sandbox"},
               "profile_picture_url": "https://example.test/p.png", "platform_display_name": JOHN.name,
               "display_name": JOHN.name, "first_name": "John"}
    assert oho.create_contact(contact) is True
    assert oho.create_contact(contact) is False  # 409 "The contact already exists"
    no_picture = LineClient.from_settings(sandbox.settings).profile(MALEE.user_id)
    assert "pictureUrl" not in no_picture  # so the client must send a default: Oho refuses an empty URL
    assert oho.create_contact(line_contact(BOT_INFO, MALEE.user_id, no_picture,
                                           sandbox.settings.oho_default_avatar_url)) is True
    oho.update_contact(platform, JOHN.user_id, tags=["a", "b"])
    oho.update_contact(platform, JOHN.user_id, tags=["c"])  # replaces, as the document says
    assert oho.get_contact(platform, JOHN.user_id)["tags"] == ["c"]
    assert oho.add_tags(platform, JOHN.user_id, ["verified"]) == ["c", "verified"]  # read, merge, write
    assert sandbox.post(f"/sandbox/oho/contact/line/{platform}/user/{JOHN.user_id}", json={},
                        headers={"x-oho-api-key": "sandbox-oho-api-key"}).status_code == 405  # PATCH only
    with pytest.raises(ProviderError):  # 21 tags: over Oho's 20 (our client refuses before sending)
        oho._call("PATCH", f"/contact/line/{platform}/user/{JOHN.user_id}", json={"tags": [str(i) for i in range(21)]})
    assert oho.request_agent(platform, JOHN.user_id) is True
    assert oho.request_agent(platform, JOHN.user_id) is False  # 409: already with an agent
    assert oho.close_chat(platform, JOHN.user_id) is True
    assert oho.close_chat(platform, JOHN.user_id) is False     # 409: no session to close
    with pytest.raises(ProviderError) as wrong_triple:
        oho.get_contact("U" + "9" * 32, JOHN.user_id)
    assert wrong_triple.value.status == 404


# -- LiveDesk ------------------------------------------------------------------------------------

def test_livedesk_api_channel_and_its_webhook_echoes(sandbox):
    assert sandbox.post("/sandbox/livedesk/api/v2/accounts/contacts", json={},
                        headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}).status_code == 401
    desk = LiveDeskClient.from_settings(sandbox.settings, sleep=lambda _: None)
    inbox = sandbox.settings.livedesk_inbox_id
    contact = desk.create_contact(inbox, MALEE.name)
    conversation = desk.create_conversation(inbox, contact_id=contact)
    incoming = desk.send_message(conversation, "ขอคุยกับพยาบาล", message_type="incoming")
    outgoing = desk.send_message(conversation, "[bot] รับทราบค่ะ")
    note = desk.send_message(conversation, "note for staff", private=True)
    assert (incoming["message_type"], outgoing["message_type"], outgoing["sender"]["type"]) == (0, 1, "user")
    assert note["private"] is True and outgoing["status"] == "sent"
    with pytest.raises(ProviderError) as not_failed:
        desk.retry_message(conversation, outgoing["id"])  # only failed messages can be retried
    assert not_failed.value.status == 422
    with pytest.raises(ValueError):
        desk.create_contact(inbox, "x", phone_number="0812345678")  # the client insists on E.164 too
    # conversation_created + three message_created, our own posts included, all accepted by the service.
    delivered = wait_for(lambda: [l for l in sandbox.traffic("livedesk") if l["what"].startswith(("message_created",
                                                                                                   "conversation_"))
                                  and l["status"] == 200] if len(sandbox.traffic("livedesk")) >= 9 else None,
                         what="the LiveDesk webhooks")
    assert sorted(l["what"].split(" (")[0] for l in delivered) == ["conversation_created"] + ["message_created"] * 3


def test_livedesk_reads_back_messages_and_a_conversations_status(sandbox):
    """Chatwoot's reads, which the service's read-back (LIVEDESK_READ_BACK, on by default) relies on."""
    desk = LiveDeskClient.from_settings(sandbox.settings, sleep=lambda _: None)
    conversation = desk.create_conversation(sandbox.settings.livedesk_inbox_id,
                                            contact_id=desk.create_contact(sandbox.settings.livedesk_inbox_id,
                                                                           MALEE.name))
    first = desk.send_message(conversation, "ขอคุยกับพยาบาล", message_type="incoming")
    assert sandbox.post(f"/sandbox/ui/desk/{conversation}/messages", json={"content": "สวัสดีค่ะ"}).status_code == 202
    read = desk.conversation_messages(conversation)
    assert [(m["content"], m["message_type"], m["sender"]["type"]) for m in read] == [
        ("ขอคุยกับพยาบาล", 0, "contact"), ("สวัสดีค่ะ", 1, "user")]
    assert [m["id"] for m in desk.conversation_messages(conversation, before=read[-1]["id"])] == [first["id"]]
    assert desk.conversation(conversation)["status"] == "open"
    assert sandbox.post(f"/sandbox/ui/desk/{conversation}/resolve").status_code == 200
    assert desk.conversation(conversation)["status"] == "resolved"
    with pytest.raises(NotFoundError):
        desk.conversation_messages(conversation + 1000)
    with pytest.raises(NotFoundError):
        desk.conversation(conversation + 1000)


# -- SMS -----------------------------------------------------------------------------------------

def test_sepsms_otp_never_returns_the_code_and_verifies_once(sandbox):
    bad = sandbox.post("/sandbox/sepsms/api/v2/otp/send", json={}, headers={"X-API-Key": "sk_sep_wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "auth.invalid_credentials"
    sepsms = SepsmsClient.from_settings(sandbox.settings, redis=sandbox.store.redis, sleep=lambda _: None)
    sent = sepsms.send_otp(MALEE.phone, template="รหัส {code} (Ref: {ref})", ttl_seconds=300)
    raw = sandbox.store.items("sms")[-1]
    assert raw["to"] == MALEE.phone and sent.reference in raw["text"]
    code = raw["text"].split()[1]
    assert code.isdigit() and code not in repr(sent)  # the answer holds the reference only
    assert sepsms.verify_otp(sent.reference, "000000" if code != "000000" else "111111").verified is False
    assert sepsms.verify_otp(sent.reference, code).verified is True
    with pytest.raises(OtpExpiredError):
        sepsms.verify_otp(sent.reference, code)  # single use
    # sms.sent and dr.success, signed: /webhooks/sepsms verified them (a bad signature answers 401).
    wait_for(lambda: sum(1 for l in sandbox.traffic("sms") if l["status"] == 200) >= 2, what="signed DR webhooks")
    wait_for(lambda: sandbox.store.items("sms")[-1]["status"] == "delivered", what="the phone's delivery tick")


def test_sepsms_rate_limit_answers_429_with_retry_after(sandbox):
    headers = {"X-API-Key": "sk_sep_sandbox"}
    body = {"destination": JOHN.phone, "origin": "SANDBOX"}
    no_origin = sandbox.post("/sandbox/sepsms/api/v2/otp/send", json={"destination": JOHN.phone}, headers=headers)
    assert no_origin.status_code == 400 and no_origin.json()["success"] is False  # origin is required
    statuses = [sandbox.post("/sandbox/sepsms/api/v2/otp/send", json=body, headers=headers) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200] * 4 + [429]  # OTP 5/min, the refused one counted too
    assert int(statuses[-1].headers["Retry-After"]) > 0 and statuses[-1].headers["RateLimit-Remaining"] == "0"


def test_thaibulksms_send_bad_numbers_sender_and_delivery_report(sandbox):
    tbs = ThaiBulkSmsClient.from_settings(sandbox.settings, sleep=lambda _: None)
    result = tbs.send_sms([SOMCHAI.phone, "0212345678"], "นัดหมายพรุ่งนี้ 09:00")
    assert [s.number for s in result.sent] == ["66" + SOMCHAI.phone[1:]] and len(result.bad) == 1
    with pytest.raises(InvalidSenderError):
        tbs.send_sms([SOMCHAI.phone], "x", sender="sandbox")  # exact, case-sensitive: code 111
    wrong = ThaiBulkSmsClient("k", "s", base_url=sandbox.settings.thaibulksms_base_url, sender="SANDBOX",
                              sleep=lambda _: None)
    with pytest.raises(AuthenticationError):
        wrong.send_sms([SOMCHAI.phone], "x")
    expire = sandbox.post("/sandbox/thaibulksms/sms", data={"msisdn": SOMCHAI.phone, "message": "x",
                                                            "sender": "SANDBOX", "expire": "00:05"},
                          auth=("sandbox-tbs-key", "sandbox-tbs-secret"))
    assert expire.status_code == 400 and expire.json()["error"]["code"] == 138
    wait_for(lambda: any(l["what"] == "thaibulksms DR" and l["status"] == 200 for l in sandbox.traffic("sms")),
             what="the delivery report on the token webhook")


# -- MOPH ----------------------------------------------------------------------------------------

def test_moph_token_send_now_upload_and_message_code_failures(sandbox):
    token = sandbox.get("/sandbox/moph-account/token", params={
        "Action": "get_moph_access_token", "user": "sandbox", "password_hash": "SANDBOXHASH",
        "hospital_code": "00000"})
    assert token.status_code == 200 and token.text.count(".") == 2  # a bare JWT, as the guide shows
    assert sandbox.get("/sandbox/moph-account/token", params={"Action": "get_moph_access_token", "user": "x",
                                                              "password_hash": "y", "hospital_code": "z"}
                       ).status_code == 401
    unauthorised = sandbox.post("/sandbox/moph/api/v2/send-message/send-now", json={},
                                headers={"Authorization": "Bearer nope"})
    assert unauthorised.status_code == 401
    bad = sandbox.post("/sandbox/moph/api/v2/send-message/send-now", headers={"Authorization": f"Bearer {token.text}"},
                       json={"datas": ["1100000000017"], "messages": [{"type": "text", "text": "x"}]})
    assert bad.status_code == 200 and bad.json()["message_code"] == 400  # a 200 that is a failure

    moph = MophAlertClient.from_settings(sandbox.settings, sandbox.store.redis, sleep=lambda _: None)
    moph.send_now([SOMCHAI.cid], [{"type": "text", "text": "นัดหมาย"}])
    file_id = moph.upload_data_json([MALEE.cid, JOHN.cid])
    moph.upload_message(file_id, [{"type": "text", "text": "ประกาศ"}])
    with pytest.raises(ProviderError) as unknown_file:
        moph.upload_message("no-such-file", [{"type": "text", "text": "x"}])
    assert unknown_file.value.status == 404
    shown = [(n["cid"], n["via"]) for n in sandbox.store.items("moph:notices")]
    assert shown == [(SOMCHAI.cid, "send-now"), (MALEE.cid, "upload-message"), (JOHN.cid, "upload-message")]


def _line_auth(sandbox, **extra):
    return {"Authorization": "Bearer " + sandbox.settings.line_channel_access_token.get_secret_value(), **extra}


def test_every_echo_of_our_own_posts_is_recognised(sandbox):
    """The mirror's posts come straight back through the webhook, often while the post is still
    being answered; none of them may pass for an agent's reply (it would silence the bot)."""

    service = sandbox.services.build_handoff()
    for i in range(30):
        service.livedesk_mirror.post(JOHN.user_id, {"item_id": f"probe-{i}", "kind": "text",
                                                    "direction": "outgoing", "text": f"bot line {i}"})
    outcomes = wait_for(lambda: (lambda found: found if len(found) == 30 else None)(
        [l["what"] for l in sandbox.store.items("log") if l["what"].startswith("message_created")]),
        what="thirty webhook echoes")
    assert set(outcomes) == {"message_created (echo)"}
    assert service.store.state(JOHN.user_id) is None  # no agent "took over"
