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
    "poisoning_overdose": ["รับประทานยาเกินขนาด", "ลูกกินยาฆ่าแมลงเข้าไป", "he swallowed rat poison"],
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
    if family == "self_harm":
        assert found.family == "self_harm" and found.hotlines == ("1323", "1669")
    else:
        assert "1669" in found.hotlines


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
    assert reply.intent == "emergency" and reply.score == 1.0
    assert reply.messages == dialog.answer_topic("emergency").messages
    assert "1669" in reply.messages[0]["text"]


def test_an_emergency_wins_over_any_topic_in_the_same_message(dialog):
    assert dialog.on_text("ขอนัดหมอหน่อย แต่ตอนนี้แม่หมดสติ").intent == "emergency"
    assert dialog.on_text("where do I park? my dad has chest pain").intent == "emergency"


def test_self_harm_gets_the_mental_health_hotline_first_then_1669(dialog):
    reply = dialog.on_text("ไม่อยากมีชีวิตอยู่แล้ว")
    assert reply.intent == "emergency"  # so every conversation feature lets it through
    assert "1323" in reply.messages[0]["text"] and "1669" in reply.messages[0]["text"]
    assert reply.messages[1:] == dialog.answer_topic("emergency").messages
    assert len(reply.messages) <= 5


def test_self_harm_has_a_built_in_answer_when_the_knowledge_base_has_none(tmp_path):
    import yaml

    from bot.knowledge import DEFAULT_FILE
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    del data["fallbacks"]["self_harm"]
    reply = Dialog(KnowledgeBase(data)).on_text("I want to end my life")
    assert "1323" in reply.messages[0]["text"] and reply.intent == "emergency"


@pytest.mark.parametrize("text", ["0816691234", "166912", "081-669-1234"])
def test_a_phone_number_or_code_containing_1669_is_not_an_emergency(text):
    # Typed during identity verification: the flow must get them, not the 1669 answer.
    assert detect(text) is None


@pytest.mark.parametrize("text", ["1669", "โทร1669", "call 1669 now"])
def test_1669_itself_is(text):
    assert detect(text) is not None
