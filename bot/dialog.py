"""The conversation core: from a patient's event to the LINE messages to answer with.

Pure: no Flask, HTTP or Redis, so tests drive it directly and later features
(handoff, OTP) wrap it with their own state and fall back to ``answer_topic``.

A message in Myanmar, Khmer or Lao script gets, in its language, the way to staff and
1669, or its emergency answer (``bot.languages``). Any other text is read as central
Thai first (``bot.lexicon``: regional words, romanised Thai, misspellings). It is then
triaged (``bot.emergency``), whatever else it says: an
emergency happening now gets its kind's numbers and a "not an emergency" button;
a danger that is past, hypothetical or someone else's story gets its topic's
answer and one safety line. Only then does the knowledge base's matcher look for
its topic. A message the matcher cannot place gets "did you mean …?" buttons of
the closest topics and the way to staff, rather than a guess.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from bot.emergency import KIND_MESSAGES, KINDS, MEDICAL, SAFETY_LINES, Emergency, assess
from bot.handoff.messages import HANDOFF_POSTBACK
from bot.intents import Action, Intent
from bot.knowledge import MAX_MESSAGES, MAX_TEXT, KnowledgeBase, Match
from bot.languages import LanguagePack, Languages, detect_script
from bot.learned import LearnedMatcher
from bot.lexicon import Lexicon
from bot.text import normalize

UNKNOWN = Intent.UNKNOWN
NON_TEXT = "non_text"
EMERGENCY = Intent.EMERGENCY
SELF_HARM = Intent.SELF_HARM
STAFF = Intent.STAFF
OTHER = "other"  # a metric label for an intent that is neither a topic nor one of ``Intent``
STAFF_LABEL = "💬 คุยกับเจ้าหน้าที่"
EMERGENCY_LABEL = "🚑 ฉุกเฉิน โทร 1669"
NOT_EMERGENCY_LABEL = "ไม่ใช่เหตุฉุกเฉิน"
NOT_EMERGENCY_POSTBACK = f"action={Action.NOT_EMERGENCY}"
NOT_EMERGENCY_TEXT = ("เข้าใจแล้วค่ะ ขอบคุณที่แจ้งนะคะ 🙏 ระบบอัตโนมัติจะตอบคำถามต่อจากนี้ค่ะ "
                      "พิมพ์ถามหรือเลือกหัวข้อด้านล่างได้เลย\nถ้าอาการเปลี่ยนไป โทร 1669 ได้ทันทีค่ะ\n\n"
                      "Understood, thank you. Ask me anything, or choose a topic below. "
                      "If things change, call 1669 at once.")
# The whole message says the emergency answer was a false alarm (typed instead of pressing the button).
_NOT_EMERGENCY_PHRASES = frozenset({
    "ไม่ใช่เหตุฉุกเฉิน", "ไม่ใช่ฉุกเฉิน", "ไม่ฉุกเฉิน", "ไม่ได้ฉุกเฉิน", "ไม่ใช่เหตุฉุกเฉินค่ะ", "ไม่ใช่เหตุฉุกเฉินครับ",
    "ไม่ฉุกเฉินค่ะ", "ไม่ฉุกเฉินครับ", "ไม่ใช่ค่ะไม่ฉุกเฉิน", "notanemergency", "notemergency", "itsnotanemergency",
})
MAX_SUGGESTIONS = 3
# The learned matcher's decision values (chosen on a validation part of the corpus's train side):
LEARNED_TOPIC = -0.2      # to answer a topic (or "none") instead of the trigger matcher
LEARNED_EMERGENCY = 0.2   # to answer an emergency the triage did not see
DID_YOU_MEAN = ("ขออภัยค่ะ ยังไม่แน่ใจว่าหมายถึงเรื่องใด 🙏 หมายถึงหัวข้อด้านล่างไหมคะ? "
                "หรือกด “คุยกับเจ้าหน้าที่” ได้เลยค่ะ\n⚠️ เหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
                "Sorry, I am not sure what you mean. Did you mean one of the topics below? "
                "Or talk to our staff. In an emergency call 1669.")


@dataclass
class Reply:
    """What to answer: the intent (a topic id) and LINE message objects ready to send."""

    intent: str
    messages: list[dict] = field(default_factory=list)
    score: float = 1.0  # how sure the matcher was; 1.0 for buttons and events
    kind: str = ""      # an emergency's kind (medical, self_harm, violence, poisoning); with a
    #                     safety line, the kind of danger mentioned


class Dialog:
    """Answers patients' events from a knowledge base."""

    def __init__(self, kb: KnowledgeBase, lexicon: Lexicon | None = None, languages: Languages | None = None,
                 learned: bool = True):
        """``lexicon`` and ``languages``: None = the shipped ones (``bot/data``); ``learned`` False
        matches triggers only (as when scikit-learn is not installed)."""
        self.kb = kb
        self.lexicon = lexicon or _shipped(Lexicon)
        self.languages = languages or _shipped(Languages)
        self.learned = _learned(self.kb, self.lexicon) if learned else None
        self._labels = frozenset(topic.id for topic in kb.topics) | frozenset(str(intent) for intent in Intent)

    def topic_label(self, intent: str) -> str:
        """``intent`` as a metric label: a topic id of the knowledge base or one of ``Intent``, else
        ``other``. Never free text: every label value is a time series kept for ever."""
        return str(intent) if intent in self._labels else OTHER

    def answer_topic(self, topic_id: str) -> Reply:
        """The knowledge base answer of ``topic_id``; the unknown answer if there is no such topic."""
        try:
            topic = self.kb.topic(topic_id)
        except KeyError:
            topic = self.kb.topic(UNKNOWN)
        # A copy, so that a caller adding to the messages cannot change the knowledge base.
        return Reply(topic.id, _copy(topic.messages))

    def answer_emergency(self, found: Emergency | None = None) -> Reply:
        """The emergency answer: for self-harm, violence and poisoning their own numbers first, then
        the 1669 answer; under it the "not an emergency" button (a false alarm must not leave the
        patient unanswered). The intent stays ``emergency``: every conversation feature lets it through."""
        kind = found.kind if found is not None else MEDICAL
        reply = self.answer_topic(EMERGENCY)
        if kind in KIND_MESSAGES:
            try:
                first = _copy(self.kb.topic(kind).messages)
            except KeyError:
                first = _copy([KIND_MESSAGES[kind]])
            reply.messages = (first + reply.messages)[:MAX_MESSAGES]
        last = reply.messages[-1]
        items = [_postback(NOT_EMERGENCY_LABEL, NOT_EMERGENCY_POSTBACK),
                 _postback(STAFF_LABEL, HANDOFF_POSTBACK)]
        last["quickReply"] = {"items": [*((last.get("quickReply") or {}).get("items") or [])[:11], *items]}
        return replace(reply, kind=kind)

    def answer_not_emergency(self) -> Reply:
        """The patient says the emergency answer was a false alarm: the bot answers again."""
        message = {"type": "text", "text": NOT_EMERGENCY_TEXT}
        if self.kb.menu:
            message["quickReply"] = copy.deepcopy(self.kb.menu)
        return Reply(Intent.NOT_EMERGENCY, [message])

    def on_text(self, text: str) -> Reply:
        """Answer a text message: an emergency happening now first; else the topic it matches
        best (with a safety line if it mentions a danger that is not happening now); else the
        closest topics to choose from."""
        pack = self.languages.for_script(detect_script(text or ""))
        if pack is not None:
            return self._other_language(pack, text)
        central = self.read(text)
        found = _triage(central, text)
        if found is not None and found.now:
            return self.answer_emergency(found)
        if _compact(text) in _NOT_EMERGENCY_PHRASES:
            return self.answer_not_emergency()
        match = self.kb.match(central, emergency=found is None)
        if match.topic_id == EMERGENCY:
            return self.answer_emergency()
        topic, score, kind = self._topic(central, match, mentioned=found is not None)
        if topic == EMERGENCY:
            return self.answer_emergency(Emergency("learned", kind, KINDS[kind]))
        reply = self._did_you_mean(central) if topic == UNKNOWN else \
            replace(self.answer_topic(topic), score=score)
        return reply if found is None else _with_safety_line(reply, found.kind)

    def _topic(self, central: str, match: Match, mentioned: bool) -> tuple[str, float, str]:
        """(topic, score, emergency kind): what the learned matcher is sure of, else the trigger
        matcher's. The learned matcher may find an emergency the triage did not see (recall first),
        never one the triage placed in the past or a hypothesis (``mentioned``)."""
        if self.learned is None:
            return match.topic_id, match.score, ""
        guess = self.learned.guess(central, exclude=lambda label: mentioned and label.startswith("emergency:"))
        if guess.emergency_kind:
            if guess.margin >= LEARNED_EMERGENCY:
                return EMERGENCY, 1.0, guess.emergency_kind
        elif guess.margin >= LEARNED_TOPIC:
            return (UNKNOWN if guess.label == "none" else guess.label), min(1.0, 1 + guess.margin), ""
        return match.topic_id, match.score, ""

    def read(self, text: str) -> str:
        """The message as central Thai: normalised, regional and romanised words rewritten."""
        return self.lexicon.to_central(normalize(text or ""))

    def _other_language(self, pack: LanguagePack, text: str) -> Reply:
        """In the patient's language: their emergency's numbers, or how to reach staff and an interpreter."""
        kind = pack.emergency_kind(text)
        if kind is not None:
            reply = self.answer_emergency(Emergency(f"{pack.code}:{kind}", kind, KINDS[kind]))
            first = {"type": "text", "text": pack.emergency_text(kind)[:MAX_TEXT]}
            return replace(reply, messages=[first, *reply.messages][:MAX_MESSAGES])
        phone = str(self.kb.hospital.get("phone", ""))
        message = {"type": "text", "text": pack.answer_text(phone=phone)[:MAX_TEXT], "quickReply": {"items": [
            _postback(pack.staff_label, HANDOFF_POSTBACK), _uri(EMERGENCY_LABEL, "tel:1669")]}}
        return Reply(Intent.OTHER_LANGUAGE, [message])

    def on_postback(self, data: str) -> Reply:
        """Answer a button press: ``action=topic&id=<topic>`` shows that topic, ``action=handoff``
        the staff answer (when the chat handoff is on, it takes that button first); anything else is unknown."""
        params = parse_qs(data if isinstance(data, str) else "")
        if params.get("action") == parse_qs(HANDOFF_POSTBACK)["action"]:
            return self.answer_topic(STAFF)
        if params.get("action") == [Action.NOT_EMERGENCY]:
            return self.answer_not_emergency()
        if params.get("action") != ["topic"] or len(params.get("id", [])) != 1:
            return self.answer_topic(UNKNOWN)
        return self.answer_topic(params["id"][0])

    def on_follow(self) -> Reply:
        """Welcome a patient who added (or unblocked) the account, with the topics menu."""
        return self.answer_topic("greeting")

    def on_other_message(self, kind: str) -> Reply:
        """Answer a sticker, image, video, audio, file or location politely: only text is understood."""
        return self.answer_topic(NON_TEXT)

    def _did_you_mean(self, text: str) -> Reply:
        """The unknown answer; with "did you mean" buttons when some topics come close."""
        labels = self.kb.menu_labels
        suggestions = [t for t in self.kb.suggest(text, MAX_SUGGESTIONS + 2) if t in labels and t != STAFF]
        if not suggestions:
            return replace(self.answer_topic(UNKNOWN), score=0.0)
        items = [_postback(labels[t], f"action=topic&id={t}") for t in suggestions[:MAX_SUGGESTIONS]]
        items.append(_postback(STAFF_LABEL, HANDOFF_POSTBACK))
        items.append(_postback(EMERGENCY_LABEL, f"action=topic&id={EMERGENCY}"))
        return Reply(UNKNOWN, [{"type": "text", "text": DID_YOU_MEAN, "quickReply": {"items": items}}], 0.0)


def _with_safety_line(reply: Reply, kind: str) -> Reply:
    """``reply`` and one line on what to do if the danger it mentions is happening now."""
    line = {"type": "text", "text": SAFETY_LINES.get(kind, SAFETY_LINES[MEDICAL])}
    quick = reply.messages[-1].pop("quickReply", None) if reply.messages else None  # LINE shows the last one's
    messages = reply.messages[:MAX_MESSAGES - 1]
    if quick is not None:
        line["quickReply"] = quick
    return replace(reply, messages=[*messages, line], kind=kind)


def build_dialog(kb: KnowledgeBase, settings) -> Dialog:
    """The dialog with the hospital's own lexicon words and language file, if ``settings`` names them."""
    lexicon = _shipped(Lexicon)
    if settings.bot_lexicon_file:
        lexicon = lexicon.merge(Lexicon.load(settings.bot_lexicon_file))
    languages = Languages.load(settings.bot_languages_file) if settings.bot_languages_file else None
    return Dialog(kb, lexicon, languages)


def _triage(central: str, text: str) -> Emergency | None:
    """The triage of the message read as central Thai, and of the message as typed: an emergency
    happening now in either is one (a mistake in the lexicon can never hide or downgrade one);
    else a danger mentioned in either."""
    found = assess(central, typed=text)
    if (found is not None and found.now) or central == normalize(text or ""):
        return found
    typed = assess(text)
    return typed if typed is not None and (typed.now or found is None) else found


@functools.cache
def _shipped(kind):
    """The shipped lexicon or languages, loaded once per process (the segmenter's words take ~0.5 s)."""
    return kind.load()


_LEARNED: dict[tuple, LearnedMatcher | None] = {}


def _learned(kb: KnowledgeBase, lexicon: Lexicon) -> LearnedMatcher | None:
    """The learned matcher of this knowledge base's topics, trained once per process."""
    topics = {t.id: t.triggers for t in kb.topics if t.triggers}
    key = (lexicon, tuple(topics.items()))  # the lexicon itself: an id could be reused once it is gone
    if key not in _LEARNED:
        _LEARNED[key] = LearnedMatcher.train(topics, lambda text: lexicon.to_central(normalize(text)))
    return _LEARNED[key]


def _uri(label: str, uri: str) -> dict:
    return {"type": "action", "action": {"type": "uri", "label": label, "uri": uri}}


def _compact(text: str) -> str:
    return normalize(text or "").replace(" ", "")


def _postback(label: str, data: str) -> dict:
    return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label, "data": data}}


def _copy(messages) -> list[dict]:
    """A deep copy of LINE message objects (JSON by definition): a JSON round trip is several
    times quicker than ``copy.deepcopy``, and every answer pays it."""
    return json.loads(json.dumps(list(messages), ensure_ascii=False))
