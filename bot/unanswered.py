"""The phrasing of a question the bot could not answer, as it is kept for the hospital (PDPA).

The hospital reads these to add triggers to the knowledge base, so they are kept in the form the
matcher sees (``bot.text.normalize``), with what could identify someone taken out: every run of
digits becomes ``#`` (phones, citizen ids, HN, dates, ages) and anything that looks like an e-mail
address becomes ``@``. Masked phrasings also group better: "นัด 9 โมง" and "นัด 10 โมง" are one line.
"""

from __future__ import annotations

import re
import unicodedata

from bot.text import normalize

MAX_PHRASING = 200
DIGITS_MARK = "#"
EMAIL_MARK = "@"

# ASCII only on either side of the @: Thai is written without spaces, and a wider class would
# swallow the words around an address ("ส่งมาที่somchai@mail.comนะคะ").
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")  # would cut an address in two
_DIGITS = re.compile(r"\d+")  # any script's digits: Thai ones are folded by normalize, Myanmar/Khmer/Lao are not


def phrasing(text: str) -> str:
    """``text`` normalised, e-mails and digits masked, at most ``MAX_PHRASING`` characters ("" if nothing is left).

    E-mails are found before normalising, which takes the ``@`` and the dots apart; digits after,
    once Thai and full-width digits are folded to ASCII."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    pieces = [normalize(piece) for piece in _EMAIL.split(text)]
    masked = f" {EMAIL_MARK} ".join(pieces)
    masked = _DIGITS.sub(DIGITS_MARK, masked)
    return " ".join(masked.split())[:MAX_PHRASING].rstrip()
