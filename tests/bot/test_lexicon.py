"""The lexicon: regional, romanised and untoned Thai read as central Thai, and its file checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.emergency import detect
from bot.evaluation import load_examples
from bot.lexicon import DEFAULT_FILE, MAX_CHARS, Lexicon, LexiconError
from bot.text import normalize

EVAL_DIR = Path(DEFAULT_FILE).parent / "eval"


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load()


def central(lexicon: Lexicon, text: str) -> str:
    return lexicon.to_central(normalize(text))


# --- the shipped file ------------------------------------------------------------

@pytest.mark.parametrize("section, least", [
    ("isan", 120), ("northern", 120), ("southern", 120), ("romanised", 400), ("spellings", 80)])
def test_shipped_sections_are_full(lexicon, section, least):
    assert len(lexicon.entries(section)) >= least


def test_every_shipped_thai_word_is_read_as_one_word(lexicon):
    for section in ("isan", "northern", "southern", "spellings"):
        for word, reading in lexicon.entries(section).items():
            if word not in lexicon.lists["at_end_only"]:
                assert lexicon.to_central(word) == reading, (section, word)


# --- regions -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("บ่มีแฮง ลุกบ่ได้ หายใจบ่อิ่ม", "ไม่มีแรง ลุกไม่ได้ หายใจไม่อิ่ม"),
    ("เว้าบ่ได้", "พูดไม่ได้"),
    ("เฮ็ดจั่งใด๋ดี", "ทำยังไงดี"),
    ("มื้ออื่นไปโฮงบาลได้บ่", "พรุ่งนี้ไปโรงพยาบาลได้ไหม"),      # a closing บ่ asks
    ("โฮงหมอเปิดจักโมง", "โรงพยาบาลเปิดกี่โมง"),
    ("แม่ใหญ่เจ็บหลาย", "ยายเจ็บมาก"),                         # หลาย only at the end
    ("ปวดหัวหลายวันแล้ว", "ปวดหัวหลายวันแล้ว"),
    ("พ่อใหญ่ล้ม บ่ฮู้สึกโต ซอยแน", "ตาล้ม ไม่รู้สึกตัว ช่วยหน่อย"),
])
def test_isan(lexicon, text, expected):
    assert central(lexicon, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("อู้บ่ได้เจ้า", "พูดไม่ได้ค่ะ"),
    ("ป้อเจ็บต๊องนัก", "พ่อเจ็บท้องมาก"),
    ("แม่อุ้ยไปหาหมอได้ก่อ", "ยายไปหาหมอได้ไหม"),
    ("ไปก่อเจ้า", "ไปไหมค่ะ"),                               # ก่อ before a particle is still the end
    ("ละอ่อนตั๋วฮ้อน กิ๋นยาแล้วบ่หาย", "เด็กตัวร้อน กินยาแล้วไม่หาย"),
    ("วันพูกหมออยู่ตี้ใด", "พรุ่งนี้หมออยู่ที่ไหน"),
    ("อู้งานอยู่", "อู้งานอยู่"),                              # slacking off stays central
])
def test_northern(lexicon, text, expected):
    assert central(lexicon, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("แหลงกับหมอได้หม้าย", "พูดกับหมอได้ไหม"),
    ("ทำพรือดี", "ทำยังไงดี"),
    ("แม่หม้ายหายใจ", "แม่ไม่หายใจ"),
    ("หนิโรงบาลเปิดกี่ตี", "นี่โรงบาลเปิดกี่โมง"),
    ("แรกวาเสียดพุงทั้งคืน", "เมื่อวานปวดท้องทั้งคืน"),
    ("งูขบพี่บ่าว", "งูกัดพี่ชาย"),
    ("ไม่พรือ หม้ายหอนมา", "ไม่เป็นไร ไม่เคยมา"),
])
def test_southern(lexicon, text, expected):
    assert central(lexicon, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("หายใจไมออก", "หายใจไม่ออก"),
    ("โรงบานเปิดกีโมง", "โรงพยาบาลเปิดกี่โมง"),
    ("ปวดทองมากค่ะ", "ปวดท้องมากค่ะ"),
    ("เปนไขสูง 3 วัน", "เป็นไข้สูง 3 วัน"),
    ("นัดหมอพรุงนี้ไดไม", "นัดหมอพรุ่งนี้ได้ไหม"),
    ("ศรีษะแตกเลือกออก", "ศีรษะแตกเลือดออก"),
])
def test_spellings(lexicon, text, expected):
    assert central(lexicon, text) == expected


# --- romanised ----------------------------------------------------------------------

def test_romanised_emergency(lexicon):
    text = central(lexicon, "chuay duay mae mai hai jai")
    assert "ช่วยด้วย" in text and "หายใจ" in text
    assert text == "ช่วยด้วยแม่ไม่หายใจ"


@pytest.mark.parametrize("text, expected", [
    ("Chuay duai!! Mae mai hai jai", "ช่วยด้วยแม่ไม่หายใจ"),
    ("yak nad mor prung nee dai mai ka", "อยากนัดหมอพรุ่งนี้ได้ไหมค่ะ"),
    ("rong payaban perd kee mong", "โรงพยาบาลเปิดกี่โมง"),
    ("jeb na-ok mak", "เจ็บหน้าอกมาก"),
    ("jep naok", "เจ็บหน้าอก"),
    ("pen kai 3 wan laew", "เป็นไข้ 3 วันแล้ว"),                 # numbers stay apart
    ("jeb mai ka", "เจ็บไหมค่ะ"),                                # a closing mai asks
    ("kin ya mai", "กินยาไหม"),
    ("mai pen rai krub", "ไม่เป็นไรครับ"),
    ("mor bok wa pen covid", "หมอบอกว่าเป็น covid"),             # an English word in Thai stays
    ("พรุ่งนี้ nad mor dai mai", "พรุ่งนี้ นัดหมอได้ไหม"),
    ("แม่ mai hai jai ช่วยด้วย", "แม่ ไม่หายใจ ช่วยด้วย"),
    ("nad", "นัด"),
])
def test_romanised(lexicon, text, expected):
    assert central(lexicon, text) == expected


ENGLISH = [
    "I want to see a doctor", "my mom can't breathe", "see you tomorrow", "I took my pen",
    "pen", "mai", "kin", "ya", "see ya", "fan", "hong kong", "ok na", "thank u na", "i need my pen na",
    "what time does the clinic open", "my lung hurts", "I have a fever since yesterday",
    "can I book an appointment tomorrow", "where is the parking", "is dr somchai in today",
    "please help me, my son fell", "my wife is 8 months pregnant and bleeding", "chest pain",
    "Hi, I lost my appointment card", "sit down", "the bad pain in my jet lag", "took 10 pills",
    "Ron", "this is Mia", "we sung a song",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_comes_back_unchanged(lexicon, text):
    assert central(lexicon, text) == normalize(text)


# --- central Thai --------------------------------------------------------------------

CENTRAL = [
    "บ่ายนี้ไปก่อนนะคะ", "ขอคุยกับเจ้าหน้าที่หน่อยค่ะ", "เจ้าของรถจอดตรงนี้ได้ไหม", "ก่อนไปโรงพยาบาลต้องงดน้ำไหม",
    "บ่ายสองโมงหมอออกตรวจไหม", "นัดหมอไว้บ่ายสามโมง", "ลูกกินข้าวไม่ได้ค่ะ", "แม่หายใจไม่ออก ช่วยด้วยค่ะ",
    "เจ็บหน้าอกร้าวไปแขนซ้าย", "ขอเลื่อนนัดเป็นวันจันทร์ได้ไหมคะ", "ค่าห้องพิเศษคืนละเท่าไหร่",
    "ใช้สิทธิบัตรทองได้ไหมครับ", "ผลตรวจเลือดออกหรือยังคะ", "ยาหมดแล้ว ต่อยาได้ที่ไหน", "ปวดหัวหลายวันแล้ว",
    "เด็กนักเรียนมาฉีดวัคซีนได้ไหม", "หมอฟันเปิดวันเสาร์ไหมคะ", "ขอใบรับรองแพทย์ไปสมัครงาน",
    "ที่จอดรถเต็มไหมครับ", "ก่อตั้งมากี่ปีแล้ว", "อยากฝากครรภ์ค่ะ", "คุณยายล้มในห้องน้ำ หัวแตก",
    "ลูกชักตัวเกร็ง ไข้สูง", "มอไซล้มที่หน้าปากซอย", "เจ้าตัวไม่สะดวกมาเอง ญาติมาแทนได้ไหม",
    "ไซนัสอักเสบต้องพบหมอแผนกไหน", "อยากบริจาคเลือดค่ะ", "ขอบคุณมากค่ะ", "เยี่ยมไข้ได้ถึงกี่โมง",
    "ร้องไห้ทั้งคืน นอนไม่หลับ",
]


@pytest.mark.parametrize("text", CENTRAL)
def test_central_thai_comes_back_unchanged(lexicon, text):
    assert central(lexicon, text) == normalize(text)


def test_the_evaluation_sets_come_back_unchanged(lexicon):
    # Central Thai, English and Thai-English messages written by others, none tuned to the lexicon.
    for path in (EVAL_DIR / "heldout.yaml", EVAL_DIR / "fresh.yaml"):  # written in central Thai and English
        for example in load_examples(path):
            text = normalize(example.text)
            assert lexicon.to_central(text) == text, (path.name, example.text)


def test_reading_never_hides_an_emergency(lexicon):
    # The dialog triages the central reading, and the message as typed when that reading found nothing.
    from bot.dialog import _triage
    for path in sorted(EVAL_DIR.glob("*.yaml")):
        for example in load_examples(path):
            if detect(example.text):
                found = _triage(central(lexicon, example.text), example.text)
                assert found is not None and found.now, example.text


def test_long_text_is_read_up_to_the_limit(lexicon):
    text = "บ่ " + "ก" * MAX_CHARS
    assert lexicon.to_central(text) == "ไม่ " + "ก" * MAX_CHARS
    assert lexicon.to_central("") == ""


# --- load errors ------------------------------------------------------------------------

def write(tmp_path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("isan: [บ่]", r"mine.yaml: section 'isan': must be a mapping"),
    ("isaan:\n  บ่: ไม่", r"section 'isaan': unknown section"),
    ("isan:\n  บ่: ไม่\n  บ่: ไม่", r"isan 'บ่': written twice"),
    ("isan:\n  บ่ มี: ไม่มี", r"isan 'บ่ มี': the word must be written in Thai letters only without spaces"),
    ("isan:\n  bo: ไม่", r"isan 'bo': the word must be written in Thai letters"),
    ("isan:\n  บ่: no", r"isan 'บ่': the reading must be Thai text"),
    ("isan:\n  บ่:", r"isan 'บ่': the reading must be Thai text"),
    ("spellings:\n  ไม่: ไม่", r"spellings 'ไม่': reads as itself"),
    ("romanised:\n  no: ไม่", r"romanised False: the word must be text \(put it in quotes\)"),
    ("romanised:\n  ช่วย: ช่วย", r"romanised 'ช่วย': the word must be written in Latin letters"),
    ("romanised:\n  chuay: help", r"romanised 'chuay': the reading must be Thai text"),
    ("isan:\n  เจ้า: คุณ\nnorthern:\n  เจ้า: ค่ะ",
     r"northern 'เจ้า': reads as 'ค่ะ' here but as 'คุณ' in isan"),
    ("isan:\n  บ่: ไม่\nat_end_only: [ก่อ]", r"at_end_only 'ก่อ': is not a word of isan"),
    ("isan:\n  บ่: ไม่\nkeep: [บ่]", r"keep 'บ่': is also a word to replace"),
    ("english: [two words]", r"english 'two words': must be one word in Latin letters"),
    ("[]", r"mine.yaml: top level: must be a mapping"),
    ("isan: {บ่: [ไม่", r"mine.yaml: not valid YAML"),
])
def test_load_errors_name_file_section_and_entry(tmp_path, text, message):
    with pytest.raises(LexiconError, match=message):
        Lexicon.load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(LexiconError, match="nowhere.yaml: cannot read"):
        Lexicon.load(tmp_path / "nowhere.yaml")


def test_a_hospital_file_merged_over_the_shipped_one(lexicon, tmp_path):
    own = Lexicon.load(write(tmp_path, yaml.safe_dump({
        "isan": {"เจ้า": "คุณ", "โฮงหมอ": "คลินิก"},
        "romanised": {"klinik": "คลินิก"},
        "keep": ["ขี้ไหล"],
    }, allow_unicode=True)))
    merged = lexicon.merge(own)
    assert merged.to_central("โฮงหมออยู่ไหน") == "คลินิกอยู่ไหน"        # the hospital's reading wins
    assert merged.to_central("ไปไหนเจ้า") == "ไปไหนคุณ"                 # and leaves northern ค่ะ out
    assert merged.to_central("ขี้ไหล") == "ขี้ไหล"
    assert merged.to_central("บ่มีแฮง") == "ไม่มีแรง"                   # the shipped words stay
    assert lexicon.to_central("ไปไหนเจ้า") == "ไปไหนค่ะ"                # the shipped lexicon is unchanged
