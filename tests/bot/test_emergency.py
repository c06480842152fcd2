"""The emergency detector: every symptom family in Thai, colloquial Thai and English; few false alarms.

These phrasings are not those of the evaluation sets (bot/data/eval), so they check the
families generalise rather than repeat the sets.
"""

from __future__ import annotations

import pytest

from bot.dialog import Dialog
from bot.emergency import FAMILIES, detect
from bot.knowledge import KnowledgeBase

# family -> (Thai, colloquial or misspelt Thai, English)
PHRASINGS = {
    "breathing": ["ผู้ป่วยหายใจลำบาก", "หายใจไม่ค่อยออกเลยอ่ะ", "my wife can barely breathe"],
    "chest_pain": ["เจ็บแน่นหน้าอกด้านซ้าย", "แน่นหน้าออกมากกกก", "pain in my chest, spreading to my arm"],
    "unconscious": ["คุณพ่อหมดสติไปแล้ว", "ยายเป็นลมล้มฟุบหน้าบ้าน", "my brother collapsed in the kitchen"],
    "stroke": ["แม่ปากเบี้ยวข้างนึง", "พูดไม่ชัดลิ้นแข็งๆ", "his face is drooping"],
    "bleeding": ["เลือดออกมากที่ขา", "เลือดไหลไม่หยุดเลยค่าาา", "she is bleeding a lot"],
    "seizure": ["ลูกมีอาการชักเกร็ง", "น้องชักตาเหลือก", "my daughter is having a seizure"],
    "fall_head_injury": ["ผู้สูงอายุหกล้มศีรษะกระแทก", "ตกบันไดหัวฟาดอ่ะ", "grandma fell and banged her head"],
    "accident": ["ประสบอุบัติเหตุทางถนน", "รถชนคนเจ็บเยอะ", "there was a car crash outside"],
    "burn": ["ถูกน้ำร้อนลวกทั้งแขน", "โดนไฟไหม้มือ", "my son burned his hand on the stove"],
    "poisoning": ["รับประทานยาเกินขนาด", "ลูกกินยาฆ่าแมลงเข้าไป", "he swallowed rat poison"],
    "violence": ["สามีเมากำลังทุบตีหนูอยู่", "มีคนถือมีดขู่จะฆ่าแม่", "my husband is beating me right now"],
    "child_dehydration": ["ลูก 8 เดือนถ่ายเป็นน้ำทั้งวัน ไม่ฉี่เลย ซึมมาก", "หลานกระหม่อมบุ๋ม",
                          "my baby has diarrhoea, no wet nappies since morning and is floppy"],
    "bite_sting": ["ถูกงูกัดที่เท้า", "โดนหมากัดอ่ะ", "a snake bit my dad"],
    "choking": ["เด็กสำลักอาหาร", "ลูกกลืนเหรียญติดคอ", "my baby is choking on a grape"],
    "allergy": ["แพ้ยาปากบวมหน้าบวม", "กินกุ้งแล้วลมพิษขึ้น", "throat swelling after a bee sting"],
    "pregnancy": ["ตั้งครรภ์ 6 เดือนมีเลือดออก", "เมียท้องแก่น้ำเดินแล้ว", "my pregnant sister is bleeding"],
    "self_harm": ["มีความคิดอยากฆ่าตัวตาย", "ไม่อยากอยู่แล้วอ่ะ", "i want to kill myself"],
    "general": ["เหตุฉุกเฉินค่ะ", "ช่วยด้วยยยย", "this is an emergency"],
}


def test_every_family_has_phrasings_here():
    assert set(PHRASINGS) == {family.id for family in FAMILIES}


@pytest.mark.parametrize("family, text", [(f, t) for f, texts in PHRASINGS.items() for t in texts])
def test_each_family_is_recognised_in_thai_colloquial_thai_and_english(family, text):
    found = detect(text)
    assert found is not None, text
    assert found.hotlines == {"self_harm": ("1323", "1669"), "violence": ("191", "1300"),
                              "poisoning": ("1367", "1669")}.get(family, ("1669",))


@pytest.mark.parametrize("text", [
    "", "   ", "🙂", "ชักจะหิวแล้ว", "ห้องน้ำชักโครกเสีย", "วันนี้ลมแรง", "ใครชนะบอล", "บริษัทล้มละลาย",
    "ถนัดมือซ้าย", "แน่นอนค่ะ", "ช็อกโกแลตอร่อย", "ไข่ลวกสองฟอง", "I fell asleep", "the patient is stable",
    "opening hours", "ขอเบอร์โทรศัพท์", "เยี่ยมไข้กี่โมง", "ที่จอดรถ", "ตรวจเลือดต้องงดอาหารไหม",
])
def test_everyday_words_that_contain_symptom_letters_are_not_alarms(text):
    assert detect(text) is None


def test_a_long_message_is_scanned_quickly_and_an_emergency_at_its_start_is_found():
    assert detect("เจ็บหน้าอก " + "ก" * 100_000) is not None


@pytest.fixture(scope="module")
def dialog():
    return Dialog(KnowledgeBase.load())


@pytest.mark.parametrize("text", ["พ่อล้มหัวฟาด", "can hardly breathe", "someone collapsed", "หายใจไม่ค่อยออก"])
def test_the_dialog_answers_emergencies_first_with_1669(dialog, text):
    reply = dialog.on_text(text)
    assert reply.intent == "emergency" and reply.score == 1.0 and reply.kind == "medical"
    plain = dialog.answer_topic("emergency").messages
    assert [_without_buttons(m) for m in reply.messages] == [_without_buttons(m) for m in plain]
    assert "1669" in reply.messages[0]["text"]


def test_an_emergency_wins_over_any_topic_in_the_same_message(dialog):
    assert dialog.on_text("ขอนัดหมอหน่อย แต่ตอนนี้แม่หมดสติ").intent == "emergency"
    assert dialog.on_text("where do I park? my dad has chest pain").intent == "emergency"


def test_self_harm_gets_the_mental_health_hotline_first_then_1669(dialog):
    reply = dialog.on_text("ไม่อยากมีชีวิตอยู่แล้ว")
    assert reply.intent == "emergency"  # so every conversation feature lets it through
    assert "1323" in reply.messages[0]["text"] and "1669" in reply.messages[0]["text"]
    plain = dialog.answer_topic("emergency").messages
    assert [_without_buttons(m) for m in reply.messages[1:]] == [_without_buttons(m) for m in plain]
    assert len(reply.messages) <= 5


def test_self_harm_has_a_built_in_answer_when_the_knowledge_base_has_none(tmp_path):
    import yaml

    from bot.knowledge import DEFAULT_FILE
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    for kind in ("self_harm", "violence", "poisoning"):
        data["fallbacks"].pop(kind, None)
    dialog = Dialog(KnowledgeBase(data))
    reply = dialog.on_text("I want to end my life")
    assert "1323" in reply.messages[0]["text"] and reply.intent == "emergency"
    assert "191" in dialog.on_text("แฟนเอามีดขู่จะฆ่าหนู").messages[0]["text"]
    assert "1367" in dialog.on_text("ลูกดื่มน้ำยาล้างห้องน้ำ").messages[0]["text"]


@pytest.mark.parametrize("text", ["0816691234", "166912", "081-669-1234"])
def test_a_phone_number_or_code_containing_1669_is_not_an_emergency(text):
    # Typed during identity verification: the flow must get them, not the 1669 answer.
    assert detect(text) is None


@pytest.mark.parametrize("text", ["1669", "โทร1669", "call 1669 now"])
def test_1669_itself_is(text):
    assert detect(text) is not None


def _without_buttons(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "quickReply"}


# -- is it happening now? ----------------------------------------------------------------------
# A danger told as past and settled, hypothetical, a pet's, fiction or a booking is not an
# emergency now; a present word brings it back. Phrasings are not those of bot/data/eval.
NOT_NOW = {
    "negated": ["ไม่ได้เจ็บหน้าอกนะคะ แค่ไอ", "no chest pain, just a cough"],
    "denied": ["ไม่ฉุกเฉินนะคะ อยากถามเรื่องหกล้มเมื่อวาน"],
    "past": ["พ่อเป็นสโตรกเมื่อ 2 ปีก่อน อยากพาไปกายภาพ", "I had a seizure last year, need a certificate",
             "เมื่อเดือนที่แล้วเจ็บหน้าอก หมอบอกว่ากรดไหลย้อน"],
    "hypothetical": ["ถ้าโดนงูกัดต้องทำยังไงคะ", "what should I do if my child has a seizure",
                     "วิธีปฐมพยาบาลคนหมดสติ ไปเที่ยวป่า"],
    "fiction": ["ดูละครเมื่อคืน นางเอกหมดสติ", "ทำรายงานเรื่องโรคหลอดเลือดสมอง"],
    "pet": ["แมวโดนงูกัดค่ะ ไปไหนดี", "my dog ate rat poison, is there a vet"],
    "booking": ["จองรถพยาบาลไปงานวิ่งมาราธอนค่ะ", "book an ambulance for our marathon"],
    "road": ["มีอุบัติเหตุหน้าโรงพยาบาลเมื่อเช้า รถติดมาก เข้าทางไหนดี"],
}


@pytest.mark.parametrize("why, text", [(why, t) for why, texts in NOT_NOW.items() for t in texts])
def test_a_danger_that_is_not_happening_now_is_mentioned_not_an_emergency(why, text):
    from bot.emergency import assess
    found = assess(text)
    assert found is not None and not found.now and found.why == why, (text, found)
    assert detect(text) is None


@pytest.mark.parametrize("text", [
    "เมื่อปีที่แล้วพ่อเป็นสโตรก ตอนนี้ปากเบี้ยวอีกแล้ว", "I had chest pain last year and now it is crushing again",
    "ไม่เคยเป็นแบบนี้มาก่อน แน่นหน้าอก เหงื่อแตก", "ไม่มีไข้ แต่หายใจไม่ออก", "ถ้าไม่รีบมาช่วยด้วย แม่ไม่หายใจ",
])
def test_a_present_word_or_a_danger_outside_the_negation_keeps_it_an_emergency(text):
    assert detect(text) is not None, text


@pytest.mark.parametrize("text", ["เจบหนาอกมาก", "หายใจไมออก", "ลกชกตาคาง"])
def test_a_message_without_tone_marks_or_upper_and_lower_vowels_is_read_on_its_skeleton(text):
    assert detect(text) is not None, text


@pytest.mark.parametrize("text, kind", [
    ("เขียนจดหมายลาไว้บนโต๊ะแล้ว เชือกก็เตรียมไว้แล้ว", "self_harm"),
    ("เก็บยานอนหลับไว้เยอะแล้ว อยากหลับไปยาวๆไม่ต้องตื่น", "self_harm"),
    ("พ่อกินเหล้าเถื่อนมา ตอนนี้ตามัวมองไม่เห็น", "poisoning"),
    ("ยายกินเห็ดป่าแล้วอ้วกไม่หยุด", "poisoning"),
    ("ฉีดอินซูลินแล้วยังไม่ได้กินข้าว ตอนนี้เหงื่อแตก พูดจาสับสน", "medical"),
    ("กินข้าวแล้วจุกท้องมาก เหงื่อแตกเย็นๆ", "medical"),
    ("ผัวเมามาทุบตีอยู่ ช่วยด้วย", "violence"),
])
def test_emergencies_described_rather_than_named(text, kind):
    found = detect(text)
    assert found is not None and found.kind == kind, text


def test_blood_results_are_not_bleeding():
    assert detect("ผลตรวจเลือดออกยังคะ") is None
    assert detect("เลือดออกไม่หยุดค่ะ") is not None


# A review put each not-now word beside an emergency happening now: every one must stay an emergency.
@pytest.mark.parametrize("text", [
    "พ่อเคยเป็นโรคหัวใจ เจ็บหน้าอกมาก เหงื่อแตก", "เมื่อเช้ายังปกติดีอยู่ เย็นนี้ปากเบี้ยว พูดไม่ชัด",
    "กลับบ้านแล้วแม่ล้ม หมดสติ", "ชักหยุดแล้วแต่ยังไม่รู้สึกตัว", "หลังฉีดวัคซีน หายใจไม่ออก ปากบวม",
    "there was a traffic accident, a man is bleeding a lot", "น้ำตาลในเลือดตก หมดสติ",
    "my little girl fell down the stairs and hit her head, she is vomiting",
    "ตอนนี้แน่นหน้าอกจนแทบหายใจไม่ออก", "เจ็บหน้าอก 555 ช่วยด้วย", "i heard a crash and found dad unconscious",
    "he is choking on a lollipop", "หายใจไม่ออก รอไม่ได้ ด่วน", "แม่ลุกไม่ได้ หมดสติ", "แขนขยับไม่ได้ อ่อนแรงซีกซ้าย",
    "พ่อล้ม ลุกไม่ได้ ฉุกเฉินค่ะ", "เถ้าแก่หมดสติ", "ลูกเล่นไม่ระวัง ตกบันได หัวแตก เลือดไหลไม่หยุด",
    "not sure if he is breathing, he collapsed", "showing signs of a stroke, his face is drooping",
    "ขอถามหนอย พอหมดสติ", "ทำไมเจบหนาอก", "กินขาวทีบานแลวแมหมดสติ", "เลือดออกยังไม่หยุด",
    "พ่อตื่นมายังพูดไม่ชัด", "แม่ล้มลุกไม่ขึ้น", "ท้อง 8 เดือน ครรภ์เป็นพิษ ปวดหัว ตาพร่า",
])
def test_a_not_now_word_beside_an_emergency_happening_now_leaves_it_an_emergency(text):
    assert detect(text) is not None, (text, __import__("bot.emergency").emergency.assess(text))


@pytest.mark.parametrize("text", ["ยาฆ่าเชื้อกินยังไง", "กินน้ำมันปลาได้ไหม"])
def test_medicines_and_food_oils_are_not_poisons(text):
    assert detect(text) is None
