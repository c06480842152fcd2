"""The conversation core: from a patient's event to the LINE messages to answer with.

Pure: no Flask, HTTP or Redis, so tests drive it directly and later features
(handoff, OTP) wrap it with their own state and fall back to ``answer_topic``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from bot.knowledge import KnowledgeBase

UNKNOWN = "unknown"
NON_TEXT = "non_text"


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

    def answer_topic(self, topic_id: str) -> Reply:
        """The knowledge base answer of ``topic_id``; the unknown answer if there is no such topic."""
        try:
            topic = self.kb.topic(topic_id)
        except KeyError:
            topic = self.kb.topic(UNKNOWN)
        # A copy, so that a caller adding to the messages cannot change the knowledge base.
        return Reply(topic.id, copy.deepcopy(list(topic.messages)))

    def on_text(self, text: str) -> Reply:
        """Answer a text message with the topic it matches best."""
        match = self.kb.match(text)
        return replace(self.answer_topic(match.topic_id), score=match.score)

    def on_postback(self, data: str) -> Reply:
        """Answer a button press; ``action=topic&id=<topic>`` shows that topic, anything else is unknown."""
        params = parse_qs(data if isinstance(data, str) else "")
        if params.get("action") != ["topic"] or len(params.get("id", [])) != 1:
            return self.answer_topic(UNKNOWN)
        return self.answer_topic(params["id"][0])

    def on_follow(self) -> Reply:
        """Welcome a patient who added (or unblocked) the account, with the topics menu."""
        return self.answer_topic("greeting")

    def on_other_message(self, kind: str) -> Reply:
        """Answer a sticker, image, video, audio, file or location politely: only text is understood."""
        return self.answer_topic(NON_TEXT)
