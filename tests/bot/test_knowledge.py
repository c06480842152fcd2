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
    "documents": ["ต้องเตรียมเอกสารอะไรบ้าง", "ต้องใช้อะไรบ้างคะ", "ครั้งแรกต้องใช้บัตรอะไร", "มีใบส่งตัวไหม",
                  "What to bring?", "is an ID card needed", "documets"],
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


# The shipped file's other topics: a hospital may drop or rename these, so they are not required.
MORE_PHRASINGS = {
    "fees": ["ค่ารักษาแพงไหมคะ", "จ่ายด้วยบัตรเครดิตได้ไหม", "ค่าหมอกี่บาทคะ", "kha rak sa tao rai"],
    "rights_uc": ["บัตรทองต้องจ่ายเงินไหม", "ใช้สิทธิบัตรทองได้ไหม", "บัดทองใช้ได้ไหม", "gold card accepted?"],
    "rights_sso": ["ผู้ประกันตนมาตรา 33 ต้องเตรียมอะไร", "social security", "ประกันสังคมทำฟันได้ไหม",
                   "prakan sangkom chai dai mai"],
    "rights_civil": ["พ่อเป็นข้าราชการบำนาญ เบิกได้ไหม", "เบิกจ่ายตรงต้องลงทะเบียนไหม", "สิทธิ อปท ใช้ได้ไหม",
                     "civil servant can I use my rights"],
    "rights_change": ["อยากย้ายสิทธิบัตรทองมาที่นี่", "เช็คสิทธิยังไง", "เปลี่ยนโรงพยาบาลประกันสังคมได้ตอนไหน",
                      "how do I check my rights"],
    "results": ["ผลเลือดได้กี่วัน", "อยากรู้ผล x-ray ค่ะ", "ขอผลตรวจสุขภาพ", "when will my lab results be ready"],
    "refill": ["ยาความดันใกล้หมดแล้ว ขอยาเดิมได้ไหม", "สวัสดีค่ะ ยาหมดแล้วค่ะ", "ห้องยาเปิดกี่โมง",
               "I ran out of medicine"],
    "medicine_pickup": ["ให้ลูกไปรับยาแทนได้ไหม", "มีบริการส่งยาถึงบ้านไหม", "can my son pick up medicine for me",
                        "rub ya tan dai mai"],
    "certificate": ["ขอใบรับรองแพทย์ลางาน", "ใบรับลองแพทย์", "ขอใบรับรองแพทย์ 5 โรค สมัครงาน", "sick note please"],
    "vaccine": ["ฉีดวัคซีนไข้หวัดใหญ่ได้ที่ไหน", "วัคซีน hpv ราคาเท่าไหร่", "where can I get a flu shot", "wak seen"],
    "dental": ["อยากถอนฟันค่ะ", "สวัสดีค่ะ หมอฟันว่างไหม", "ขูดหินปูนกี่บาท", "toothache what to do"],
    "pediatrics": ["ลูกไม่สบาย มีหมอเด็กไหม", "คลินิกเด็กดีวันไหน", "ลูกเป็นไข้ 2 วันแล้ว", "is there a pediatrician"],
    "antenatal": ["อยากฝากครรภ์ค่ะ", "ฝากท้องครั้งแรกต้องทำไง", "อัลตราซาวด์ดูเพศลูกได้กี่เดือน", "fak khan"],
    "clinic_schedule": ["หมอตาออกตรวจวันไหน", "ขอตารางออกตรวจหน่อยค่ะ", "หมอผิวหนัง", "doctor schedule for ent"],
    "telemedicine": ["ปรึกษาหมอออนไลน์ได้ไหม", "มีวิดีโอคอลคุยกับหมอไหม", "can I see a doctor online", "mor online"],
    "records": ["ขอสำเนาเวชระเบียนค่ะ", "ขอแผ่นซีดีเอ็กซเรย์ไปรพ.อื่น", "ขอประวัติการรักษาไปยื่นประกัน",
                "I need a copy of my medical records"],
    "inpatient_items": ["เอาอาหารมาให้คนไข้ได้ไหม", "ฝากของให้แม่ที่นอนตึก 5 ได้ไหม", "เอาดอกไม้ไปเยี่ยมได้ไหม",
                        "can I bring food for my dad"],
    "interpreter": ["มีล่ามพม่าไหม", "สามีพูดไทยไม่ได้ค่ะ", "ขอล่ามภาษามือ", "need burmese translator"],
    "mild_symptoms": ["เป็นหวัด น้ำมูกไหล ไอนิดหน่อย", "มีไข้ต่ำๆ ปวดหัว", "เปนหวัดค่ะ", "I have a cold and sore throat"],
    "insurance": ["เคลมประกันต้องทำไง", "ขอเบอร์แฟกซ์", "do you accept private insurance", "klem prakan"],
    "checkup": ["ตรวจสุขภาพประจำปีราคาเท่าไหร่", "มีแพ็กเกจตรวจสุขภาพไหม", "ตรวจสุขภาพก่อนเข้าทำงาน",
                "annual health checkup price"],
    "admission": ["ห้องพิเศษคืนละเท่าไหร่", "แม่ต้องนอนโรงพยาบาล ต้องทำยังไง", "แอดมิทต้องจ่ายมัดจำไหม",
                  "private room rate"],
    "complaint": ["อยากร้องเรียนพยาบาล", "เจ้าหน้าที่พูดจาไม่ดีมาก", "ขอบคุณค่ะ ประทับใจบริการมาก",
                  "I want to make a complaint"],
    "blood_donation": ["อยากบริจาคเลือด", "รับบริจาคโลหิตวันไหน", "where can I donate blood", "borijak lued"],
}


@pytest.mark.parametrize("text, topic_id", [(text, topic) for table in (PHRASINGS, MORE_PHRASINGS)
                                            for topic, texts in table.items() for text in texts])
def test_phrasings_match_their_topic(kb, text, topic_id):
    match = kb.match(text)
    assert match.topic_id == topic_id
    assert 0 < match.score <= 1


def test_every_required_topic_has_phrasings_in_the_table():
    assert set(PHRASINGS) == set(REQUIRED_TOPICS)
    assert all(len(texts) >= 4 for texts in PHRASINGS.values())


def test_every_topic_of_the_shipped_file_has_phrasings_in_the_tables(kb):
    ids = {t.id for t in kb.topics} - {"unknown", "non_text", "self_harm"}
    assert len(ids) == 36 and ids == set(PHRASINGS) | set(MORE_PHRASINGS)
    assert all(len(texts) >= 4 for texts in MORE_PHRASINGS.values())


@pytest.mark.parametrize("text, topic_id", [
    ("หวัดดีจ้า", "greeting"),                 # not a cold: no bare "หวัด"
    ("ลูกชอบกินไอติม", "unknown"),              # not a cough: no bare "ไอ"
    ("ขายของออนไลน์", "unknown"),              # not telemedicine
    ("the weather is cold today", "unknown"),
    ("ราคาน้ำมันขึ้นอีกแล้ว", "unknown"),         # a price, not a hospital fee
    ("ช่วยแปลภาษาจีนหน่อย", "unknown"),          # not an interpreter
    ("ขายประกันรถยนต์ค่ะ", "unknown"),           # not health insurance
    ("ได้ค่ะ ตรวจวันไหนดี", "clinic_schedule"),  # "ค่ะ ตรวจ" is not "ค่าตรวจ"
    ("โอเคค่ะ ห้องยาอยู่ชั้นไหน", "location"),     # "ค่ะ ห้อง" is not "ค่าห้อง"
    ("ห้องยาอยู่ชั้นไหนคะ", "location"),
    ("เยี่ยมคนไข้ห้องพิเศษได้กี่โมง", "visiting"),
    ("อยากเลื่อนนัดฟังผล", "appointment"),
    ("ขอนัดหมอกระดูก", "appointment"),         # a specialist's name is only a hint
    ("ขอเบอร์ติดต่อแผนกทันตกรรม", "contact"),
    ("สิทธิการรักษาของฉันอยู่ที่ไหน", "rights_change"),
    # one letter from a trigger, and read as a typo of it unless listed in not_typos
    ("จะเป็นได้ยังไง", "unknown"),              # เป็นไข้
    ("ลูกอยู่ห้องเรียน", "unknown"),              # ร้องเรียน
    ("ถอนเงินตรงไหน", "location"),             # โอนเงิน
])
def test_new_topics_leave_other_questions_alone(kb, text, topic_id):
    assert kb.match(text).topic_id == topic_id


@pytest.mark.parametrize("text, not_topic", [
    ("จ่ายตรงไหนคะ", "rights_civil"),          # where to pay, not เบิกจ่ายตรง
    ("ยาไม่พอใช้ค่ะ", "complaint"),             # ไม่พอใช้ is one letter from ไม่พอใจ
    ("โรงพยาบาลประจำจังหวัดอยู่ไหน", "rights_change"),
    ("รอสามสิบนาที", "rights_uc"),
    ("ทำงานประจำ", "refill"),
])
def test_a_topic_above_others_takes_no_look_alike_words(kb, text, not_topic):
    assert kb.match(text).topic_id != not_topic


def test_no_other_topic_has_a_trigger_of_an_emergency(kb):
    """Emergency symptoms are the emergency topic's alone: no other topic's trigger or hint
    reads as one (which would make the emergency answer depend on the order of topics)."""
    found = [(t.id, p) for t in kb.topics if t.id != "emergency"
             for p in t.triggers + t.hints if kb.match(p).topic_id == "emergency"]
    assert found == []


def test_emergencies_in_words_of_the_new_topics_still_win(kb):
    for text in ("ลูกเป็นไข้ชัก", "เป็นหวัด หายใจไม่ออก", "ฝากครรภ์อยู่ ตอนนี้เลือดออกมาก",
                 "ห้องฉุกเฉินค่ารักษาเท่าไหร่", "ไปบริจาคเลือดแล้วเป็นลม"):
        assert kb.match(text).topic_id == "emergency", text


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
    _topic(data, "parking")["messages"][0]["text"] = "โทร {no_such_value}"


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
    (_break_unknown_placeholder, ["topic 'parking'", "{no_such_value}"]),
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


@pytest.mark.parametrize("hospital", [{}, {"name": "  "}, {"name": ["โรงพยาบาล"]}])
def test_a_knowledge_base_without_the_hospitals_name_is_refused(hospital):
    from bot.knowledge import hospital_name

    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    data["hospital"] = hospital
    with pytest.raises(KnowledgeError, match="hospital: name: missing"):
        KnowledgeBase(data)
    assert hospital_name() == KnowledgeBase.load().hospital_name == "โรงพยาบาลตัวอย่าง"
