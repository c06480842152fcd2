"""Thai mobile numbers: read what a patient types, write what each SMS provider wants.

Thai mobiles are 10 digits starting 06, 08 or 09 (``0`` + 9 national digits);
02, 03x, 04x, 05x and 07x are landlines. Patients type them every way there is:
``081-234-5678``, ``+66 81 234 5678``, ``0066812345678``, Thai digits ๐๘๑…,
so separators are dropped, Thai (and other Unicode) digits become ASCII, and
anything else is refused with a Thai message that says what to fix.

Pure: no I/O. Never put the number itself in an error message or a log (PDPA).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.privacy import mask

#: First national digit (after the leading 0) of a Thai mobile number.
MOBILE_FIRST_DIGITS = frozenset("689")
#: First national digit of landlines (02 Bangkok, 03x/04x/05x/07x provinces).
LANDLINE_FIRST_DIGITS = frozenset("23457")
NATIONAL_LENGTH = 9  # digits after the leading 0 / after +66

#: Characters people put between digits; dropped. Zero-width ones come with copied Thai text.
SEPARATORS = frozenset(" \t\n\r\u00a0\u200b\u200c\u200d\ufeff-\u2010\u2011\u2012\u2013\u2014\u2212.()[]")
EXAMPLE = "เช่น 0812345678"
#: Anything that may be a phone number inside free text: 9+ digits, optionally with +.

#: Phone number format each provider wants (per its API document: SEPSMS REST API v2, ThaiBulkSMS API v2).
PROVIDER_FORMATS = {
    # SEPSMS accepts 0xxxxxxxxx or 66xxxxxxxxx; its examples use 66…
    "sepsms": "msisdn",
    # ThaiBulkSMS accepts 0…, 66… and +66…; it answers with 66…, so send 66… and
    # the numbers in its phone_number_list match what we sent.
    "thaibulksms": "msisdn",
}


class InvalidPhoneNumber(ValueError):
    """The text is not a Thai mobile number; ``str()`` is a Thai message for the patient.

    ``reason`` is a stable code for programs: empty, letters, symbols, not_thai,
    landline, not_mobile, no_prefix, too_short, too_long.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ThaiMobile:
    """A valid Thai mobile number. ``repr``/``str`` are masked so it is safe in logs."""

    local: str  # "0812345678"

    @property
    def msisdn(self) -> str:
        """International without the plus: ``66812345678``."""
        return "66" + self.local[1:]

    @property
    def e164(self) -> str:
        """``+66812345678``."""
        return "+" + self.msisdn

    @property
    def masked(self) -> str:
        """``…5678``: the only form fit for logs and messages to staff."""
        return mask(self.local)

    def for_provider(self, name: str) -> str:
        """The number in the format the named SMS provider expects."""
        try:
            return getattr(self, PROVIDER_FORMATS[name])
        except KeyError:
            raise ValueError(f"unknown SMS provider {name!r}") from None

    def __repr__(self) -> str:
        return f"ThaiMobile({self.masked})"

    __str__ = __repr__


def normalize_thai_mobile(text: str) -> ThaiMobile:
    """Read a Thai mobile number typed in any usual form; raise ``InvalidPhoneNumber`` if it is not one."""
    digits = _digits(text or "")
    national = _national_digits(digits)
    first = national[:1]
    if first in LANDLINE_FIRST_DIGITS:
        raise InvalidPhoneNumber("landline", "เบอร์นี้เป็นเบอร์โทรศัพท์บ้านหรือสำนักงาน ไม่ใช่เบอร์มือถือ "
                                 f"กรุณาใช้เบอร์มือถือที่ขึ้นต้นด้วย 06, 08 หรือ 09 {EXAMPLE}")
    if first and first not in MOBILE_FIRST_DIGITS:
        raise InvalidPhoneNumber("not_mobile", "เบอร์นี้ไม่ใช่เบอร์มือถือ "
                                 f"เบอร์มือถือต้องขึ้นต้นด้วย 06, 08 หรือ 09 {EXAMPLE}")
    if len(national) < NATIONAL_LENGTH:
        raise InvalidPhoneNumber("too_short", f"เบอร์มือถือสั้นเกินไป เบอร์มือถือต้องมี 10 หลัก {EXAMPLE}")
    if len(national) > NATIONAL_LENGTH:
        raise InvalidPhoneNumber("too_long", f"เบอร์มือถือยาวเกินไป เบอร์มือถือต้องมี 10 หลัก {EXAMPLE}")
    return ThaiMobile("0" + national)


def _digits(text: str) -> str:
    """ASCII digits of ``text`` (a leading ``+`` kept); refuse letters and other symbols."""
    text = text.strip()
    plus = text.startswith(("+", "\uff0b"))
    out = []
    for ch in text[1:] if plus else text:
        if ch in SEPARATORS:
            continue
        if unicodedata.category(ch) == "Nd":  # ๐-๙, full-width and other scripts' digits
            out.append(str(unicodedata.decimal(ch)))
        elif ch.isalpha() or unicodedata.category(ch).startswith("M"):  # Thai vowels/tones are marks
            raise InvalidPhoneNumber("letters", f"เบอร์โทรศัพท์มีตัวอักษรปนอยู่ กรุณาพิมพ์เฉพาะตัวเลข {EXAMPLE}")
        else:
            raise InvalidPhoneNumber("symbols", "เบอร์โทรศัพท์มีเครื่องหมายที่ใช้ไม่ได้ "
                                     f"กรุณาพิมพ์เฉพาะตัวเลข 10 หลัก {EXAMPLE}")
    digits = "".join(out)
    if not digits:
        raise InvalidPhoneNumber("empty", f"กรุณาพิมพ์เบอร์มือถือ 10 หลัก {EXAMPLE}")
    return ("+" if plus else "") + digits


def _national_digits(digits: str) -> str:
    """The 9 national digits: strip ``+66`` / ``0066`` / ``66`` or the trunk ``0``."""
    if digits.startswith("+"):
        if not digits.startswith("+66"):
            raise _not_thai()
        rest = digits[3:]
    elif digits.startswith("0066"):
        rest = digits[4:]
    elif digits.startswith("00"):
        raise _not_thai()
    elif digits.startswith("66"):
        rest = digits[2:]
    elif digits.startswith("0"):
        return digits[1:]
    else:
        raise InvalidPhoneNumber("no_prefix", f"เบอร์มือถือต้องขึ้นต้นด้วย 0 หรือ +66 {EXAMPLE}")
    # "+66 (0)81…" / "+66 081…": Thai national numbers never start with 0, so drop it.
    return rest[1:] if rest.startswith("0") else rest


def _not_thai() -> InvalidPhoneNumber:
    return InvalidPhoneNumber("not_thai", f"รองรับเฉพาะเบอร์มือถือในประเทศไทย {EXAMPLE}")
