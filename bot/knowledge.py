"""The knowledge base: topics, their trigger phrases and LINE answers, loaded from YAML.

A hospital edits ``bot/data/knowledge.yaml`` or its own copy (``BOT_KNOWLEDGE_FILE``).
It is checked at load, so a mistake is reported at start-up naming file, topic
and field, not as a LINE API error while a patient waits.

Matching: Thai has no spaces between words, so Thai triggers are substrings of
the normalised message with its spaces removed; English ones match whole words.
Longer triggers also match with a typo or two (rapidfuzz), short ones only
exactly; a short Thai trigger must begin a word ("นัด" is not in "ถนัด"). Words
are cut by PyThaiNLP's newmm and folded to one spelling first (``bot.text.words``:
โรงบาล and รพ. are โรงพยาบาล, มั้ย is ไหม). ``emergency`` wins whenever it
matches; otherwise any trigger before a topic's ``hints`` (common words such as
"ตึก" or "building" that point to a topic only when no trigger matched), then the
highest priority, then the trigger that matched the most characters.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, NoReturn

import yaml
from rapidfuzz import fuzz, process

from bot.intents import Intent
from bot.text import is_thai_word, normalize, words

DEFAULT_FILE = Path(__file__).parent / "data" / "knowledge.yaml"
REQUIRED_TOPICS = ("greeting", "hours", "location", "contact", "appointment", "documents",
                   "parking", "visiting", "emergency", "staff", "verify", "thanks")
FALLBACKS = ("unknown", "non_text")  # answers without triggers
# Put before the 1669 answer for these kinds of emergency (bot/emergency.py has built-in ones).
OPTIONAL_FALLBACKS = ("self_harm", "violence", "poisoning")
HOTLINES = {Intent.EMERGENCY: "1669", Intent.SELF_HARM: "1323",  # an answer that must give this number
            "violence": "191", "poisoning": "1367"}
EMERGENCY = Intent.EMERGENCY
MAX_MESSAGES = 5          # LINE: messages per reply
MAX_QUICK_REPLIES = 13    # LINE: quick reply items
MAX_LABEL = 20            # LINE: quick reply label length
MAX_TEXT = 5000           # LINE: text message length
SUGGEST_MIN = 75          # partial similarity (0-100) for a topic to be suggested
SHORT_THAI = 4           # Thai triggers this short must begin a word
MAX_MATCH_CHARS = 1000    # enough for any question; keeps a pasted essay cheap to match
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_LATIN = re.compile(r"[a-z0-9 ]+")
_NOT_LATIN = re.compile(r"[^a-z0-9]+")


class KnowledgeError(ValueError):
    """The knowledge base file is malformed; the message names file, topic and field."""


@dataclass(frozen=True)
class Topic:
    id: str
    triggers: tuple[str, ...]
    messages: tuple[dict, ...]
    priority: int = 0
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    topic_id: str
    score: float


class _Message:
    """A patient's message in the forms triggers are compared with."""

    def __init__(self, text: str, not_typos: tuple[str, ...] = ()):
        tokens = words((text or "")[:MAX_MATCH_CHARS])
        self.compact = "".join(tokens)  # Thai is written without spaces
        self.starts = list(accumulate((len(t) for t in tokens[:-1]), initial=0))  # where each word begins
        self.words = " " + _NOT_LATIN.sub(" ", " ".join(tokens)).strip() + " "  # " opening hours "
        self.fuzzy = self.compact
        for word in not_typos:  # never read "โรงพยาบาล" as a typo of "รถพยาบาล"
            self.fuzzy = self.fuzzy.replace(word, " ")
        self.chars = frozenset(self.fuzzy)

    def has_word_start(self, key: str) -> bool:
        """Whether ``key`` occurs at the start of a word, or after a whole word inside a compound:
        "นัด" is in "นัดหมอ" and "มีนัด" (มี + นัด), not in "ถนัด"."""
        at = self.compact.find(key)
        while at >= 0:
            start = self.starts[bisect_right(self.starts, at) - 1]
            if at == start or is_thai_word(self.compact[start:at]):
                return True
            at = self.compact.find(key, at + 1)
        return False


class _Trigger:
    """One normalised trigger phrase, ready to score messages against."""

    def __init__(self, topic_id: str, priority: int, phrase: str, hint: bool = False):
        key = " ".join(words(phrase))
        self.topic_id, self.priority, self.hint = topic_id, priority, hint
        # English matches whole words only: "hi" is not in "this", "parking" not in "parkinson".
        self.latin = bool(_LATIN.fullmatch(key))
        self.key = key if self.latin else key.replace(" ", "")
        self.padded = f" {key} "
        # A short Thai trigger inside a longer word is another word: "นัด" in "ถนัด".
        self.word_start = not self.latin and len(self.key) <= SHORT_THAI
        # Thai counts vowels and tone marks as characters, so its words are longer.
        shortest = 6 if self.latin else 7
        self.edits = 0 if len(self.key) < shortest else 1 if len(self.key) < 2 * shortest else 2
        if hint:
            self.edits = 0  # a hint is a single common word: only exactly
        self.chars = frozenset(self.key.replace(" ", ""))
        self.min_score = 100 * (1 - self.edits / len(self.key)) - 0.01

    def score(self, message: _Message) -> tuple[float, bool]:
        """Similarity 0..1 of this trigger to the message (0 = no match), and whether exact."""
        if self.latin:
            if self.padded in message.words:
                return 1.0, True
        elif message.has_word_start(self.key) if self.word_start else self.key in message.compact:
            return 1.0, True
        # Each character the message lacks costs an edit: skips most fuzzy comparisons.
        if not self.edits or len(self.chars - message.chars) > self.edits:
            return 0.0, False
        if self.latin:  # compare with runs of as many words as the trigger has
            words, size = message.words.split(), self.key.count(" ") + 1
            runs = [" ".join(words[i:i + size]) for i in range(max(1, len(words) - size + 1))]
            found = process.extractOne(self.key, runs, scorer=fuzz.ratio, score_cutoff=self.min_score)
            return (found[1] / 100 if found else 0.0), False
        # partial_ratio aligns the shorter string, so a message shorter than the
        # trigger would match every trigger containing it: compare whole strings then.
        scorer = fuzz.partial_ratio if len(message.fuzzy) >= len(self.key) else fuzz.ratio
        return scorer(self.key, message.fuzzy, score_cutoff=self.min_score) / 100, False


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{path}: not valid YAML: {exc}") from None


def _hospital_name(hospital: dict, source: str) -> str:
    # Set once, here: the bot's answers, MOPH notices, OTP SMS and the rich menu all read it.
    name = hospital.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KnowledgeError(f"{source}: hospital: name: missing; it heads appointment notices and SMS")
    return name.strip()


def hospital_name(path: str | Path | None = None) -> str:
    """The ``hospital: name:`` of a knowledge base file (``None`` = the shipped one), read without
    building its matcher (seconds of Thai segmentation) for processes that send but never answer."""
    path = Path(path) if path else DEFAULT_FILE
    data = _read(path)
    hospital = data.get("hospital") if isinstance(data, dict) else None
    return _hospital_name(hospital if isinstance(hospital, dict) else {}, str(path))


def _label_ok(label: Any) -> bool:
    """A quick reply label LINE accepts (it counts UTF-16 code units: an emoji is 2)."""
    return isinstance(label, str) and 1 <= len(label.encode("utf-16-le")) // 2 <= MAX_LABEL


class KnowledgeBase:
    """Topics and answers of one knowledge base file, with a matcher built once."""

    def __init__(self, data: Any, source: str = "<knowledge>"):
        self.source = source
        if not isinstance(data, dict) or not isinstance(data.get("hospital", {}), dict):
            self._fail("top level", "must be a mapping with hospital, quick_replies and topics")
        self.hospital: dict = data.get("hospital") or {}
        self.hospital_name = _hospital_name(self.hospital, self.source)
        raw_topics = data.get("topics")
        if not isinstance(raw_topics, list) or not raw_topics:
            self._fail("topics", "must be a non-empty list")
        fallbacks = data.get("fallbacks") if isinstance(data.get("fallbacks"), dict) else {}
        answers = {i: fallbacks[i] if isinstance(fallbacks.get(i), dict) else {} for i in FALLBACKS}
        raw_topics = raw_topics + [dict(answers[i], id=i, triggers=[]) for i in FALLBACKS]
        raw_topics += [dict(fallbacks[i], id=i, triggers=[]) for i in OPTIONAL_FALLBACKS
                       if isinstance(fallbacks.get(i), dict)]
        self.not_typos = tuple("".join(words(str(w))) for w in data.get("not_typos") or ())
        ids: list[str] = []
        for number, raw in enumerate(raw_topics, 1):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
                self._fail(f"topic #{number}", "id: missing")
            if raw["id"] in ids:
                self._fail(f"topic '{raw['id']}'", "id: duplicate topic id")
            ids.append(raw["id"])
        for missing in (i for i in REQUIRED_TOPICS if i not in ids):
            self._fail(f"topic '{missing}'", "id: required topic is missing")
        self.menu = self._menu(data.get("quick_replies"), set(ids))
        self.menu_labels = {item["action"]["data"].split("id=", 1)[1]: item["action"]["label"]
                            for item in self.menu["items"]}
        self._topics = {raw["id"]: self._topic(raw) for raw in raw_topics}
        self._triggers = [_Trigger(t.id, t.priority, phrase)
                          for t in self._topics.values() for phrase in t.triggers]
        self._triggers += [_Trigger(t.id, t.priority, phrase, hint=True)
                           for t in self._topics.values() for phrase in t.hints]
        for topic_id, number in HOTLINES.items():  # a safety answer that lost its number is a mistake
            if topic_id in self._topics and number not in json.dumps(self._topics[topic_id].messages):
                self._fail(f"topic '{topic_id}'", f"messages: must give the hotline {number}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> KnowledgeBase:
        """Read a knowledge base YAML file; ``None`` = the shipped default."""
        path = Path(path) if path else DEFAULT_FILE
        return cls(_read(path), source=str(path))

    @property
    def topics(self) -> tuple[Topic, ...]:
        """Every topic in file order, then the fallback answers."""
        return tuple(self._topics.values())

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id; ``KeyError`` if there is none."""
        return self._topics[topic_id]

    def match(self, text: str, *, emergency: bool = True) -> Match:
        """The topic a patient's message is about, or ``unknown``; ``emergency`` False leaves the
        emergency topic out (a danger the message places in the past or a hypothesis)."""
        message = _Message(text, self.not_typos)
        best, best_key = Match("unknown", 0.0), None
        for trigger in self._triggers:
            if not emergency and trigger.topic_id == EMERGENCY:
                continue
            score, exact = trigger.score(message)
            if not score:
                continue
            # Emergency first, then any trigger before a hint, then priority, then the most characters
            # matched (about length * (2 * score - 1) for rapidfuzz's indel ratio), exact before typo.
            key = (trigger.topic_id == EMERGENCY, not trigger.hint, trigger.priority,
                   len(trigger.key) * (2 * score - 1), exact)
            if best_key is None or key > best_key:
                best, best_key = Match(trigger.topic_id, score), key
        return best

    def suggest(self, text: str, limit: int = 3) -> list[str]:
        """The topics closest to a message no trigger matched, closest first (for "did you mean").

        Looser than ``match``: the share of a trigger's characters found in order in the
        message, so "จอดรถ" comes close to "ที่จอดรถยนต์" and "hour" to "opening hours"."""
        message = _Message(text, self.not_typos)
        if not message.compact:
            return []
        best: dict[str, float] = {}
        for trigger in self._triggers:
            if trigger.topic_id == EMERGENCY:
                continue  # an emergency is never a suggestion: the detector answers it
            haystack = message.words if trigger.latin else message.fuzzy
            score = fuzz.partial_ratio(trigger.key, haystack, score_cutoff=SUGGEST_MIN)
            if len(trigger.key) >= 3 and score > best.get(trigger.topic_id, 0):
                best[trigger.topic_id] = score
        return sorted(best, key=lambda t: -best[t])[:limit]

    def _fail(self, where: str, problem: str) -> NoReturn:
        raise KnowledgeError(f"{self.source}: {where}: {problem}")

    def _menu(self, entries: Any, ids: set) -> dict:
        """The LINE quickReply object of the common topics (``quickReply: menu`` in YAML)."""
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_QUICK_REPLIES:
            self._fail("quick_replies", f"must list 1 to {MAX_QUICK_REPLIES} topics")
        items = []
        for entry in entries:
            topic_id, label = (entry.get("id"), entry.get("label")) if isinstance(entry, dict) else (None, None)
            if topic_id not in ids:
                self._fail("quick_replies", f"id: {topic_id!r} is not a topic id")
            if not _label_ok(label):
                self._fail(f"quick_replies '{topic_id}'", f"label: must be 1 to {MAX_LABEL} characters")
            items.append({"type": "action", "action": {
                "type": "postback", "label": label, "displayText": label,
                "data": f"action=topic&id={topic_id}"}})
        return {"items": items}

    def _topic(self, raw: dict) -> Topic:
        where = f"topic '{raw['id']}'"
        triggers = raw.get("triggers")
        if raw["id"] not in FALLBACKS + OPTIONAL_FALLBACKS and (
                not isinstance(triggers, list) or not [t for t in triggers if normalize(str(t))]):
            self._fail(where, "triggers: must be a non-empty list of phrases")
        messages = raw.get("messages")
        if not isinstance(messages, list) or not messages:
            self._fail(where, "messages: must be a non-empty list of LINE message objects")
        if len(messages) > MAX_MESSAGES:
            self._fail(where, f"messages: {len(messages)} messages, LINE allows at most {MAX_MESSAGES}")
        if not isinstance(priority := raw.get("priority", 0), int):
            self._fail(where, "priority: must be a whole number")
        hints = raw.get("hints", [])
        if not isinstance(hints, list):
            self._fail(where, "hints: must be a list of words")
        return Topic(raw["id"], tuple(str(t) for t in triggers or () if normalize(str(t))),
                     tuple(self._message(where, m) for m in messages), priority,
                     tuple(str(h) for h in hints if normalize(str(h))))

    def _message(self, where: str, message: Any) -> dict:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._fail(where, "messages: each message needs a type")
        message = self._fill(where, message)
        if message.get("quickReply") == "menu":
            message["quickReply"] = self.menu
        if message["type"] == "text" and not 1 <= len(str(message.get("text", ""))) <= MAX_TEXT:
            self._fail(where, f"messages.text: must be 1 to {MAX_TEXT} characters")
        if message["type"] == "flex" and not message.get("altText"):
            self._fail(where, "messages.altText: a flex message needs altText")
        if "quickReply" in message:
            try:
                labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
            except (KeyError, TypeError):
                labels = []
            if not 1 <= len(labels) <= MAX_QUICK_REPLIES or not all(map(_label_ok, labels)):
                self._fail(where, f"messages.quickReply: 'menu', or 1 to {MAX_QUICK_REPLIES} items "
                                  f"with labels of at most {MAX_LABEL} characters")
        return message

    def _fill(self, where: str, value: Any) -> Any:
        """Replace ``{name}``-style placeholders with the ``hospital`` values."""
        if isinstance(value, dict):
            return {k: self._fill(where, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._fill(where, v) for v in value]
        if not isinstance(value, str):
            return value

        def lookup(found: re.Match) -> Any:
            if found.group(1) not in self.hospital:
                self._fail(where, f"messages: unknown placeholder {found.group(0)} (add it under hospital)")
            return self.hospital[found.group(1)]

        whole = _PLACEHOLDER.fullmatch(value)  # alone, a value keeps its type: latitude stays a number
        return lookup(whole) if whole else _PLACEHOLDER.sub(lambda found: str(lookup(found)), value)
