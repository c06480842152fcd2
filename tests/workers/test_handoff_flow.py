"""Handoff end to end: signed LINE webhook → real RQ worker → LINE stub, Oho and LiveDesk stubbed over HTTP."""

from __future__ import annotations

import json

from bot.handoff.messages import DECLINE_POSTBACK, END_CHAT_QUICK_REPLY, END_POSTBACK, OFFER_POSTBACK, REASONS
from bot.handoff.render import undelivered_note
from tests.handoff_stubs import (  # noqa: F401
    BOT_ID,
    JPEG,
    LIVEDESK,
    OHO_KEY,
    USER,
    QuickServices,
    agent_event,
    http,
    line_extra,
    livedesk,
    oho,
    post_livedesk,
    pushes,
    replies,
    resolved_event,
    services,
    settings,
)
from tests.support import text_event


def say(webhook, run_worker, text, **extra):
    event = text_event(text, user=USER, **extra)
    assert webhook.post([event]).status_code == 200
    run_worker()
    return event


def press(webhook, run_worker, data):
    event = text_event("", user=USER, type="postback", postback={"data": data})
    del event["message"]
    webhook.post([event])
    run_worker()
    return event


def last_reply(line_stub):
    return replies(line_stub)[-1].get_json()["messages"]


def test_staff_request_hands_off_mirrors_relays_and_resolves(webhook, client, run_worker, line_extra, oho,
                                                             livedesk, services):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")

    # The patient is told a person will answer, with a way back to the bot.
    [notice] = last_reply(line_extra)
    assert "เจ้าหน้าที่" in notice["text"] and "จบการสนทนา" in notice["text"]
    assert notice["quickReply"]["items"][0]["action"]["data"] == END_POSTBACK
    # Oho: the contact from LINE's bot info and profile, the room handed to an agent once, labelled.
    [created] = oho.calls("POST", "/contact")
    assert created["social_profile"] == {"platform": "line", "id": USER, "platform_id": BOT_ID,
                                         "platform_name": "Test Hospital", "line_basic_id": "@000test"}
    assert created["display_name"] == "Somchai T."
    assert len(oho.calls("POST", "/request-agent")) == 1
    assert oho.calls("PATCH") == [{"labels": ["handoff"]}]
    # LiveDesk: one contact and conversation; the patient's words in, the note, the bot's answer out.
    assert [c["name"] for c in livedesk.contacts] == ["Somchai T."]
    assert livedesk.conversations == [{"id": 141, "inbox_id": 79, "contact_id": 512}]
    assert [(m["message_type"], m["private"], m["conversation"]) for m in livedesk.messages] == [
        ("incoming", False, 141), ("outgoing", True, 141), ("outgoing", False, 141)]
    assert livedesk.public() == [("incoming", "ขอคุยกับเจ้าหน้าที่"), ("outgoing", notice["text"])]
    [note] = livedesk.notes()
    assert REASONS["asked"] in note and "ผู้ป่วย: ขอคุยกับเจ้าหน้าที่" in note

    # While staff have the chat the bot is silent, but everything still reaches LiveDesk.
    say(webhook, run_worker, "ยังรออยู่นะคะ")
    say(webhook, run_worker, "โรงพยาบาลเปิดกี่โมง")
    assert len(replies(line_extra)) == 1 and pushes(line_extra) == []
    assert livedesk.public()[-2:] == [("incoming", "ยังรออยู่นะคะ"), ("incoming", "โรงพยาบาลเปิดกี่โมง")]

    # An agent's reply reaches the patient once, even when LiveDesk delivers the webhook twice.
    reply = agent_event(9001, "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ")
    assert post_livedesk(client, reply).get_json()["outcome"] == "queued"
    assert post_livedesk(client, reply).get_json()["outcome"] == "duplicate"
    run_worker()
    [push] = pushes(line_extra)
    # With the way back to the bot one tap away.
    assert push.get_json() == {"to": USER, "messages": [{"type": "text", "text": "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ",
                                                         "quickReply": END_CHAT_QUICK_REPLY}]}
    assert push.headers["X-Line-Retry-Key"]

    # Resolving in LiveDesk closes the Oho chat, drops our label, says goodbye; the bot is back.
    assert post_livedesk(client, resolved_event(141)).get_json()["outcome"] == "checking"
    run_worker()
    assert len(oho.calls("POST", "/close-chat")) == 1
    assert oho.calls("PATCH")[-1] == {"labels": []}
    closing = pushes(line_extra)[-1]
    assert closing.headers["X-Line-Retry-Key"] != push.headers["X-Line-Retry-Key"]  # another message, another key
    assert "ปิดการสนทนา" in closing.get_json()["messages"][0]["text"]
    say(webhook, run_worker, "โรงพยาบาลเปิดกี่โมง")
    assert last_reply(line_extra) == services.dialog.answer_topic("hours").messages
    # Every call carried the credentials.
    assert oho.api_keys == {OHO_KEY}
    assert livedesk.authorizations == {"Basic bGQtdGVzdC1rZXk6bGQtdGVzdC1zZWNyZXQ="}


def test_labels_and_tags_set_by_others_survive(webhook, client, run_worker, line_extra, oho, livedesk):
    oho.contact = {"display_name": "Somchai T.", "phone": "0812345678", "tags": ["vip", "diabetes"],
                   "labels": ["follow-up"], "attributes": [{"display_name": "HN", "value": {"text": "HN-0001"}}]}
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert len(oho.calls("POST", "/contact")) == 1  # answered 409: it exists, nothing overwritten
    assert oho.calls("PATCH") == [{"labels": ["follow-up", "handoff"]}]
    # The note tells staff what the bot knows: the verified phone and the tags, from Oho.
    [note] = livedesk.notes()
    assert "0812345678" in note and "vip, diabetes" in note and "HN-0001" in note
    post_livedesk(client, resolved_event(141))
    run_worker()
    assert oho.calls("PATCH")[-1] == {"labels": ["follow-up"]}
    assert oho.contact["tags"] == ["vip", "diabetes"]


def test_conflicts_from_oho_are_not_errors(webhook, client, run_worker, line_extra, oho, livedesk, redis):
    from rq.registry import FailedJobRegistry

    from workers.queues import get_queue

    oho.contact = {"display_name": "Somchai T.", "tags": [], "labels": []}
    oho.room = "agent"  # request-agent answers 409: already with an agent
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    oho.room = "bot"    # close-chat answers 409: nothing to close
    post_livedesk(client, resolved_event(141))
    run_worker()
    assert len(oho.calls("POST", "/request-agent")) == 1 and len(oho.calls("POST", "/close-chat")) == 1
    assert FailedJobRegistry(queue=get_queue(redis)).count == 0
    assert len(pushes(line_extra)) == 1  # the closing message


def test_two_unknown_answers_offer_staff_and_the_offer_hands_off(webhook, run_worker, line_extra, oho,
                                                                 livedesk, services):
    say(webhook, run_worker, "ฟหกดเสวฟหกด")
    assert last_reply(line_extra) == services.dialog.answer_topic("unknown").messages
    say(webhook, run_worker, "zxqv blorp")
    [offer] = last_reply(line_extra)
    assert [(i["action"]["label"], i["action"]["data"]) for i in offer["quickReply"]["items"]] == [
        ("คุยกับเจ้าหน้าที่", OFFER_POSTBACK), ("ไม่เป็นไร", DECLINE_POSTBACK)]
    press(webhook, run_worker, OFFER_POSTBACK)
    assert "จบการสนทนา" in last_reply(line_extra)[0]["text"]
    assert len(oho.calls("POST", "/request-agent")) == 1
    assert REASONS["unknown"] in livedesk.notes()[0]


def test_declining_the_offer_shows_the_menu_and_restarts_the_count(webhook, run_worker, line_extra, oho,
                                                                   livedesk, services):
    say(webhook, run_worker, "ฟหกดเสวฟหกด")
    say(webhook, run_worker, "zxqv blorp")
    press(webhook, run_worker, DECLINE_POSTBACK)
    [declined] = last_reply(line_extra)
    assert declined["quickReply"] == services.knowledge.menu
    say(webhook, run_worker, "ฟหกดเสวฟหกด")  # one unknown after the offer: just the unknown answer
    assert last_reply(line_extra) == services.dialog.answer_topic("unknown").messages
    assert oho.calls("POST", "/request-agent") == []


def test_emergency_answers_1669_first_then_hands_off_urgently(webhook, run_worker, line_extra, oho, livedesk,
                                                              services):
    say(webhook, run_worker, "พ่อหายใจไม่ออกค่ะ")
    messages = last_reply(line_extra)
    emergency = services.dialog.answer_emergency().messages
    assert [_bare(m) for m in messages[:len(emergency)]] == [_bare(m) for m in emergency]
    assert "1669" in messages[-1]["text"] and len(messages) == len(emergency) + 1
    # LINE shows the last message's buttons: "not an emergency" stands under the handoff notice.
    assert "action=not_emergency" in json.dumps(messages[-1]["quickReply"])
    assert oho.calls("PATCH") == [{"labels": ["handoff", "urgent"]}]
    assert livedesk.notes()[0].startswith("🚨")


def test_not_an_emergency_after_a_false_alarm_closes_the_urgent_handoff_and_the_bot_answers_again(
        webhook, run_worker, line_extra, oho, livedesk, services):
    say(webhook, run_worker, "ลูกชักค่ะ")
    assert oho.calls("PATCH") == [{"labels": ["handoff", "urgent"]}]
    press(webhook, run_worker, "action=not_emergency")
    [answer] = last_reply(line_extra)
    assert answer["text"] == services.dialog.answer_not_emergency().messages[0]["text"]
    assert len(oho.calls("POST", "/close-chat")) == 1
    assert oho.calls("PATCH")[-1] == {"labels": []}
    assert "ไม่ใช่เหตุฉุกเฉิน" in livedesk.notes()[-1]
    say(webhook, run_worker, "ที่จอดรถ")
    assert last_reply(line_extra) == services.dialog.answer_topic("parking").messages


def test_typing_not_an_emergency_does_the_same(webhook, run_worker, line_extra, oho, services):
    say(webhook, run_worker, "my dad collapsed")
    say(webhook, run_worker, "ไม่ใช่เหตุฉุกเฉินค่ะ")
    assert len(oho.calls("POST", "/close-chat")) == 1
    say(webhook, run_worker, "เปิดกี่โมง")
    assert last_reply(line_extra) == services.dialog.answer_topic("hours").messages


def test_a_near_miss_gets_its_topic_and_a_safety_line_and_no_handoff(webhook, run_worker, line_extra, oho, livedesk,
                                                                     services):
    say(webhook, run_worker, "เมื่อเดือนก่อนพ่อเจ็บหน้าอก หมอบอกว่ากรดไหลย้อน อยากขอเลื่อนนัดค่ะ")
    messages = last_reply(line_extra)
    topic = services.dialog.answer_topic("appointment").messages
    assert [_bare(m) for m in messages[:-1]] == [_bare(m) for m in topic]
    assert "1669" in messages[-1]["text"] and "ถ้าตอนนี้" in messages[-1]["text"]
    assert oho.calls("POST", "/request-agent") == [] and oho.calls("PATCH") == []
    say(webhook, run_worker, "ที่จอดรถ")  # the bot is not silenced
    assert last_reply(line_extra) == services.dialog.answer_topic("parking").messages


def _bare(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "quickReply"}


def test_emergency_during_a_handoff_still_gets_1669_and_flags_it_urgent(webhook, run_worker, line_extra, oho,
                                                                        livedesk, services):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    say(webhook, run_worker, "เจ็บหน้าอกมากค่ะ")
    assert last_reply(line_extra) == services.dialog.answer_emergency().messages
    assert oho.calls("PATCH")[-1] == {"labels": ["handoff", "urgent"]}
    assert livedesk.notes()[-1].startswith("🚨")
    assert ("incoming", "เจ็บหน้าอกมากค่ะ") in livedesk.public()


def test_patient_ends_the_chat_with_an_end_phrase(webhook, run_worker, line_extra, oho, livedesk, services):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    say(webhook, run_worker, "จบการสนทนาค่ะ")
    [closing] = last_reply(line_extra)
    assert "จบการสนทนากับเจ้าหน้าที่แล้ว" in closing["text"]
    assert len(oho.calls("POST", "/close-chat")) == 1
    assert oho.calls("PATCH")[-1] == {"labels": []}
    assert pushes(line_extra) == []  # the reply said goodbye already
    say(webhook, run_worker, "ที่จอดรถ")
    assert last_reply(line_extra) == services.dialog.answer_topic("parking").messages


def test_images_are_mirrored_as_attachments_in_order(webhook, run_worker, line_extra, oho, livedesk):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    image = text_event("", user=USER)
    image["message"] = {"type": "image", "id": "468789577898262530",
                        "contentProvider": {"type": "line"}}
    webhook.post([image, text_event("นี่คือผลแล็บค่ะ", user=USER)])
    run_worker()
    incoming = [m for m in livedesk.messages if m["message_type"] == "incoming"]
    assert incoming[-2]["attachments"] == [("image-468789577898262530.jpg", "image/jpeg", JPEG)]
    assert incoming[-1]["content"] == "นี่คือผลแล็บค่ะ"
    assert len(replies(line_extra)) == 1  # silent during the handoff


def test_a_video_over_20_mb_is_announced_without_being_downloaded_whole(webhook, run_worker, line_extra, oho,
                                                                       livedesk):
    """A 300 MB video was read whole before the 20 MB check; now reading stops at the cap."""
    from werkzeug import Response

    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    chunk, served = b"\0" * 65536, []

    def video_of_80_mb():  # no Content-Length: only counting while reading can stop it
        while len(served) * len(chunk) < 80 * 1024 * 1024:
            served.append(len(chunk))
            yield chunk

    line_extra.expect_oneshot_request("/v2/bot/message/468789577898262599/content", method="GET") \
        .respond_with_response(Response(video_of_80_mb(), mimetype="video/mp4"))
    video = text_event("", user=USER)
    video["message"] = {"type": "video", "id": "468789577898262599", "duration": 60000,
                        "contentProvider": {"type": "line"}}
    webhook.post([video])
    run_worker()
    incoming = [m for m in livedesk.messages if m["message_type"] == "incoming"]
    assert incoming[-1]["content"] == "[video] (ไฟล์ใหญ่เกินไป ดูใน LINE OA Manager / too large)"
    assert not incoming[-1].get("attachments")
    assert sum(served) < 40 * 1024 * 1024, f"{sum(served) / 2**20:.0f} MB read of an 80 MB video"


def test_every_turn_is_mirrored_without_a_handoff(webhook, run_worker, line_extra, oho, livedesk, services):
    say(webhook, run_worker, "ที่จอดรถ")
    text = services.dialog.answer_topic("parking").messages[0]["text"]
    assert livedesk.public() == [("incoming", "ที่จอดรถ"), ("outgoing", text)]
    assert oho.calls("POST", "/request-agent") == []
    assert len(oho.calls("POST", "/contact")) == 1  # the contact record, on the first message
    say(webhook, run_worker, "ขอบคุณค่ะ")
    assert len(livedesk.conversations) == 1 and len(oho.calls("POST", "/contact")) == 1


def test_with_livedesk_only_the_bot_keeps_answering_and_mirrors(redis_server, redis, line_extra, jobs_here, run_worker,
                                                                 http, livedesk):
    from handlers.app import create_app
    from tests.conftest import make_settings
    from tests.support import LineWebhook

    settings = make_settings(redis_server, line_extra, livedesk_api_key="ld-test-key",
                             livedesk_api_secret="ld-test-secret", livedesk_base_url=LIVEDESK,
                             livedesk_inbox_id=79)
    services = jobs_here(QuickServices(settings, redis_connection=redis))
    webhook = LineWebhook(create_app(settings, services=services).test_client())
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    staff = services.dialog.answer_topic("staff").messages
    assert last_reply(line_extra) == staff  # the knowledge base's own answer (the phone number)
    assert livedesk.public() == [("incoming", "ขอคุยกับเจ้าหน้าที่"), ("outgoing", staff[0]["text"])]
    assert livedesk.notes() == []
    assert all(call.request.url.startswith(LIVEDESK) for call in http.calls)  # no Oho call at all


def test_phone_numbers_and_codes_typed_during_verification_are_not_mirrored(webhook, run_worker, line_extra, oho,
                                                                            livedesk, redis):
    from bot.verification import VerificationState
    from workers.handoff.feature import REDACTED
    from workers.verification.store import VerificationStore

    VerificationStore(redis, prefix="").save_state(USER, VerificationState(step="code", phone="0812345678"))
    say(webhook, run_worker, "482913")
    assert livedesk.public()[0] == ("incoming", REDACTED)
    assert all("482913" not in m["content"] for m in livedesk.messages)
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert "482913" not in livedesk.notes()[0]


def test_the_note_shows_the_number_verified_by_otp(webhook, run_worker, line_extra, oho, livedesk, redis):
    from workers.verification.store import VerificationStore

    VerificationStore(redis, prefix="").save_verified(USER, "0899999999", "2026-01-07T10:00:00+07:00", "sepsms",
                                                      keep_days=365)
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    assert "- เบอร์มือถือที่ยืนยันแล้ว (OTP): 0899999999" in livedesk.notes()[0]


def test_logs_carry_no_message_text_or_phone(webhook, client, run_worker, line_extra, oho, livedesk, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    oho.contact = {"display_name": "Somchai T.", "phone": "0812345678", "tags": [], "labels": []}
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่ เรื่องผลเลือด")
    post_livedesk(client, agent_event(9001, "ผลเลือดปกติค่ะ"))
    run_worker()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # werkzeug: the LINE stand-in
    assert "ผลเลือด" not in ours and "0812345678" not in ours and USER not in ours


def test_an_agent_who_writes_first_takes_over_and_shows_the_way_back(webhook, client, run_worker, line_extra, oho,
                                                                      livedesk, services):
    say(webhook, run_worker, "ที่จอดรถ")  # no handoff: the bot answers, the chat is mirrored
    assert post_livedesk(client, agent_event(9010, "สวัสดีค่ะ มีอะไรให้ช่วยไหมคะ")).get_json()["outcome"] == "queued"
    run_worker()
    [push] = pushes(line_extra)
    agent, way_back = push.get_json()["messages"]
    assert agent["text"] == "สวัสดีค่ะ มีอะไรให้ช่วยไหมคะ"
    assert "จบการสนทนา" in way_back["text"] and "1669" in way_back["text"]
    assert way_back["quickReply"] == END_CHAT_QUICK_REPLY
    assert len(oho.calls("POST", "/request-agent")) == 1

    replies_before = len(replies(line_extra))
    say(webhook, run_worker, "ขอบคุณค่ะ")  # the agent has the chat: the bot keeps quiet
    assert len(replies(line_extra)) == replies_before
    press(webhook, run_worker, END_POSTBACK)  # the button the agent's message came with
    assert "จบการสนทนากับเจ้าหน้าที่แล้ว" in last_reply(line_extra)[0]["text"]
    assert len(oho.calls("POST", "/close-chat")) == 1
    say(webhook, run_worker, "ที่จอดรถ")
    assert last_reply(line_extra) == services.dialog.answer_topic("parking").messages


def test_an_agent_reply_line_rejects_is_noted_for_the_agents(webhook, client, run_worker, line_extra, oho, livedesk,
                                                             redis):
    from rq.registry import FailedJobRegistry

    from workers.queues import get_queue

    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    line_extra.clear_all_handlers()
    line_extra.expect_request("/v2/bot/message/push").respond_with_json(
        {"message": "The request body has 1 error(s)"}, status=400)
    post_livedesk(client, agent_event(9005, "ผลตรวจพร้อมแล้วค่ะ"))
    run_worker()
    [note] = [m for m in livedesk.messages if m["content"] == undelivered_note("9005")]
    assert note["private"] and note["in_reply_to"] == 9005
    assert redis.llen("handoff:to-patient:dead") == 1
    failed = FailedJobRegistry(queue=get_queue(redis))
    assert [get_queue(redis).fetch_job(j).func_name for j in failed.get_job_ids()] == [
        "workers.handoff.jobs.drain_to_patient"]


def test_only_attachments_on_livedesk_hosts_reach_the_patient(webhook, client, run_worker, line_extra, oho, livedesk):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    attachments = [
        {"file_type": "image", "data_url": "https://livedesk.test/a.png", "thumb_url": "https://evil.test/t.png"},
        {"file_type": "file", "data_url": "https://livedesk.test/form.pdf"},
        {"file_type": "image", "data_url": "https://livedesk.test.evil.test/b.png"},
        {"file_type": "file", "data_url": "https://pages.livedesk.test/c.pdf"},  # a sibling host: not LiveDesk's
    ]
    post_livedesk(client, agent_event(9020, "เอกสารค่ะ", attachments=attachments))
    run_worker()
    [push] = pushes(line_extra)
    text, image = push.get_json()["messages"]
    assert text["text"] == ("เอกสารค่ะ\n📎 https://livedesk.test/form.pdf\n"
                            "📎 (ไฟล์แนบไม่แสดง / attachment not shown)\n📎 (ไฟล์แนบไม่แสดง / attachment not shown)")
    assert image == {"type": "image", "originalContentUrl": "https://livedesk.test/a.png",
                     "previewImageUrl": "https://livedesk.test/a.png", "quickReply": END_CHAT_QUICK_REPLY}
    assert "evil" not in push.get_data(as_text=True) and "pages." not in push.get_data(as_text=True)
