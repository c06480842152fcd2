"""The dialog core: events in, LINE messages out, within LINE's limits."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
from linebot.v3.messaging import Message

from bot.dialog import Dialog, Reply
from bot.knowledge import KnowledgeBase
from tests.flex_rules import assert_valid_flex

KB = KnowledgeBase.load()
PHONE = "02-000-0000"


@pytest.fixture
def dialog():
    return Dialog(KB)


@pytest.fixture(scope="module")
def triggers_only():
    """The trigger matcher alone: what answers when scikit-learn is not installed."""
    return Dialog(KB, learned=False)


def _quick_reply_topics(message: dict) -> list[str]:
    return [item["action"]["data"].removeprefix("action=topic&id=")
            for item in message["quickReply"]["items"]]


def _actions(node):
    """Every action object anywhere inside a message (buttons, quick replies)."""
    if isinstance(node, dict):
        if "action" in node and isinstance(node["action"], dict):
            yield node["action"]
        for value in node.values():
            yield from _actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _actions(value)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- LINE limits, on every answer the knowledge base can give ---------------------------

@pytest.mark.parametrize("topic_id", [t.id for t in KB.topics])
def test_every_answer_is_a_valid_line_reply(dialog, topic_id):
    reply = dialog.answer_topic(topic_id)
    assert reply.intent == topic_id
    assert 1 <= len(reply.messages) <= 5
    for message in reply.messages:
        assert Message.from_dict(message) is not None  # the LINE SDK's own model accepts it
        json.dumps(message)
        if message["type"] == "text":
            assert 1 <= len(message["text"]) <= 5000
            assert "ค่ะ" in message["text"] or "คะ" in message["text"]  # polite, one voice
            assert "ครับ" not in message["text"]
        if message["type"] == "flex":
            assert message["contents"]["type"] in {"bubble", "carousel"}
            assert 1 <= len(message["altText"]) <= 1500
            assert_valid_flex(message)
        if "quickReply" in message:
            items = message["quickReply"]["items"]
            assert 1 <= len(items) <= 13
            for item in items:
                assert item["type"] == "action"
                assert 1 <= _utf16(item["action"]["label"]) <= 20
        for action in _actions(message):
            # 20 is the quick reply limit; buttons keep to it too, so every label fits everywhere.
            assert 1 <= _utf16(action["label"]) <= 20
            if action["type"] == "postback":
                assert len(action["data"]) <= 300 and len(action.get("displayText", "")) <= 300
            if action["type"] == "uri":
                assert urlparse(action["uri"]).scheme in {"https", "tel"}


def test_quick_reply_postbacks_name_existing_topics(dialog):
    topics = _quick_reply_topics(dialog.on_follow().messages[-1])
    assert topics and all(KB.topic(t) for t in topics)


# --- events ----------------------------------------------------------------------

def test_follow_greets_with_the_topics_menu(dialog):
    reply = dialog.on_follow()
    assert reply.intent == "greeting"
    assert "สวัสดีค่ะ" in reply.messages[0]["text"]
    assert {"hours", "location", "appointment", "staff"} <= set(_quick_reply_topics(reply.messages[-1]))


def test_text_is_answered_with_its_topic_and_score(dialog, triggers_only):
    reply = dialog.on_text("ที่จอดรถอยู่ตรงไหนคะ")
    assert reply.intent == "parking" and reply.score == 1.0
    assert "ที่จอดรถ" in reply.messages[0]["text"]
    assert 0 < triggers_only.on_text("ที่จอดรท").score < 1  # a typo: the trigger matcher is less sure
    assert dialog.on_text("ที่จอดรท").intent == "parking"


def test_emergency_answer_offers_to_call_1669(dialog):
    reply = dialog.on_text("แม่หายใจไม่ออก")
    assert reply.intent == "emergency"
    assert "1669" in reply.messages[0]["text"]
    uris = [a["uri"] for m in reply.messages for a in _actions(m) if a["type"] == "uri"]
    assert "tel:1669" in uris


@pytest.mark.parametrize("text", ["", "asdfghjkl", "🙂"])
def test_unknown_text_gets_menu_and_a_way_to_staff(dialog, text):
    reply = dialog.on_text(text)
    assert reply.intent == "unknown" and reply.score == 0.0
    assert PHONE in reply.messages[0]["text"] and "1669" in reply.messages[0]["text"]
    topics = _quick_reply_topics(reply.messages[-1])
    assert "staff" in topics and {"hours", "location"} <= set(topics)


@pytest.mark.parametrize("topic_id", ["hours", "location", "emergency", "staff", "verify", "thanks"])
def test_postback_shows_its_topic(dialog, topic_id):
    reply = dialog.on_postback(f"action=topic&id={topic_id}")
    assert reply == Reply(topic_id, list(KB.topic(topic_id).messages), 1.0)


@pytest.mark.parametrize("data", [
    "action=topic&id=no-such-topic",
    "action=topic",
    "action=other&id=hours",
    "id=hours",
    "action=topic&id=hours&id=parking",
    "%%%&&&==",
    "",
    None,
])
def test_unknown_or_malformed_postback_gets_the_unknown_answer(dialog, data):
    assert dialog.on_postback(data).intent == "unknown"


@pytest.mark.parametrize("kind", ["sticker", "image", "video", "audio", "file", "location", "something-new"])
def test_other_messages_get_a_polite_text_only_answer(dialog, kind):
    reply = dialog.on_other_message(kind)
    assert reply.intent == "non_text"
    assert "ข้อความ" in reply.messages[0]["text"] and PHONE in reply.messages[0]["text"]
    assert "staff" in _quick_reply_topics(reply.messages[-1])


def test_staff_and_verify_say_coming_soon_and_give_the_phone_and_1669(dialog):
    for topic_id in ("staff", "verify"):
        text = dialog.answer_topic(topic_id).messages[0]["text"]
        assert "เร็ว ๆ นี้" in text and PHONE in text and "1669" in text


def test_answers_are_copies_that_callers_may_change(dialog):
    reply = dialog.answer_topic("hours")
    reply.messages[0]["altText"] = "changed"
    reply.messages.append({"type": "text", "text": "extra"})
    again = dialog.answer_topic("hours")
    assert again.messages[0]["altText"] != "changed" and len(again.messages) == 1


def test_the_dialog_core_imports_no_web_or_http_stack():
    import subprocess
    import sys
    code = ("import sys, bot.dialog, bot.knowledge, bot.text; "
            "print(sorted(m for m in ('flask', 'requests', 'redis', 'werkzeug') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- did you mean, and the way to staff --------------------------------------------

def test_a_near_miss_gets_did_you_mean_buttons_with_the_way_to_staff(triggers_only):
    reply = triggers_only.on_text("ค่าจอ")  # close to parking words, matched by no trigger
    assert reply.intent == "unknown" and reply.score == 0.0
    items = reply.messages[-1]["quickReply"]["items"]
    data = [item["action"]["data"] for item in items]
    assert "action=topic&id=parking" in data[:3]
    assert "action=handoff" in data and "action=topic&id=emergency" in data
    assert 3 <= len(items) <= 13 and "1669" in reply.messages[0]["text"]


def test_the_staff_button_answers_with_the_staff_topic_when_no_handoff_takes_it(dialog):
    assert dialog.on_postback("action=handoff").intent == "staff"
    assert dialog.on_postback("action=handoff&from=unknown").intent == "staff"


@pytest.mark.parametrize("text, topic", [
    ("โรงบาลเปิดกี่โมงค่ะ", "hours"), ("รพ.เปิดวันอาทิตย์มั้ย", "hours"), ("where is building 5", "location"),
    ("what do I bring the first time", "documents"), ("where can I park", "parking"),
    ("ถนัดมือซ้ายค่ะ", "unknown"),  # นัด inside another word is not an appointment
])
def test_colloquial_and_place_phrased_questions_reach_their_topic(dialog, text, topic):
    assert dialog.on_text(text).intent == topic


# --- kinds of emergency, near-misses, other scripts ------------------------------------------

def _texts(reply) -> str:
    return json.dumps(reply.messages, ensure_ascii=False)


def test_violence_happening_now_gets_the_police_and_the_social_hotline(dialog):
    reply = dialog.on_text("ผัวเมามาทุบตีหนูอยู่ตอนนี้ ช่วยด้วย")
    assert reply.intent == "emergency" and reply.kind == "violence"
    assert "191" in reply.messages[0]["text"] and "1300" in reply.messages[0]["text"]


def test_poisoning_gets_the_poison_center_and_1669(dialog):
    reply = dialog.on_text("ลุงดื่มยาฆ่าหญ้าไปครึ่งขวด")
    assert reply.intent == "emergency" and reply.kind == "poisoning"
    assert "1367" in reply.messages[0]["text"] and "1669" in reply.messages[0]["text"]


def test_every_emergency_answer_offers_not_an_emergency_and_staff_on_its_last_message(dialog):
    for text in ("แม่หมดสติ", "อยากตาย", "มีคนถือมีดขู่จะฆ่า", "my son swallowed a battery"):
        items = dialog.on_text(text).messages[-1]["quickReply"]["items"]
        assert [i["action"]["data"] for i in items[-2:]] == ["action=not_emergency", "action=handoff"], text
        assert len(items) <= 13


def test_not_an_emergency_gives_the_patient_back_to_the_bot(dialog):
    for reply in (dialog.on_postback("action=not_emergency"), dialog.on_text("ไม่ใช่เหตุฉุกเฉินค่ะ")):
        assert reply.intent == "not_emergency" and "1669" in reply.messages[0]["text"]
        assert reply.messages[0]["quickReply"] == dialog.kb.menu


@pytest.mark.parametrize("text, topic", [
    ("เมื่อเดือนก่อนเจ็บหน้าอก ไปห้องฉุกเฉินหมอบอกว่ากรดไหลย้อน อยากนัดติดตามผล", "appointment"),
    ("ผลตรวจเลือดออกยังคะ", "results"),
])
def test_a_near_miss_gets_its_topic_and_one_safety_line_not_the_emergency_answer(dialog, text, topic):
    reply = dialog.on_text(text)
    assert reply.intent == topic, text
    if topic == "appointment":  # mentions chest pain: a line on what to do if it is happening now
        assert "ถ้าตอนนี้" in reply.messages[-1]["text"] and "1669" in reply.messages[-1]["text"]
        assert len(reply.messages) == len(dialog.answer_topic(topic).messages) + 1


def test_a_myanmar_message_gets_the_myanmar_answer_with_staff_and_1669(dialog):
    reply = dialog.on_text("ဆရာဝန်နဲ့ တွေ့ချင်ပါတယ် ဘယ်လိုလုပ်ရမလဲ")  # I want to see a doctor, what do I do?
    assert reply.intent == "other_language"
    [message] = reply.messages
    assert "ဝန်ထမ်း" in message["text"] and "1669" in message["text"] and KB.hospital["phone"] in message["text"]
    data = [i["action"].get("data") or i["action"].get("uri") for i in message["quickReply"]["items"]]
    assert data == ["action=handoff", "tel:1669"]


def test_an_emergency_in_khmer_gets_its_numbers_in_khmer_then_the_1669_answer(dialog):
    reply = dialog.on_text("ប្តីខ្ញុំឈប់ដកដង្ហើមហើយ ជួយផង!")  # my husband has stopped breathing, help!
    assert reply.intent == "emergency" and reply.kind == "medical"
    assert "1669" in reply.messages[0]["text"] and "1669" in _texts(reply)


def test_romanised_and_regional_thai_are_read_as_central_thai(dialog):
    assert dialog.on_text("chuay duay mae mai hai jai").intent == "emergency"
    assert dialog.on_text("yak nad mor fun").intent in ("appointment", "dental")
    assert dialog.on_text("perd kee mong ka").intent == "hours"
    assert dialog.on_text("พ่อใหญ่เจ็บเอิก หายใจบ่อิ่ม").intent == "emergency"


def test_a_hospital_adds_its_own_words_without_touching_the_shipped_lexicon(tmp_path):
    from types import SimpleNamespace

    from bot.dialog import build_dialog
    (tmp_path / "words.yaml").write_text("isan:\n  ซิกแซก: ที่จอดรถ\n", encoding="utf-8")
    settings = SimpleNamespace(bot_lexicon_file=str(tmp_path / "words.yaml"), bot_languages_file=None)
    assert build_dialog(KB, settings).on_text("ซิกแซกอยู่ไหน").intent == "parking"
    assert Dialog(KB).read("ซิกแซกอยู่ไหน") == "ซิกแซกอยู่ไหน"
