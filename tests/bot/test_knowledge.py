"""The knowledge base: normalisation, matching patients' phrasings, and file checks."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from bot.knowledge import DEFAULT_FILE, REQUIRED_TOPICS, KnowledgeBase, KnowledgeError
from bot.text import normalize

ZW = "\u200b"  # zero-width space, as pasted from other apps


@pytest.fixture(scope="module")
def kb():
    return KnowledgeBase.load()


# --- normalize -------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("ค่ํา", "ค่ำ"),                        # decomposed sara am, tone mark first
    ("คํ่า", "ค่ำ"),                         # decomposed sara am, nikhahit first
    ("โทร ๑๖๖๙", "โทร 1669"),               # Thai digits
    (f"เวลา{ZW}ทำ\u200dการ\ufeff", "เวลาทำการ"),
    ("สวัสดีค่าาาาา", "สวัสดีค่า"),          # stretched ending
    ("ที่่จอด", "ที่จอด"),                    # doubled tone mark
    ("เเม่", "แม่"),                        # two sara e typed for sara ae
    ("  Opening   HOURS!!! 😊🙏🏻 ", "opening hours"),
    ("Can’t  breathe", "cant breathe"),
    ("ＯＰＤ　１２３", "opd 123"),           # full-width forms and ideographic space
    ("ราคา ฿100 ๆ", "ราคา 100 ๆ"),
    ("1669 555", "1669 555"),               # repeated digits are kept
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


# --- matching --------------------------------------------------------------------

PHRASINGS = {
    "greeting": ["สวัสดีค่ะ", "หวัดดีครับบบบ", f"สวัส{ZW}ดี", "Hello", "  HI  there ", "sawasdee ka"],
    "hours": ["เวลาทำการ", "โรงพยาบาลเปิดกี่โมงคะ", "เวลาทำกาน", "เปิด วันเสาร์ ไหมคะ",
              "Opening HOURS?", "what time do you open", "opning hours"],
    "location": ["โรงพยาบาลอยู่ที่ไหนคะ", "ขอแผนที่หน่อย", "ไปโรงพยาบาลยังไง", "ขอโลเคชั่นค่ะ",
                 "Where is the hospital?", "ADDRESS please", "directons"],
    "contact": ["ขอเบอร์โทรศัพท์โรงพยาบาล", "เบอร์ติดต่อ", "ช่องทางติดต่อมีอะไรบ้าง", "โทรศัพ์ท",
                "Phone number?", "contact", "EMAIL address"],
    "appointment": ["นัดหมาย", "อยากนัดหมอค่ะ", "ขอเลื่อนนัด วันที่ ๑๕", "ยกเลิกนัดค่ะ",
                    "นัดหมยค่ะ", "Book an APPOINTMENT", "appoinment"],
    "documents": ["ต้องเตรียมเอกสารอะไรบ้าง", "ต้องใช้อะไรบ้างคะ", "ใช้สิทธิบัตรทองได้ไหม", "มีใบส่งตัวไหม",
                  "What to bring?", "social security", "documets"],
    "parking": ["ที่จอดรถอยู่ไหน", "ค่าจอดรถเท่าไหร่", "จอด รถ ได้ไหม", "มีลานจอดไหม",
                "Parking?", "car park", "parkng fee"],
    "visiting": ["เวลาเยี่ยมไข้", "ไปเยี่ยมผู้ป่วยได้กี่โมง", "ญาติเฝ้าได้กี่คน", "เยี่ยมไข้ได้ถึง ๒๐ โมงไหม",
                 "Visiting hours?", "can I visit a patient", "visitng hours"],
    "emergency": ["เจ็บหน้าอกมาก", "พ่อหายใจไม่ออก", "แม่หมดสติ", "เลือดออกมากไม่หยุด",
                  "ลูกชักเกร็ง", "ยายปากเบี้ยว พูดไม่ชัด", "เจ็บหน้าออก", "หายใจไม่อก",
                  "โทร ๑๖๖๙", f"หมด{ZW}สติ", "CHEST PAIN", "I can't breathe", "cant breath",
                  "possible stroke", "my son is having a seizure"],
    "staff": ["ขอคุยกับเจ้าหน้าที่", "ติดต่อเจ้าหน้าที่หน่อยค่ะ", "อยากคุยกับคนจริง", "แอดมินอยู่ไหม",
              "talk to staff", "Real Person please", "I want a human"],
    "verify": ["ยืนยันตัวตน", "ผูกบัญชีไลน์", "ขอรหัส OTP", "ยืนยันตัวตนยังไงคะ",
               "verify", "Link my account", "verfication"],
    "thanks": ["ขอบคุณค่ะ", "ขอบคุณมากครับบบ", "ขอบคุน", "ขอบพระคุณค่ะ", "Thank you!", "thx", "THANKS a lot"],
}


@pytest.mark.parametrize("text, topic_id",
                         [(text, topic) for topic, texts in PHRASINGS.items() for text in texts])
def test_phrasings_match_their_topic(kb, text, topic_id):
    match = kb.match(text)
    assert match.topic_id == topic_id
    assert 0 < match.score <= 1


def test_every_required_topic_has_phrasings_in_the_table():
    assert set(PHRASINGS) == set(REQUIRED_TOPICS)
    assert all(len(texts) >= 4 for texts in PHRASINGS.values())


def test_exact_trigger_scores_one_and_typo_scores_less(kb):
    assert kb.match("นัดหมาย").score == 1.0
    assert 0 < kb.match("apointment").score < 1.0


@pytest.mark.parametrize("text", [
    "นัดหมายไว้พรุ่งนี้ แต่ตอนนี้เจ็บหน้าอกมาก",
    "สวัสดีค่ะ พ่อหมดสติ",
    "ขอบคุณค่ะ ลูกชักเกร็ง ต้องทำยังไง",
    "ที่จอดรถอยู่ไหน แม่ปากเบี้ยว",
    "where do I park? my dad has chest pain",
    "ห้องฉุกเฉินเปิดกี่โมง",
    "ขอคุยกับเจ้าหน้าที่ หายใจไม่ออก",
])
def test_emergency_wins_over_everything(kb, text):
    assert kb.match(text).topic_id == "emergency"


@pytest.mark.parametrize("text, topic_id", [
    ("นัดหมาย", "appointment"),
    ("ขอบคุณ", "thanks"),
    ("สวัสดี", "greeting"),
    ("สวัสดีค่ะ อยากนัดหมอ", "appointment"),      # a greeting in front of a question
    ("ขอบคุณค่ะ ที่จอดรถอยู่ไหน", "parking"),
    ("โรงพยาบาลเปิดกี่โมง", "hours"),            # โรงพยาบาล is not a typo of รถพยาบาล
    ("ขอเบอร์โทรเจ้าหน้าที่", "staff"),            # the longer trigger wins
    ("this is a test", "unknown"),               # "hi" only as a whole word
    ("parkinson clinic", "unknown"),             # "parking" only as a whole word
])
def test_no_false_positives(kb, text, topic_id):
    assert kb.match(text).topic_id == topic_id


@pytest.mark.parametrize("text", [
    "ผลเลือดออกหรือยัง", "ชักโครกเสีย", "เป็นไมเกรน", "ประกันอุบัติเหตุใช้ได้ไหม", "หมดอายุ",
])
def test_everyday_words_are_not_emergencies(kb, text):
    assert kb.match(text).topic_id != "emergency"


@pytest.mark.parametrize("text", ["", "   ", "asdfghjkl", "กขคงจ", "🙂🙂🙂", "12345", "?!", "อยากกินข้าวมันไก่"])
def test_unknown_when_nothing_fits(kb, text):
    assert kb.match(text).topic_id == "unknown"
    assert kb.match(text).score == 0.0


# --- the shipped file ---------------------------------------------------------------

def test_default_file_has_the_required_topics_and_fallbacks(kb):
    ids = {topic.id for topic in kb.topics}
    assert ids >= set(REQUIRED_TOPICS) | {"unknown", "non_text"}
    assert kb.topic("hours").triggers
    with pytest.raises(KeyError):
        kb.topic("no-such-topic")


def test_placeholders_are_filled_from_hospital(kb):
    text = json.dumps([t.messages for t in kb.topics], ensure_ascii=False)
    assert "{" not in text.replace('{"', "").replace("{}", "")  # no "{phone}" left
    assert "02-000-0000" in json.dumps(kb.topic("contact").messages, ensure_ascii=False)
    location = kb.topic("location").messages[0]
    assert location["type"] == "location" and isinstance(location["latitude"], float)


def test_quick_reply_menu_is_expanded(kb):
    items = kb.topic("greeting").messages[-1]["quickReply"]["items"]
    assert {"type": "postback", "label": "🕗 เวลาทำการ", "displayText": "🕗 เวลาทำการ",
            "data": "action=topic&id=hours"} in [item["action"] for item in items]


# --- file errors ------------------------------------------------------------------

@pytest.fixture
def default_data():
    return yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


def _topic(data, topic_id):
    return next(t for t in data["topics"] if t["id"] == topic_id)


def _load(tmp_path, data):
    path = tmp_path / "kb.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return KnowledgeBase.load(str(path))


def test_a_copy_of_the_default_file_loads(tmp_path, default_data):
    assert _load(tmp_path, default_data).match("ที่จอดรถ").topic_id == "parking"


def _break_missing_id(data):
    del _topic(data, "hours")["id"]


def _break_duplicate_id(data):
    data["topics"].append(copy.deepcopy(_topic(data, "parking")))


def _break_no_triggers(data):
    _topic(data, "parking")["triggers"] = []


def _break_no_messages(data):
    del _topic(data, "parking")["messages"]


def _break_six_messages(data):
    _topic(data, "parking")["messages"] *= 6


def _break_fourteen_quick_replies(data):
    data["quick_replies"] = data["quick_replies"] * 2


def _break_message_quick_reply(data):
    item = {"type": "action", "action": {"type": "postback", "label": "x", "data": "action=topic&id=hours"}}
    _topic(data, "parking")["messages"][0]["quickReply"] = {"items": [item] * 14}


def _break_long_label(data):
    data["quick_replies"][0]["label"] = "ก" * 21


def _break_missing_required(data):
    data["topics"] = [t for t in data["topics"] if t["id"] != "verify"]
    data["quick_replies"] = [q for q in data["quick_replies"] if q["id"] != "verify"]


def _break_unknown_placeholder(data):
    _topic(data, "parking")["messages"][0]["text"] = "โทร {fax}"


def _break_missing_alt_text(data):
    del _topic(data, "hours")["messages"][0]["altText"]


def _break_missing_fallback(data):
    del data["fallbacks"]["unknown"]


@pytest.mark.parametrize("break_it, expected", [
    (_break_missing_id, ["topic #", "id: missing"]),
    (_break_duplicate_id, ["topic 'parking'", "id: duplicate"]),
    (_break_no_triggers, ["topic 'parking'", "triggers"]),
    (_break_no_messages, ["topic 'parking'", "messages"]),
    (_break_six_messages, ["topic 'parking'", "messages: 6 messages", "at most 5"]),
    (_break_fourteen_quick_replies, ["quick_replies", "1 to 13"]),
    (_break_message_quick_reply, ["topic 'parking'", "messages.quickReply", "13"]),
    (_break_long_label, ["quick_replies", "label"]),
    (_break_missing_required, ["topic 'verify'", "required topic is missing"]),
    (_break_unknown_placeholder, ["topic 'parking'", "{fax}"]),
    (_break_missing_alt_text, ["topic 'hours'", "altText"]),
    (_break_missing_fallback, ["topic 'unknown'", "messages"]),
])
def test_malformed_file_is_rejected_naming_file_topic_and_field(tmp_path, default_data, break_it, expected):
    break_it(default_data)
    with pytest.raises(KnowledgeError) as caught:
        _load(tmp_path, default_data)
    message = str(caught.value)
    assert str(tmp_path / "kb.yaml") in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize("content", ["topics: [unclosed", "just a string", "topics: []"])
def test_unusable_yaml_is_rejected_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match="bad.yaml"):
        KnowledgeBase.load(str(path))


def test_missing_file_is_rejected_naming_it(tmp_path):
    with pytest.raises(KnowledgeError, match="nowhere.yaml: cannot read"):
        KnowledgeBase.load(str(tmp_path / "nowhere.yaml"))


# --- words, hints and safety answers -----------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("โรงบาลเปิดกี่โมงคะ", ["โรงพยาบาล", "เปิด", "กี่", "โมง", "ค่ะ"]),
    ("รพ.เปิดมั้ย", ["โรงพยาบาล", "เปิด", "ไหม"]),
    ("ดีคับ", ["ดี", "ครับ"]),
    ("เปิด ๘ โมงงงง", ["เปิด", "8", "โมง"]),
    ("where r u", ["where", "are", "you"]),
])
def test_words_are_segmented_and_folded_to_one_spelling(raw, expected):
    from bot.text import words
    assert words(raw) == expected


def test_hints_point_to_a_topic_only_when_no_trigger_matches(kb):
    assert kb.match("ตึก 3 อยู่ไหน").topic_id == "location"
    assert kb.match("ตึกผู้ป่วยในเยี่ยมได้กี่โมง").topic_id == "visiting"  # a trigger beats the hint


@pytest.mark.parametrize("topic_id, number", [("emergency", "1669"), ("self_harm", "1323")])
def test_a_safety_answer_without_its_hotline_is_refused(topic_id, number):
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    answer = data["fallbacks"]["self_harm"] if topic_id == "self_harm" else data["topics"][0]
    assert answer.get("id", "self_harm") == topic_id
    answer["messages"] = [{"type": "text", "text": "please call us"}]
    with pytest.raises(KnowledgeError, match=f"topic '{topic_id}'.*hotline {number}"):
        KnowledgeBase(data)


def test_hints_must_be_a_list():
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    data["topics"][1]["hints"] = "ตึก"
    with pytest.raises(KnowledgeError, match="hints: must be a list"):
        KnowledgeBase(data)
