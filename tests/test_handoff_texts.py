"""The pure parts of the handoff: end phrases, renderings for LiveDesk and LINE, the staff note, the state."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.handoff import (BANGKOK, HandoffState, agent_line_messages, handoff_note, idle_deadline, is_end_phrase,
                         known_from_oho, parse_business_hours, postback_action, render_line_messages,
                         render_patient_event)
from bot.knowledge import KnowledgeBase


@pytest.mark.parametrize("text", ["จบการสนทนา", "จบการสนทนาค่ะ", " จบ การสนทนา ครับ", "จบแชท", "ปิดแชทค่ะ",
                                  "End chat", "end chat please", "back to bot", "เลิกคุยกับเจ้าหน้าที่"])
def test_end_phrases_end_the_chat(text):
    assert is_end_phrase(text)


@pytest.mark.parametrize("text", ["", None, "ขอบคุณค่ะ", "จบ", "ยังไม่จบการสนทนานะคะ", "how do I end chat?",
                                  "อยากคุยต่อค่ะ จบการสนทนาทีหลัง"])
def test_other_messages_do_not(text):
    assert not is_end_phrase(text)


def test_postback_action():
    assert postback_action("action=handoff&from=unknown") == "handoff"
    assert postback_action("action=topic&id=staff") == "topic"
    assert postback_action("nonsense") is None


def test_bot_answers_render_as_text_and_flex_as_its_alt_text():
    kb = KnowledgeBase.load()
    rendered = render_line_messages(kb.topic("emergency").messages)
    assert rendered.startswith("⚠️ หากเป็นเหตุฉุกเฉิน")
    assert "[flex] เหตุฉุกเฉิน โทร 1669 ทันที / Emergency: call 1669" in rendered
    assert render_line_messages([{"type": "sticker", "packageId": "1", "stickerId": "1"}]) == "[sticker]"


def test_patient_events_render_for_agents():
    assert render_patient_event({"type": "message", "message": {"type": "text", "text": "สวัสดี"}}) == "สวัสดี"
    assert render_patient_event({"type": "message", "message": {"type": "sticker"}}) == "[สติกเกอร์ / sticker]"
    assert render_patient_event({"type": "postback", "postback": {"data": "action=topic&id=parking"}}) == \
        "[กดปุ่ม / button] parking"
    location = {"type": "message", "message": {"type": "location", "title": "บ้าน", "address": "ถนนตัวอย่าง",
                                               "latitude": 13.75, "longitude": 100.5}}
    assert render_patient_event(location) == "[ตำแหน่ง / location] บ้าน ถนนตัวอย่าง https://maps.google.com/?q=13.75,100.5"
    assert render_patient_event({"type": "unfollow"}) is None


def test_agent_message_becomes_text_images_and_file_links():
    messages = agent_line_messages("ดูเอกสารแนบค่ะ", [
        {"file_type": "image", "data_url": "https://ld.test/a.png", "thumb_url": "https://ld.test/a-thumb.png"},
        {"file_type": "file", "data_url": "https://ld.test/form.pdf"},
        {"file_type": "image", "data_url": "http://insecure.test/b.png"},  # LINE wants https: dropped
    ])
    assert messages == [
        {"type": "text", "text": "ดูเอกสารแนบค่ะ\n📎 https://ld.test/form.pdf"},
        {"type": "image", "originalContentUrl": "https://ld.test/a.png", "previewImageUrl": "https://ld.test/a-thumb.png"},
    ]
    assert agent_line_messages("", []) == []
    many = agent_line_messages("", [{"file_type": "image", "data_url": f"https://ld.test/{n}.png"} for n in range(6)])
    assert len(many) <= 5 and many[0]["type"] == "text"  # images beyond four become links


def test_note_has_reason_knowledge_and_last_messages():
    at = dt.datetime(2026, 1, 7, 14, 5, tzinfo=BANGKOK).timestamp()
    note = handoff_note("asked", opened_at=at, urgent=False, known={"เบอร์โทร": "0812345678"}, transcript=[
        {"who": "patient", "text": "ขอคุยกับ\nเจ้าหน้าที่", "at": at - 60},
        {"who": "bot", "text": "รับทราบค่ะ", "at": at}])
    assert note.splitlines()[:4] == ["🔔 ผู้ป่วยขอคุยกับเจ้าหน้าที่ (handoff จาก LINE bot)",
                                     "เหตุผล: ผู้ป่วยขอคุยกับเจ้าหน้าที่", "เวลา: 14:05 น. 7 ม.ค. 2569",
                                     "ข้อมูลที่ระบบทราบ:"]
    assert "- เบอร์โทร: 0812345678" in note
    assert "[14:04] ผู้ป่วย: ขอคุยกับ เจ้าหน้าที่" in note and "[14:05] บอท: รับทราบค่ะ" in note
    assert handoff_note("emergency", opened_at=at, urgent=True, known={}, transcript=[]).startswith("🚨")


def test_known_from_oho_contact():
    contact = {"phone": "0812345678", "tags": ["vip", "ckd"], "labels": ["x"],
               "attributes": [{"display_name": "HN", "value": {"text": "HN-1"}}, {"broken": True}]}
    assert known_from_oho(contact) == {"เบอร์โทร (Oho)": "0812345678", "แท็ก": "vip, ckd", "HN": "HN-1"}


def test_state_round_trips_through_redis_fields():
    state = HandoffState(session="01ABC", reason="emergency", since=1.5, urgent=True, last_agent=3.0)
    raw = {k.encode(): v.encode() for k, v in state.to_fields().items()}
    assert HandoffState.from_fields(raw) == state
    assert HandoffState.from_fields({}) is None
    assert state.last_activity == 3.0


def test_idle_clock_starts_at_opening_until_an_agent_answers():
    hours = parse_business_hours("Mon-Fri 08:00-16:00")
    night = dt.datetime(2026, 1, 8, 22, 0, tzinfo=BANGKOK).timestamp()
    opening = dt.datetime(2026, 1, 9, 8, 0, tzinfo=BANGKOK).timestamp()
    waiting = HandoffState(session="s", reason="asked", since=night, last_patient=night)
    assert idle_deadline(waiting, hours, 60) == opening + 3600
    answered = HandoffState(session="s", reason="asked", since=night, last_agent=night + 60, agent_answered=True)
    assert idle_deadline(answered, hours, 60) == night + 60 + 3600
