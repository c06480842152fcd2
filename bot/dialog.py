"""The conversation core: from a patient's event to the LINE messages to answer with.

Pure: no Flask, HTTP or Redis, so tests drive it directly and later features
(handoff, OTP) wrap it with their own state and fall back to ``answer_topic``.

A text message is first checked for an emergency (``bot.emergency``), whatever
else it says; only then does the knowledge base's matcher look for its topic.
A message the matcher cannot place gets "did you mean …?" buttons of the
closest topics and the way to staff, rather than a guess.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from bot.emergency import SELF_HARM_MESSAGE, Emergency, detect
from bot.handoff.messages import HANDOFF_POSTBACK
from bot.intents import Intent
from bot.knowledge import MAX_MESSAGES, KnowledgeBase

UNKNOWN = Intent.UNKNOWN
NON_TEXT = "non_text"
EMERGENCY = Intent.EMERGENCY
SELF_HARM = Intent.SELF_HARM
STAFF = Intent.STAFF
OTHER = "other"  # a metric label for an intent that is neither a topic nor one of ``Intent``
STAFF_LABEL = "💬 คุยกับเจ้าหน้าที่"
EMERGENCY_LABEL = "🚑 ฉุกเฉิน โทร 1669"
MAX_SUGGESTIONS = 3
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


class Dialog:
    """Answers patients' events from a knowledge base."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
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
        """The 1669 answer; thoughts of self-harm get the mental-health hotline 1323 first.

        The intent stays ``emergency`` either way: every conversation feature lets it through."""
        reply = self.answer_topic(EMERGENCY)
        if found is not None and found.self_harm:
            try:
                first = _copy(self.kb.topic(SELF_HARM).messages)
            except KeyError:
                first = [copy.deepcopy(SELF_HARM_MESSAGE)]
            reply.messages = (first + reply.messages)[:MAX_MESSAGES]
        return reply

    def on_text(self, text: str) -> Reply:
        """Answer a text message: an emergency first, else the topic it matches best,
        else the closest topics to choose from."""
        found = detect(text)
        if found is not None:
            return self.answer_emergency(found)
        match = self.kb.match(text)
        if match.topic_id == EMERGENCY:
            return self.answer_emergency()
        if match.topic_id == UNKNOWN:
            return self._did_you_mean(text)
        return replace(self.answer_topic(match.topic_id), score=match.score)

    def on_postback(self, data: str) -> Reply:
        """Answer a button press: ``action=topic&id=<topic>`` shows that topic, ``action=handoff``
        the staff answer (when the chat handoff is on, it takes that button first); anything else is unknown."""
        params = parse_qs(data if isinstance(data, str) else "")
        if params.get("action") == parse_qs(HANDOFF_POSTBACK)["action"]:
            return self.answer_topic(STAFF)
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


def _postback(label: str, data: str) -> dict:
    return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label, "data": data}}


def _copy(messages) -> list[dict]:
    """A deep copy of LINE message objects (JSON by definition): a JSON round trip is several
    times quicker than ``copy.deepcopy``, and every answer pays it."""
    return json.loads(json.dumps(list(messages), ensure_ascii=False))
