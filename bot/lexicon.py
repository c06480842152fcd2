"""Reading regional Thai, romanised Thai and untoned Thai as central Thai.

The knowledge base and the emergency check are written in central Thai, so ``Lexicon.to_central``
rewrites a message into it first, whole word by whole word, from data (``bot/data/lexicon.yaml``). How it
cuts words, which words count only at a sentence's end, and its cost: docs/architecture.md,
"Regional, romanised and untoned Thai". Call ``to_central`` once at start-up (it builds a dictionary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, NoReturn

import yaml

from bot import strict_yaml
from bot.text import normalize, thai_words  # bot.text makes pythainlp read-only before importing it

# isort: split
from pythainlp.tokenize.newmm import segment
from pythainlp.util import Trie

DEFAULT_FILE = Path(__file__).parent / "data" / "lexicon.yaml"
DIALECTS = ("isan", "northern", "southern")
THAI_TABLES = DIALECTS + ("spellings",)       # Thai word -> central Thai word
TABLES = THAI_TABLES + ("romanised",)          # romanised word(s) -> Thai word
LISTS = ("at_end_only", "keep", "english")     # lists of words
SECTIONS = TABLES + LISTS
MAX_ROMANISED_WORDS = 4                        # longest romanised entry, in words ("mai pen rai")
MAX_CHARS = 2000                               # more than any message; keeps a pasted essay cheap

# Words that may follow a sentence's last word: "ไปก่อเจ้า" is "ไปไหมคะ".
PARTICLES = frozenset((
    "ค่ะ", "คะ", "ค่า", "ครับ", "คับ", "ฮะ", "นะ", "น้า", "นะคะ", "นะครับ", "จ้า", "จ้ะ", "จ๊ะ", "จ่ะ", "ล่ะ", "หละ",
    "เนาะ", "เนอะ", "ไหม", "มั้ย", "นี่", "หนิ", "แหละ", "เลย", "สิ", "ซิ", "เด้อ", "เด้", "เน่อ", "เน้อ", "เจ้า", "ก่อ",
))
NEGATION, QUESTION = "ไม่", "ไหม"  # บ่ / หม้าย / mai end a yes-no question: ไปบ่ is ไปไหม

_LATIN_LETTER = re.compile(r"[a-z]")
_THAI_WORD = re.compile(r"[\u0e01-\u0e4e]+")
_THAI_PHRASE = re.compile(r"[\u0e01-\u0e4e]+(?: [\u0e01-\u0e4e]+)*")
_LATIN_WORD = re.compile(r"[a-z]+")
_LATIN_WORDS = re.compile(r"[a-z]+(?: [a-z]+)*")
# A run of Latin words, with the numbers among them: "nad mor 10 mong".
_LATIN_RUN = re.compile(r"(?<![a-z0-9])[a-z]+(?:\s+(?:[a-z]+|[0-9]+)(?![a-z0-9]))*(?![a-z0-9])")


class LexiconError(ValueError):
    """The lexicon file is malformed; the message names file, section and entry."""


@dataclass(frozen=True)
class _Piece:
    """One word of a Latin run: its Thai reading (None if it has none) and how sure that reading is."""

    text: str
    thai: str | None
    kind: str  # "romanised", "ambiguous" (also an English word), "other" (not in the table), "number"


@lru_cache(maxsize=4)
def _dictionary(extra_words: frozenset[str]) -> Trie:
    """The segmenter's dictionary plus the lexicon's words, built once (about 0.4 s)."""
    return Trie(set(thai_words()) | extra_words)


class Lexicon:
    """Regional, romanised and misspelt words, and how to read a message with them as central Thai."""

    def __init__(self, data: Any, source: str = "<lexicon>"):
        self.source = source
        if not isinstance(data, dict) or not data:
            self._fail("top level", f"must be a mapping with sections {', '.join(SECTIONS)}")
        for section in data:
            if section not in SECTIONS:
                self._fail(f"section {section!r}", f"unknown section (known: {', '.join(SECTIONS)})")
        self.tables: dict[str, dict[str, str]] = {}
        for section in THAI_TABLES:
            self.tables[section] = self._table(section, data.get(section), _THAI_WORD, "Thai letters")
        self.tables["romanised"] = self._table("romanised", data.get("romanised"), _LATIN_WORDS,
                                               "Latin letters")
        self.lists: dict[str, tuple[str, ...]] = {
            section: self._list(section, data.get(section)) for section in LISTS}
        self._thai = self._merge_thai()
        self._check_lists()
        self._at_end_only = frozenset(self.lists["at_end_only"])
        self._particles = PARTICLES | {word for word, central in self._thai.items() if central in PARTICLES}
        self._romanised = {tuple(key.split()): thai for key, thai in self.tables["romanised"].items()}
        self._english = frozenset(self.lists["english"])
        self._words = frozenset(self._thai) | frozenset(self.lists["keep"])

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        """Read a lexicon YAML file; ``None`` = the shipped default."""
        path = Path(path) if path else DEFAULT_FILE
        try:
            data = strict_yaml.load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LexiconError(f"{path}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise LexiconError(f"{path}: not valid YAML: {exc}") from None
        return cls(data, source=str(path))

    def merge(self, other: Lexicon) -> Lexicon:
        """This lexicon with ``other``'s entries added (a hospital's words over the shipped ones).

        Where both have a word, ``other``'s wins, whatever its section: a word ``other``
        reads differently, or keeps as it is, leaves this lexicon's tables."""
        theirs = {word for section in THAI_TABLES for word in other.tables[section]} | set(other.lists["keep"])
        data: dict[str, Any] = {}
        for section in THAI_TABLES:
            mine = {word: central for word, central in self.tables[section].items() if word not in theirs}
            data[section] = {**mine, **other.tables[section]}
        data["romanised"] = {**self.tables["romanised"], **other.tables["romanised"]}
        replaced = {word for section in THAI_TABLES for word in data[section]}
        for section in LISTS:
            words = self.lists[section] + other.lists[section]
            if section == "keep":
                words = tuple(w for w in words if w not in replaced)
            elif section == "at_end_only":
                words = tuple(w for w in words if w in replaced)
            data[section] = list(dict.fromkeys(words))
        return Lexicon(data, source=f"{self.source} + {other.source}")

    def _fail(self, where: str, problem: str) -> NoReturn:
        raise LexiconError(f"{self.source}: {where}: {problem}")

    def _table(self, section: str, raw: Any, key_form: re.Pattern, letters: str) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self._fail(f"section {section!r}", "must be a mapping of word: central Thai word")
        for word in strict_yaml.duplicates(raw):
            self._fail(f"{section} {word!r}", "written twice (keep one)")
        table: dict[str, str] = {}
        for word, central in raw.items():
            where = f"{section} {word!r}"
            if not isinstance(word, str):
                self._fail(where, "the word must be text (put it in quotes)")
            key = normalize(word)
            if not key_form.fullmatch(key):
                self._fail(where, f"the word must be written in {letters} only"
                           + (" without spaces" if key_form is _THAI_WORD else ""))
            if not isinstance(central, str) or not _THAI_PHRASE.fullmatch(central.strip()):
                self._fail(where, "the reading must be Thai text")
            central = central.strip()
            if key == central:
                self._fail(where, "reads as itself (remove it)")
            if key in table:
                self._fail(where, f"written twice (also as {next(w for w in raw if normalize(str(w)) == key)!r})")
            table[key] = central
        return table

    def _list(self, section: str, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self._fail(f"section {section!r}", "must be a list of words")
        form = _LATIN_WORD if section == "english" else _THAI_WORD
        words = []
        for word in raw:
            if not isinstance(word, str) or not form.fullmatch(normalize(word)):
                self._fail(f"{section} {word!r}", "must be one word in "
                           + ("Latin letters" if form is _LATIN_WORD else "Thai letters"))
            words.append(normalize(word))
        return tuple(dict.fromkeys(words))

    def _merge_thai(self) -> dict[str, str]:
        """All Thai tables as one; a word may not mean two things in two sections."""
        merged: dict[str, str] = {}
        found_in: dict[str, str] = {}
        for section in THAI_TABLES:
            for word, central in self.tables[section].items():
                if word in merged and merged[word] != central:
                    self._fail(f"{section} {word!r}", f"reads as {central!r} here but as {merged[word]!r} "
                               f"in {found_in[word]} (every message is read with all sections: keep one)")
                merged[word], found_in[word] = central, found_in.get(word, section)
        return merged

    def _check_lists(self) -> None:
        for word in self.lists["at_end_only"]:
            if word not in self._thai:
                self._fail(f"at_end_only {word!r}", "is not a word of isan, northern, southern or spellings")
        for word in self.lists["keep"]:
            if word in self._thai:
                self._fail(f"keep {word!r}", "is also a word to replace (remove one of them)")

    # -- reading ------------------------------------------------------------------------------
    def entries(self, section: str) -> dict[str, str]:
        """One table's entries (normalised word -> reading), e.g. to count or list them."""
        return dict(self.tables[section])

    def to_central(self, text: str) -> str:
        """``text`` (already ``bot.text.normalize``d) with its regional, romanised and misspelt words in
        central Thai. Text with none of them, English included, comes back unchanged."""
        text, rest = text[:MAX_CHARS], text[MAX_CHARS:]  # the rest of a pasted essay as it is
        if _THAI_WORD.search(text):
            text = _THAI_WORD.sub(self._thai_run, text)
        if _LATIN_LETTER.search(text):
            text = _LATIN_RUN.sub(self._latin_run, text)
        return text + rest

    @cached_property
    def _dictionary(self) -> Trie:
        # Held here, not only in the shared cache: a worker serving many hospitals with their own
        # lexicons would otherwise rebuild one (0.4 s) whenever another was used in between.
        return _dictionary(self._words)

    def _thai_run(self, match: re.Match) -> str:
        """One run of Thai letters (between spaces, digits or Latin) in central Thai."""
        run = match.group(0)
        tokens = segment(run, custom_dict=self._dictionary)
        out = []
        for i, token in enumerate(tokens):
            central = self._thai.get(token)
            if central is not None:
                ends = all(t in self._particles for t in tokens[i + 1:])
                if token in self._at_end_only and not ends:
                    central = None
                elif central == NEGATION and ends and i > 0 and tokens[i - 1] not in self._particles:
                    central = QUESTION  # ไปบ่ / ไปหม้าย: "go or not?"
            out.append(token if central is None else central)
        return "".join(out)

    def _latin_run(self, match: re.Match) -> str:
        """A run of Latin words rewritten in Thai if it is romanised Thai; otherwise as it was."""
        run = match.group(0)
        pieces = self._read_latin(run.split())
        counts = {"romanised": 0, "ambiguous": 0, "other": 0, "number": 0}
        for piece in pieces:
            counts[piece.kind] += len(piece.text.split())
        # Romanised Thai: at least one word that only romanised Thai has, and more table words than others.
        if not counts["romanised"] or counts["romanised"] + counts["ambiguous"] <= counts["other"]:
            return run
        return _join(self._questions(pieces))

    def _read_latin(self, words: list[str]) -> list[_Piece]:
        """The reading with the fewest pieces, words no table has costing more: "kin ya kha malaeng"
        is กิน + ยาฆ่าแมลง, not กินยา + ค่ะ + แมลง as the longest entry first would read it."""
        n = len(words)
        best: list[tuple[float, list[_Piece]]] = [(0.0, [])] * (n + 1)
        for i in range(n - 1, -1, -1):
            if words[i].isdigit():
                options = [(1.0, _Piece(words[i], None, "number"), 1)]
            else:
                options = [(1.5, _Piece(words[i], None, "other"), 1)]
                for size in range(1, min(MAX_ROMANISED_WORDS, n - i) + 1):
                    key = tuple(words[i:i + size])
                    thai = self._romanised.get(key)
                    if thai is not None:
                        # One word that is also English ("pen", "mai") is romanised only among romanised
                        # words; several words together ("kin ya", "mai pen rai") are not English.
                        ambiguous = size == 1 and key[0] in self._english
                        options.append((1.0, _Piece(" ".join(key), thai, "ambiguous" if ambiguous else "romanised"),
                                        size))
            best[i] = min(((cost + best[i + size][0], [piece, *best[i + size][1]]) for cost, piece, size in options),
                          key=lambda option: option[0])
        return best[0][1]

    def _questions(self, pieces: list[_Piece]) -> list[_Piece]:
        """A romanised "mai" that ends a question after another word is ไหม: "jeb mai ka" is เจ็บไหมคะ."""
        out = list(pieces)
        for i, piece in enumerate(out):
            if piece.thai != NEGATION or i == 0 or out[i - 1].thai in (None, *self._particles):
                continue
            if all(p.thai in self._particles for p in out[i + 1:]):
                out[i] = _Piece(piece.text, QUESTION, piece.kind)
        return out


def _join(pieces: list[_Piece]) -> str:
    """Thai readings written together as Thai is; other words and numbers kept apart by spaces."""
    out: list[str] = []
    after_thai = False
    for piece in pieces:
        if out and not (after_thai and piece.thai is not None):
            out.append(" ")
        out.append(piece.text if piece.thai is None else piece.thai)
        after_thai = piece.thai is not None
    return "".join(out)
