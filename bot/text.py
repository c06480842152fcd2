"""Text normalisation for matching Thai and English patient messages.

Patients type on phones: Thai digits, stray zero-width characters, the
decomposed sara am (``ํ`` + ``า``), ``เเ`` for ``แ``, stretched endings
(``ค่าาาา``) and emoji. ``normalize`` folds all of these so that one trigger
written in the knowledge base matches every common spelling of it.
"""

from __future__ import annotations

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
