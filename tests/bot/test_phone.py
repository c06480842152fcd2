import pytest

from bot.phone import InvalidPhoneNumber, ThaiMobile, normalize_thai_mobile
from bot.privacy import mask_numbers

GOOD = [
    ("0812345678", "0812345678"),
    ("081-234-5678", "0812345678"),
    ("081 234 5678", "0812345678"),
    ("081.234.5678", "0812345678"),
    ("(081) 234-5678", "0812345678"),
    ("  0899999999\n", "0899999999"),
    ("0612345678", "0612345678"),
    ("0912345678", "0912345678"),
    ("+66812345678", "0812345678"),
    ("+66 81 234 5678", "0812345678"),
    ("+66-81-234-5678", "0812345678"),
    ("+66 (0) 81 234 5678", "0812345678"),
    ("66812345678", "0812345678"),
    ("0066812345678", "0812345678"),
    ("00 66 89 999 9999", "0899999999"),
    ("๐๘๑๒๓๔๕๖๗๘", "0812345678"),
    ("๐๘๑-๒๓๔-๕๖๗๘", "0812345678"),
    ("+๖๖๘๑๒๓๔๕๖๗๘", "0812345678"),
    ("０８１２３４５６７８", "0812345678"),       # full-width digits from some keyboards
    ("081\u200b234\u200b5678", "0812345678"),  # zero-width spaces from copied Thai text
    ("081–234–5678", "0812345678"),            # en dash
]

BAD = [
    ("", "empty"),
    ("   ", "empty"),
    ("- ( )", "empty"),
    ("089999999", "too_short"),
    ("0812", "too_short"),
    ("08123456789", "too_long"),
    ("+668123456789", "too_long"),
    ("021234567", "landline"),          # Bangkok
    ("02-123-4567", "landline"),
    ("+6621234567", "landline"),
    ("038123456", "landline"),          # Chon Buri
    ("053123456", "landline"),          # Chiang Mai
    ("074123456", "landline"),          # Songkhla
    ("044123456", "landline"),          # Nakhon Ratchasima
    ("0112345678", "not_mobile"),
    ("899999999", "no_prefix"),
    ("1669", "no_prefix"),
    ("+14155550123", "not_thai"),
    ("0014155550123", "not_thai"),
    ("089999999a", "letters"),
    ("โทร 0899999999", "letters"),
    ("Tel:0899999999", "letters"),
    ("081234567๘ค่ะ", "letters"),
    ("0812345678/0899999999", "symbols"),
    ("0812345678, 0899999999", "symbols"),
    ("089*999*9999", "symbols"),
    ("08999+99999", "symbols"),
]


@pytest.mark.parametrize("text,local", GOOD)
def test_accepts_usual_forms(text, local):
    assert normalize_thai_mobile(text).local == local


@pytest.mark.parametrize("text,reason", BAD)
def test_rejects_with_reason_and_thai_message(text, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_thai_mobile(text)
    assert info.value.reason == reason
    message = str(info.value)
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in message)  # written in Thai
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 8:
        assert digits not in message  # never echoes the number (PDPA)


@pytest.mark.parametrize("reason,words", [
    ("too_short", "สั้นเกินไป"), ("too_long", "ยาวเกินไป"), ("landline", "โทรศัพท์บ้าน"),
    ("letters", "ตัวอักษร"), ("not_thai", "ประเทศไทย"),
])
def test_message_says_what_is_wrong(reason, words):
    text = dict((r, t) for t, r in BAD)[reason]
    with pytest.raises(InvalidPhoneNumber, match=words):
        normalize_thai_mobile(text)


def test_formats():
    mobile = normalize_thai_mobile("081-234-5678")
    assert mobile.local == "0812345678"
    assert mobile.e164 == "+66812345678"
    assert mobile.msisdn == "66812345678"
    assert mobile.masked == "…5678"


def test_provider_formats_follow_the_seeds():
    mobile = normalize_thai_mobile("0812345678")
    assert mobile.for_provider("sepsms") == "66812345678"
    assert mobile.for_provider("thaibulksms") == "66812345678"
    with pytest.raises(ValueError):
        mobile.for_provider("carrier-pigeon")


def test_repr_and_str_are_masked():
    mobile = normalize_thai_mobile("0812345678")
    for shown in (repr(mobile), str(mobile), f"{mobile}", repr([mobile])):
        assert "0812345678" not in shown and "812345678" not in shown
        assert "5678" in shown


def test_equal_numbers_are_equal_whatever_the_input_form():
    assert normalize_thai_mobile("+66812345678") == normalize_thai_mobile("081 234 5678")
    assert len({normalize_thai_mobile("0812345678"), ThaiMobile("0812345678")}) == 1


def test_numbers_in_free_text_are_masked():
    assert mask_numbers("bad 66812345678 and +66899999999; code 112") == "bad …5678 and +…9999; code 112"
