"""Measuring how well the bot understands patients, on a labelled set of messages.

Pure: a set of examples and a function from a message to the topic it got; the
staff command ``flask bot eval FILE`` and the test suite both run it on the
shipped held-out set (``bot/data/eval/heldout.yaml``). Emergencies are held to a
stricter bar than the rest: a missed emergency fails the run whatever the
overall accuracy.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import yaml

NONE = "none"            # an off-topic message: no topic answer expected
EMERGENCY = "emergency"
NO_TOPIC = {"none", "unknown", ""}
MIN_ACCURACY = 0.95
MIN_EMERGENCY_RECALL = 1.0


class EvaluationError(ValueError):
    """The examples file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Example:
    text: str
    topic: str   # the expected topic id, or NONE


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    per_topic: dict[str, list[int]] = field(default_factory=dict)   # topic -> [correct, total]
    confusion: Counter = field(default_factory=Counter)             # (expected, got) -> count, misses only
    misses: list[tuple[Example, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def emergency_recall(self) -> float:
        right, total = self.per_topic.get(EMERGENCY, [0, 0])
        return right / total if total else 1.0

    @property
    def ms_per_message(self) -> float:
        return 1000 * self.seconds / self.total if self.total else 0.0

    def passed(self, min_accuracy: float = MIN_ACCURACY, min_emergency_recall: float = MIN_EMERGENCY_RECALL) -> bool:
        return self.accuracy >= min_accuracy and self.emergency_recall >= min_emergency_recall


def topic_of(label: object) -> str:
    """A label as the evaluation compares it: off-topic spellings become ``none``."""
    value = str(label if label is not None else "").strip().lower()
    return NONE if value in NO_TOPIC else value


def load_examples(path: str | Path) -> list[Example]:
    """Examples from YAML (``topic: [messages]``, or a list of ``{text, topic}``) or CSV (``text,topic``)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(raw.splitlines()))
        if rows and not {"text", "topic"} <= set(rows[0]):
            raise EvaluationError(f"{path}: the CSV needs the columns text and topic")
        examples = [(row.get("text"), row.get("topic")) for row in rows]
    else:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise EvaluationError(f"{path}: not valid YAML: {exc}") from None
        examples = list(_yaml_pairs(path, data))
    result = [Example(str(text).strip(), topic_of(topic)) for text, topic in examples
              if text is not None and str(text).strip()]
    if not result:
        raise EvaluationError(f"{path}: no examples")
    return result


def _yaml_pairs(path: Path, data: object) -> Iterable[tuple[object, object]]:
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if isinstance(data, dict):
        for topic, texts in data.items():
            if not isinstance(texts, list):
                raise EvaluationError(f"{path}: {topic}: must be a list of messages")
            yield from ((text, topic) for text in texts)
    elif isinstance(data, list):
        for number, item in enumerate(data, 1):
            if not isinstance(item, dict) or "text" not in item or "topic" not in item:
                raise EvaluationError(f"{path}: example #{number}: needs text and topic")
            yield item["text"], item["topic"]
    else:
        raise EvaluationError(f"{path}: must map topics to messages, or list {{text, topic}} examples")


def evaluate(examples: Iterable[Example], predict: Callable[[str], str]) -> Report:
    """Run ``predict`` (message -> topic id, ``unknown`` for none) on every example."""
    report = Report()
    for example in examples:
        started = time.perf_counter()
        got = topic_of(predict(example.text))
        report.seconds += time.perf_counter() - started
        counts = report.per_topic.setdefault(example.topic, [0, 0])
        counts[1] += 1
        report.total += 1
        if got == example.topic:
            counts[0] += 1
            report.correct += 1
        else:
            report.confusion[(example.topic, got)] += 1
            report.misses.append((example, got))
    return report


def format_report(report: Report, min_accuracy: float = MIN_ACCURACY,
                  min_emergency_recall: float = MIN_EMERGENCY_RECALL) -> str:
    """Accuracy per topic, the confusion between topics, every miss, and the verdict."""
    lines = ["accuracy per topic:"]
    for topic, (right, total) in sorted(report.per_topic.items()):
        lines.append(f"  {topic:<14} {right:>4}/{total:<4} {100 * right / total:6.1f}%")
    lines.append(f"  {'overall':<14} {report.correct:>4}/{report.total:<4} {100 * report.accuracy:6.1f}%")
    if report.confusion:
        lines.append("confusion (expected -> answered: count):")
        for (expected, got), count in report.confusion.most_common():
            lines.append(f"  {expected} -> {got}: {count}")
        lines.append("misses:")
        for example, got in report.misses:
            lines.append(f"  [{example.topic} -> {got}] {example.text}")
    verdict = "PASS" if report.passed(min_accuracy, min_emergency_recall) else "FAIL"
    lines.append(f"emergency recall {100 * report.emergency_recall:.1f}% (needs {100 * min_emergency_recall:.0f}%), "
                 f"accuracy {100 * report.accuracy:.1f}% (needs {100 * min_accuracy:.0f}%), "
                 f"{report.ms_per_message:.2f} ms per message: {verdict}")
    return "\n".join(lines)
