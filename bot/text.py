"""Text normalisation for matching Thai and English patient messages.

Patients type on phones: Thai digits, stray zero-width characters, the
decomposed sara am (``ํ`` + ``า``), ``เเ`` for ``แ``, stretched endings
(``ค่าาาา``) and emoji. ``normalize`` folds all of these so that one trigger
written in the knowledge base matches every common spelling of it.
"""

from __future__ import annotations

import os
import re
import unicodedata

# Deleted before anything else; the apostrophe goes too so "can't" matches "cant".
_DROPPED = "\u200b\u200c\u200d\u2060\ufeff\u00ad'\u2019"
_TRANSLATE = {ord(c): None for c in _DROPPED}
_TRANSLATE.update({0x0E50 + d: str(d) for d in range(10)})  # ๐-๙ -> 0-9

# NFKC splits sara am into nikhahit + sara aa (also when a tone mark sits between).
_SARA_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")
# Everything that is not a letter, digit, Thai letter/vowel/tone mark or space
# (punctuation, symbols, emoji, variation selectors, Thai ฿ ๏ ๚ ๛).
_NOISE = re.compile(r"[^\w\s\u0e01-\u0e3a\u0e40-\u0e4e]|_")
# A Thai vowel or tone mark typed twice is always a typo.
_DOUBLED_MARK = re.compile(r"([\u0e31\u0e34-\u0e3a\u0e47-\u0e4e])\1+")
# Stretched endings such as ค่าาาา or hellooo; digits are kept (1669, 555).
_STRETCHED = re.compile(r"(\D)\1{2,}")


def normalize(text: str) -> str:
    """Fold ``text`` to the canonical form that triggers are matched against."""
    text = text.translate(_TRANSLATE)
    text = unicodedata.normalize("NFKC", text)
    text = _SARA_AM.sub("\\1\u0e33", text).replace("\u0e40\u0e40", "\u0e41")
    text = _NOISE.sub(" ", text.casefold())
    text = _DOUBLED_MARK.sub(r"\1", text)
    text = _STRETCHED.sub(r"\1", text)
    return " ".join(text.split())


# Tone marks and the vowels written above or below the line: phones and hurried typing drop them
# ("เจบหนาอก" for เจ็บหน้าอก), so a second look compares messages and patterns without them.
_TONE_MARKS = "\u0e48\u0e49\u0e4a\u0e4b"
_MARKS = {ord(c): None for c in _TONE_MARKS + "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e4c\u0e4d\u0e4e"}
_TONES = {ord(c): None for c in _TONE_MARKS + "\u0e47\u0e4c"}  # with mai taikhu and thanthakhat


def skeleton(text: str, vowels: bool = True) -> str:
    """``text`` without Thai tone marks and (``vowels``) upper or lower vowels: the form a patient
    who skips them types."""
    return text.translate(_MARKS if vowels else _TONES)


def skipped_marks(text: str) -> str:
    """What a Thai message leaves out: "vowels" (upper and lower vowels, and so the tones), "tones",
    or "" when it is typed in full (or has too few Thai letters to tell)."""
    letters = sum("\u0e01" <= c <= "\u0e2e" for c in text)
    if letters < 4:
        return ""
    if not any(c in "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e47" for c in text):
        return "vowels"
    # Fewer than one tone mark in twenty letters: most were skipped (typed Thai has several times more).
    return "tones" if 20 * sum(c in _TONE_MARKS for c in text) < letters else ""


# -- words -------------------------------------------------------------------------------------
# PyThaiNLP's newmm segmenter with the dictionary it ships. The bot never asks it for
# anything else (no models, no corpora), so it runs read-only: nothing is written under
# the home directory and nothing is downloaded.
if "PYTHAINLP_READ_MODE" not in os.environ:
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
from pythainlp.corpus.common import thai_words  # noqa: E402
from pythainlp.tokenize import word_tokenize  # noqa: E402

# Spellings patients type -> the one the knowledge base is written in. Whole words only
# (after segmentation), so "รพ" is folded but "ทรพ" is not.
_SPELLINGS = {
    # polite particles and question words
    "ค่ะ": ("คะ", "ค่า", "ค้า", "ค๊ะ", "ค๊า", "คร่ะ", "คร้า"),
    "ครับ": ("คับ", "ค้าบ", "คร้าบ", "ครัช", "คัฟ", "ฮะ", "ค้าบบ"),
    "จ้า": ("จ้ะ", "จ๊ะ", "จ่ะ", "จ๋า", "จ๊า"),
    "ไหม": ("มั้ย", "มั๊ย", "ไม๊", "ป่ะ", "ปะ", "ป่าว", "หรือเปล่า", "รึเปล่า", "รึป่าว", "หรือป่าว", "มั๊ยคะ"),
    "ยังไง": ("ยังงัย", "อย่างไร", "ไง", "ยังไงบ้าง"),
    "อะไร": ("ไร", "อารัย", "อาราย"),
    "เท่าไหร่": ("เท่าไร", "เท่าไร่", "เท่าหร่าย"),
    # places, things and common misspellings
    "โรงพยาบาล": ("โรงบาล", "รพ", "โรงพยาบาน", "โรงพญาบาล", "โรงพยบาล", "โรงพยาบาลล์"),
    "เบอร์": ("เบอ", "เบอร"),
    "โทรศัพท์": ("โทรศัพ", "โทสับ", "โทรสับ"),
    "มอไซค์": ("มอไซ", "มอไซด์", "มอเตอร์ไซค์", "มอเตอร์ไซด์", "จยย", "จักรยานยนต์"),
    "อีเมล": ("อีเมล์", "เมล์", "เมล"),
    "ขอบคุณ": ("ขอบคุน", "ขอบคุนค่ะ", "ขอบคุง"),
    "otp": ("โอทีพี",),
    # English chat spellings
    "you": ("u", "ya"),
    "are": ("r",),
    "your": ("ur",),
    "please": ("pls", "plz", "pleas", "plse"),
    "appointment": ("appt", "appoinment", "appointmant"),
    "thanks": ("tks", "thanx", "thnx", "tq"),
    "hours": ("hrs",),
    "building": ("bldg",),
    "doctor": ("dr", "doc"),
    "hospital": ("hosp",),
    "want to": ("wanna",),
}
_CANONICAL = {variant: word for word, variants in _SPELLINGS.items() for variant in variants}
_RUNS = re.compile(r"[\u0e01-\u0e4e]+|[^\s\u0e01-\u0e4e]+")
_THAI = re.compile(r"[\u0e01-\u0e4e]")


def words(text: str) -> list[str]:
    """``text`` normalised and cut into words (Thai by newmm), each in its canonical spelling."""
    result: list[str] = []
    for run in _RUNS.findall(normalize(text)):
        pieces = word_tokenize(run, engine="newmm", keep_whitespace=False) if _THAI.match(run) else [run]
        result.extend(_CANONICAL.get(piece, piece) for piece in pieces)
    return result


def is_thai_word(text: str) -> bool:
    """Whether ``text`` is a word of the dictionary the segmenter uses."""
    return text in thai_words()
