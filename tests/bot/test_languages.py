"""Migrant patients' languages: which script a message is in, the answers, emergencies, file checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.languages import CODES, HOTLINES, KINDS, MAX_LABEL, PRIORITY, Languages, LanguagesError, detect_script, fold

ZW = "\u200b"  # zero-width space: Khmer and Myanmar put it between words


@pytest.fixture(scope="module")
def languages():
    return Languages.load()


# --- detect_script -------------------------------------------------------------------------

@pytest.mark.parametrize("text, code", [
    ("ရင်ဘတ်အောင့်နေတယ် ကူညီပါ", "my"),
    ("ဆေးရုံ ဘယ်အချိန်ဖွင့်လဲ 🙏", "my"),
    ("hospital ဘယ်မှာလဲ", "my"),                       # Latin letters are ignored
    ("ꩠꩡꩢ", "my"),                                    # Myanmar Extended-A
    (f"ម្តាយខ្ញុំ{ZW}ឈឺទ្រូង", "km"),
    ("មន្ទីរពេទ្យបើកម៉ោងប៉ុន្មាន?", "km"),
    ("ແມ່ເຈັບໜ້າເອິກ", "lo"),
    ("ໂຮງໝໍເປີດຈັກໂມງ ໂຮງພະຍາບານ", "lo"),
    ("ແມ່ເຈັບໜ້າເອິກ โรงพยาบาล", "lo"),                # more Lao letters than Thai
    ("สวัสดีค่ะ อยากนัดหมอ", None),
    ("สวัสดีค่ะ อยากนัดหมอ ສະບາຍດີ", None),           # a Thai message quoting a Lao word is Thai
    ("I want to see a doctor", None),
    ("1669 😭🙏", None),
    ("", None),
])
def test_detect_script(text, code):
    assert detect_script(text) == code


# --- the shipped packs ------------------------------------------------------------------------

def test_every_language_is_shipped(languages):
    assert languages.codes == CODES
    assert languages.for_script(None) is None
    assert languages.for_script("th") is None


@pytest.mark.parametrize("code", CODES)
def test_answers(languages, code):
    pack = languages.for_script(code)
    assert detect_script(pack.answer.splitlines()[0]) == code       # in the patient's language first
    assert "เจ้าหน้าที่" in pack.answer and "1669" in pack.answer     # then in Thai for the staff
    assert "staff" in pack.answer and "{phone}" in pack.answer
    assert "02-000-0000" in pack.answer_text(phone="02-000-0000")
    assert "{phone}" not in pack.answer_text(phone="02-000-0000")
    assert detect_script(pack.staff_label) == code
    assert len(pack.staff_label.encode("utf-16-le")) // 2 <= MAX_LABEL


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("kind", KINDS)
def test_emergency_answers_give_the_kinds_numbers(languages, code, kind):
    text = languages.for_script(code).emergency_text(kind)
    assert "{numbers}" not in text
    assert all(number in text for number in HOTLINES[kind])
    assert "1669" in text                                             # for anyone hurt, whatever the kind


@pytest.mark.parametrize("code", CODES)
def test_phrases_cover_every_kind(languages, code):
    pack = languages.for_script(code)
    assert len(pack.emergencies) >= 25
    assert {kind for _, kind in pack.emergencies} == set(KINDS)


@pytest.mark.parametrize("code", CODES)
def test_every_phrase_is_found_in_a_message(languages, code):
    pack = languages.for_script(code)
    for phrase, kind in pack.emergencies:
        found = pack.emergency_kind(f"{phrase} ")
        assert found == kind or PRIORITY.index(found) < PRIORITY.index(kind), phrase


@pytest.mark.parametrize("code", CODES)
def test_the_answers_themselves_are_no_emergency(languages, code):
    pack = languages.for_script(code)
    assert pack.emergency_kind(pack.answer) is None


# --- emergency_kind -----------------------------------------------------------------------------

@pytest.mark.parametrize("code, text, kind", [
    ("my", "အမေ ရင်ဘတ်အောင့်နေတယ် ကူညီပါ", "medical"),                  # mother has chest pain, help
    ("my", f"အဖေ{ZW}သတိလစ်{ZW}သွားပြီ", "medical"),                     # father passed out
    ("my", "ကလေး ပိုးသတ်ဆေးသောက်မိတယ်", "poisoning"),                  # child drank pesticide
    ("my", "ပိုးသတ်ဆေးသောက်ပြီး သေချင်တယ်", "self_harm"),               # drank pesticide, want to die
    ("my", "ယောက်ျားက ရိုက်နှက်နေတယ်", "violence"),                      # husband is beating (me)
    ("my", "ဆေးရုံ ဘယ်အချိန်ဖွင့်လဲ", None),                            # what time does the hospital open
    ("my", "ဆရာဝန်နဲ့ ချိန်းချင်ပါတယ်", None),                           # I want an appointment with a doctor
    ("km", f"ម្តាយខ្ញុំ{ZW}ឈឺទ្រូង{ZW}ខ្លាំង", "medical"),                  # my mother has bad chest pain
    ("km", "កូនក្ដៅខ្លួនខ្លាំងណាស់", "medical"),                           # child very hot (subscript da typed)
    ("km", "ប្ដីវាយខ្ញុំ", "violence"),                                     # husband hits me (subscript da)
    ("km", "គាត់លេបថ្នាំច្រើនពេក", "poisoning"),                           # she swallowed too many pills
    ("km", "ខ្ញុំចង់ស្លាប់", "self_harm"),                                  # I want to die
    ("km", "មន្ទីរពេទ្យបើកម៉ោងប៉ុន្មាន", None),                           # what time does the hospital open
    ("lo", "ແມ່ຫາຍໃຈບໍ່ອອກ", "medical"),                                # mother can't breathe
    ("lo", "ນໍ້າຮ້ອນລວກລູກ", "medical"),                                 # hot water scalded the child (ໍ typed first)
    ("lo", "ລູກກິນຢາຂ້າແມງໄມ້", "poisoning"),                             # child drank insecticide
    ("lo", "ຂ້ອຍຢາກຕາຍ", "self_harm"),                                   # I want to die
    ("lo", "ຜົວຕີຂ້ອຍ", "violence"),                                      # husband hits me
    ("lo", "ໂຮງໝໍເປີດຈັກໂມງ", None),                                     # what time does the hospital open
])
def test_emergency_kind(languages, code, text, kind):
    assert languages.for_script(code).emergency_kind(text) == kind


def test_a_phrase_is_not_found_inside_a_longer_letter(tmp_path):
    pack = Languages.load(write(tmp_path, shipped_with(km_phrases={"ចងក": "self_harm"}))).for_script("km")
    assert pack.emergency_kind("ចងក ខ្ញុំ") == "self_harm"
    assert pack.emergency_kind("ចងក្រវាត់") is None                        # ចង + ក្រ: tying a belt


def test_fold():
    assert fold(f"ឈឺ {ZW}ទ្រូង") == "ឈឺទ្រូង"
    assert fold("ນ້ຳ") == fold("ນໍ້າ") == fold("ນ້ໍາ")
    assert fold("ក្ដៅ") == fold("ក្តៅ")


# --- load errors ----------------------------------------------------------------------------------

SHIPPED = yaml.safe_load(Path(Languages.load().source).read_text(encoding="utf-8"))


def shipped_with(km_phrases: dict | None = None, **km_fields) -> str:
    data = {code: dict(pack) for code, pack in SHIPPED.items()}
    data["km"].update(km_fields)
    if km_phrases is not None:
        data["km"]["emergencies"] = km_phrases
    return yaml.safe_dump(data, allow_unicode=True)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("[]", r"mine.yaml: top level: must be a mapping"),
    ("th: {}", r"language 'th': unknown language"),
    ("km: hello", r"language 'km': must be a mapping"),
    (shipped_with(answer=None), r"language 'km': answer: missing"),
    (shipped_with(answer="សួស្តី {phone}"), r"language 'km': answer: must give the emergency number 1669"),
    (shipped_with(answer="សួស្តី 1669"), r"language 'km': answer: must give the hospital's phone"),
    (shipped_with(answer="សួស្តី 1669 {phone} {fax}"), r"language 'km': answer: unknown placeholder \{fax\}"),
    (shipped_with(emergency_answer="ហៅ 1669"), r"language 'km': emergency_answer: must say \{numbers\}"),
    (shipped_with(staff_label="💬 និយាយជាមួយបុគ្គលិក"), r"language 'km': staff_label: 21 characters"),
    (shipped_with(km_phrases={}), r"language 'km': emergencies: must be a mapping"),
    (shipped_with(km_phrases={"ឈឺទ្រូង": "heart"}), r"km' emergencies 'ឈឺទ្រូង': kind must be one of"),
    (shipped_with(km_phrases={"ເຈັບໜ້າເອິກ": "medical"}), r"emergencies 'ເຈັບໜ້າເອິກ': is not written in the script"),
    ("km:\n  emergencies:\n    ឈឺទ្រូង: medical\n    ឈឺទ្រូង: medical\n  name: x",
     r"language 'km': (answer|name|staff_label|emergency_answer): missing"),
    ("km: {name: [", r"mine.yaml: not valid YAML"),
])
def test_load_errors_name_file_language_and_field(tmp_path, text, message):
    with pytest.raises(LanguagesError, match=message):
        Languages.load(write(tmp_path, text))


def test_a_phrase_written_twice(tmp_path):
    text = shipped_with(km_phrases={"ឈឺទ្រូង": "medical"}).replace(
        "ឈឺទ្រូង: medical", "ឈឺទ្រូង: medical\n    ឈឺទ្រូង: violence")
    with pytest.raises(LanguagesError, match=r"km' emergencies 'ឈឺទ្រូង': written twice"):
        Languages.load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(LanguagesError, match="nowhere.yaml: cannot read"):
        Languages.load(tmp_path / "nowhere.yaml")
