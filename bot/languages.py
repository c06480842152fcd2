"""Migrant patients writing in Myanmar, Khmer or Lao script.

The bot reads Thai and English only. A message in another script still gets an
answer in that language (the hospital has staff and interpreters: press the
button or type "staff"; in an emergency call 1669 at once), with the same in Thai
underneath for the staff who read the chat. And an emergency is still recognised,
from a short list of phrases per language (``bot/data/languages.yaml``) that a
hospital's interpreter can read and correct: each has its English meaning beside it.

``detect_script`` tells the script from Unicode blocks alone, so it needs no model
and no dictionary; these three scripts share no letters with Thai or Latin.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from bot import strict_yaml

DEFAULT_FILE = Path(__file__).parent / "data" / "languages.yaml"
CODES = ("my", "km", "lo")
# Unicode blocks of each script (Myanmar with its two extensions, Khmer with its symbols).
BLOCKS = {
    "my": ((0x1000, 0x109F), (0xAA60, 0xAA7F), (0xA9E0, 0xA9FF)),
    "km": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "lo": ((0x0E80, 0x0EFF),),
}
THAI_BLOCK = (0x0E00, 0x0E7F)
# The numbers an emergency answer gives, by kind (as bot/emergency.py and the knowledge base).
HOTLINES = {
    "medical": ("1669",),
    "self_harm": ("1323", "1669"),
    "violence": ("191", "1300"),
    "poisoning": ("1367", "1669"),
}
KINDS = tuple(HOTLINES)
# When phrases of several kinds match, the most specific wins: "drank pesticide to die" is self-harm.
PRIORITY = ("self_harm", "poisoning", "violence", "medical")
EMERGENCY_LINE = "1669"
ANSWER_PLACEHOLDERS = ("phone", "name", "name_en")  # values of knowledge.yaml's hospital section
MAX_LABEL = 20     # LINE: quick reply label length (UTF-16 code units)
MAX_TEXT = 5000    # LINE: text message length
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Dropped before matching: spaces and the zero-width characters Khmer and Myanmar put between words.
_GAPS = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
# Lao sara am with its tone mark typed before or after the nikhahit: one spelling.
_LAO_AM = re.compile("([\u0ec8-\u0ecb]?)\u0ecd([\u0ec8-\u0ecb]?)\u0eb2")
# Marks that join a letter to the one before it as a subscript (Khmer coeng, Myanmar virama):
# a phrase neither begins right after one nor ends right before one (ចងក is not in ចងក្រវាត់).
_JOINERS = "\u17d2\u1039"


def detect_script(text: str) -> str | None:
    """"my", "km" or "lo" when most of the message's letters are in that script; None for Thai,
    English and anything else. Digits, punctuation and emoji are not letters; Latin letters are
    ignored (a Myanmar message with "hospital" in it is Myanmar), Thai letters count against."""
    counts: Counter[str] = Counter()
    for char in text or "":
        if unicodedata.category(char)[0] not in "LM":
            continue
        point = ord(char)
        if THAI_BLOCK[0] <= point <= THAI_BLOCK[1]:
            counts["th"] += 1
            continue
        for code, blocks in BLOCKS.items():
            if any(low <= point <= high for low, high in blocks):
                counts[code] += 1
                break
    best = max(CODES, key=lambda code: counts[code])
    return best if counts[best] > counts["th"] else None


def fold(text: str) -> str:
    """``text`` in the form phrases are matched in: NFKC, without spaces or zero-width characters,
    one spelling of Lao sara am and of Khmer subscript ta/da (ក្តៅ = ក្ដៅ, typed either way)."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _GAPS.sub("", text)
    text = _LAO_AM.sub(lambda m: (m.group(1) or m.group(2)) + "\u0ecd\u0eb2", text)
    return text.replace("\u17d2\u178a", "\u17d2\u178f")


@dataclass(frozen=True)
class LanguagePack:
    """What the bot says to a patient writing in one language, and the emergencies it recognises."""

    code: str
    name: str
    answer: str
    staff_label: str
    emergency_answer: str
    emergencies: tuple[tuple[str, str], ...]  # (folded phrase, kind)

    def emergency_kind(self, text: str) -> str | None:
        """The kind of emergency the message describes ("medical", "self_harm", "violence",
        "poisoning"), or None. Phrases are found anywhere in the text: these languages are
        written without spaces between words too."""
        folded = fold(text)
        found = {kind for phrase, kind in self.emergencies if _contains(folded, phrase)}
        return next((kind for kind in PRIORITY if kind in found), None)

    def emergency_text(self, kind: str) -> str:
        """The emergency answer with the kind's numbers in it ("1323 / 1669" for self-harm)."""
        return self.emergency_answer.replace("{numbers}", " / ".join(HOTLINES[kind]))

    def answer_text(self, **values: str) -> str:
        """The answer with the hospital's values in it: ``answer_text(phone="02-000-0000")``."""
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), self.answer)


def _line_length(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units, so an emoji is 2."""
    return len(text.encode("utf-16-le")) // 2


def _contains(folded: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``folded`` as whole letters: not starting on a subscript
    letter, and not ending before a vowel sign or another mark of the same syllable."""
    at = folded.find(phrase)
    while at >= 0:
        end = at + len(phrase)
        starts_clean = at == 0 or folded[at - 1] not in _JOINERS
        ends_clean = end == len(folded) or (unicodedata.category(folded[end])[0] != "M"
                                            and folded[end] not in _JOINERS)
        if starts_clean and ends_clean:
            return True
        at = folded.find(phrase, at + 1)
    return False


class LanguagesError(ValueError):
    """The languages file is malformed; the message names file, language and field."""


class Languages:
    """The language packs, by script code."""

    def __init__(self, data: Any, source: str = "<languages>"):
        self.source = source
        if not isinstance(data, dict) or not data:
            self._fail("top level", f"must be a mapping of languages ({', '.join(CODES)})")
        self._packs: dict[str, LanguagePack] = {}
        for code, raw in data.items():
            if code not in CODES:
                self._fail(f"language {code!r}", f"unknown language (known: {', '.join(CODES)})")
            self._packs[code] = self._pack(code, raw)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Languages:
        """Read a languages YAML file; ``None`` = the shipped default."""
        path = Path(path) if path else DEFAULT_FILE
        try:
            data = strict_yaml.load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LanguagesError(f"{path}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise LanguagesError(f"{path}: not valid YAML: {exc}") from None
        return cls(data, source=str(path))

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._packs)

    def for_script(self, code: str | None) -> LanguagePack | None:
        """The pack for a script code from ``detect_script``; None if there is none."""
        return self._packs.get(code) if code else None

    def _fail(self, where: str, problem: str) -> NoReturn:
        raise LanguagesError(f"{self.source}: {where}: {problem}")

    def _pack(self, code: str, raw: Any) -> LanguagePack:
        where = f"language {code!r}"
        if not isinstance(raw, dict):
            self._fail(where, "must be a mapping with name, answer, staff_label, emergency_answer, emergencies")
        for field in ("name", "answer", "staff_label", "emergency_answer"):
            if not isinstance(raw.get(field), str) or not raw[field].strip():
                self._fail(where, f"{field}: missing (text)")
        answer, emergency_answer = raw["answer"].strip(), raw["emergency_answer"].strip()
        for field, text in (("answer", answer), ("emergency_answer", emergency_answer)):
            if _line_length(text) > MAX_TEXT:
                self._fail(where, f"{field}: {_line_length(text)} characters, LINE allows {MAX_TEXT}")
        if EMERGENCY_LINE not in answer:
            self._fail(where, f"answer: must give the emergency number {EMERGENCY_LINE}")
        unknown = set(_PLACEHOLDER.findall(answer)) - set(ANSWER_PLACEHOLDERS)
        if unknown:
            self._fail(where, f"answer: unknown placeholder {{{min(unknown)}}} "
                              f"(known: {', '.join(ANSWER_PLACEHOLDERS)})")
        if "{phone}" not in answer:
            self._fail(where, "answer: must give the hospital's phone, {phone}")
        if set(_PLACEHOLDER.findall(emergency_answer)) != {"numbers"}:
            self._fail(where, "emergency_answer: must say {numbers} (the kind's numbers), and no other placeholder")
        label = raw["staff_label"].strip()
        if _line_length(label) > MAX_LABEL:
            self._fail(where, f"staff_label: {_line_length(label)} characters (an emoji is 2), LINE allows {MAX_LABEL}")
        return LanguagePack(code, raw["name"].strip(), answer, label, emergency_answer,
                            self._emergencies(code, raw.get("emergencies")))

    def _emergencies(self, code: str, raw: Any) -> tuple[tuple[str, str], ...]:
        where = f"language {code!r}"
        if not isinstance(raw, dict) or not raw:
            self._fail(where, "emergencies: must be a mapping of phrase: kind")
        for phrase in strict_yaml.duplicates(raw):
            self._fail(f"{where} emergencies {phrase!r}", "written twice (keep one)")
        phrases = []
        for phrase, kind in raw.items():
            at = f"{where} emergencies {phrase!r}"
            if not isinstance(phrase, str) or not fold(phrase):
                self._fail(at, "the phrase must be text")
            if detect_script(phrase) != code:
                self._fail(at, f"is not written in the script of {code!r}")
            if kind not in KINDS:
                self._fail(at, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
            phrases.append((fold(phrase), kind))
        return tuple(phrases)
