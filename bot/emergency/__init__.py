"""Emergency triage: is a life-threatening situation described, is it happening now, and which kind.

Every text message goes through ``assess`` before any other matcher, in every conversation state,
and it errs on the side of alarm: a miss can cost a life. The three questions (situation, kind, now)
and what places a danger elsewhere than now: docs/architecture.md, "Emergency triage".
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.emergency.families import FAMILIES, Family
from bot.emergency.kinds import (  # noqa: F401  (the names the dialog and the knowledge base use)
    EMERGENCY_LINE,
    KIND_MESSAGES,
    KINDS,
    MEDICAL,
    MENTAL_HEALTH_LINE,
    POISON_LINE,
    POISONING,
    POLICE_LINE,
    SAFETY_LINES,
    SELF_HARM,
    SELF_HARM_MESSAGE,
    SOCIAL_LINE,
    VIOLENCE,
)
from bot.emergency.now import strip_marks, why_not_now
from bot.text import normalize, skipped_marks

BARE_MIN = 4              # letters a match without marks needs (see _find)
MAX_CHARS = 2000          # more than any message; keeps a pasted essay cheap to scan


@dataclass(frozen=True)
class Emergency:
    """A danger a message describes: its family, kind and numbers; ``now`` False when the message
    places it in the past, a hypothesis, fiction, a pet... (``why`` says which)."""

    family: str
    kind: str
    hotlines: tuple[str, ...]
    now: bool = True
    why: str = ""

    @property
    def self_harm(self) -> bool:
        return self.kind == SELF_HARM


def _find(family: Family, compact: str, spaced: str, stripped: str | None, skipped: str) -> tuple[str, int] | None:
    if stripped is None:
        if found := family.thai.search(compact):
            return "thai", found.start()
        if family.spaced is not None and (found := family.spaced.search(spaced)):
            return "spaced", found.start()
        return None
    # Without its marks a match counts only when it keeps enough letters to mean something
    # ("ชัก" without its vowel is "ชก", to punch; "ล้ม" is "ลม", wind, and in "เคลม").
    for found in (family.toneless if skipped == "tones" else family.bare).finditer(stripped):
        if len(found.group()) >= BARE_MIN or not found.group():  # or a co-occurrence (look-aheads only)
            return "thai", found.start()
    return None


def assess(text: str, typed: str | None = None) -> Emergency | None:
    """The danger the message describes (self-harm first), now or not; None when it describes none.
    ``typed``: the message as the patient typed it, when ``text`` is a reading of it (the marks the
    patient skipped are told by what they typed, not by a reading that restored some)."""
    spaced = normalize(text or "")[:MAX_CHARS]
    if not spaced:
        return None
    compact = spaced.replace(" ", "")
    marks_of = compact if typed is None else normalize(typed)[:MAX_CHARS].replace(" ", "")
    mentioned, skipped = None, skipped_marks(marks_of)
    # A second look without the marks the message skips, when it named nothing as typed.
    for stripped in [None, *([strip_marks(compact, skipped)] if skipped else [])]:
        for family in FAMILIES:
            where = _find(family, compact, spaced, stripped, skipped)
            if where is None:
                continue
            # Positions in the stripped text are compared with the stripped text.
            why = why_not_now(family.id, stripped or compact, stripped or spaced, where, present_in=(compact, spaced))
            found = Emergency(family.id, family.kind, KINDS[family.kind], now=not why, why=why)
            if found.now:
                return found
            mentioned = mentioned or found
        if mentioned is not None:
            return mentioned
    return None


def detect(text: str) -> Emergency | None:
    """The emergency happening now that the message describes, or None (see ``assess``)."""
    found = assess(text)
    return found if found is not None and found.now else None
