"""Measuring how well the bot understands patients, on a labelled set of messages.

Pure: a set of examples and a function from a message to the topic it got (and, for an
emergency, its kind); the staff command ``flask bot eval FILE`` and the test suite both run
it on the shipped sets (``bot/data/eval/``). Emergencies are held to a stricter bar than the
rest: a missed emergency fails the run whatever the overall accuracy. Besides accuracy per
topic the report counts recall per emergency kind, false alarms (a non-emergency sent to
1669), off-topic messages given a topic, and accuracy per category (an example's ``tags``:
isan, romanised, near_miss, …).

The labelled corpus (``bot/data/eval/corpus/*.yaml``) is split into train and test by a hash
of each text (``split``), so a phrasing stays on its side whatever is added to the files.
"""

from __future__ import annotations

import csv
import hashlib
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
    kind: str = ""                 # an emergency's kind: medical, self_harm, violence, poisoning
    tags: tuple[str, ...] = ()     # categories: thai, isan, romanised, near_miss, ...


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    per_topic: dict[str, list[int]] = field(default_factory=dict)   # topic -> [correct, total]
    confusion: Counter = field(default_factory=Counter)             # (expected, got) -> count, misses only
    misses: list[tuple[Example, str]] = field(default_factory=list)
    seconds: float = 0.0
    per_kind: dict[str, list[int]] = field(default_factory=dict)    # kind -> [recognised, right kind, total]
    per_tag: dict[str, list[int]] = field(default_factory=dict)     # tag -> [correct, total]
    false_alarms: list[Example] = field(default_factory=list)       # not an emergency, answered as one
    off_topic_answered: list[Example] = field(default_factory=list)  # none, given a topic answer

    @property
    def non_emergencies(self) -> int:
        return self.total - self.per_topic.get(EMERGENCY, [0, 0])[1]

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
    result = [Example(str(text).strip(), topic_of(topic), *extra) for text, topic, *extra in examples
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
            tags = item.get("tags") or []
            yield item["text"], item["topic"], str(item.get("kind") or ""), tuple(
                str(t) for t in (tags if isinstance(tags, list) else [tags]))
    else:
        raise EvaluationError(f"{path}: must map topics to messages, or list {{text, topic}} examples")


def split(examples: Iterable[Example], test_share: float = 0.3) -> tuple[list[Example], list[Example]]:
    """(train, test): each example's side is fixed by a hash of its text, not by its place in a file."""
    train, test = [], []
    for example in examples:
        digest = hashlib.sha1(example.text.encode("utf-8")).digest()
        (test if digest[0] < 256 * test_share else train).append(example)
    return train, test


def load_corpus(folder: str | Path) -> list[Example]:
    """Every example of every YAML file in ``folder``, in file order."""
    paths = sorted(Path(folder).glob("*.yaml"))
    if not paths:
        raise EvaluationError(f"{folder}: no YAML files")
    return [example for path in paths for example in load_examples(path)]


def evaluate(examples: Iterable[Example], predict: Callable[[str], str | tuple[str, str]]) -> Report:
    """Run ``predict`` (message -> topic id, ``unknown`` for none; or (topic, emergency kind)) on every example."""
    report = Report()
    for example in examples:
        started = time.perf_counter()
        answer = predict(example.text)
        report.seconds += time.perf_counter() - started
        got, kind = (answer if isinstance(answer, tuple) else (answer, ""))
        got = topic_of(got)
        counts = report.per_topic.setdefault(example.topic, [0, 0])
        counts[1] += 1
        report.total += 1
        right = got == example.topic
        if right:
            counts[0] += 1
            report.correct += 1
        else:
            report.confusion[(example.topic, got)] += 1
            report.misses.append((example, got))
        if example.topic == EMERGENCY:
            kinds = report.per_kind.setdefault(example.kind or "?", [0, 0, 0])
            kinds[0] += right
            kinds[1] += right and (not example.kind or kind == example.kind)
            kinds[2] += 1
        elif got == EMERGENCY:
            report.false_alarms.append(example)
        if example.topic == NONE and got != NONE:
            report.off_topic_answered.append(example)
        for tag in example.tags:
            tags = report.per_tag.setdefault(tag, [0, 0])
            tags[0] += right
            tags[1] += 1
    return report


def format_summary(report: Report) -> str:
    """The figures that matter for safety and for patients, in a few lines."""
    lines = ["emergency recall per kind (recognised, right kind / total):"]
    for kind, (found, right_kind, total) in sorted(report.per_kind.items()):
        lines.append(f"  {kind:<14} {found:>4}/{total:<4} {100 * found / total:6.1f}%   right kind {right_kind}/{total}")
    non = report.non_emergencies
    none_total = report.per_topic.get(NONE, [0, 0])[1]
    lines.append(f"false alarms: {len(report.false_alarms)} of {non} non-emergencies "
                 f"({100 * len(report.false_alarms) / non if non else 0:.1f}%)")
    lines.append(f"off-topic given a topic: {len(report.off_topic_answered)} of {none_total} "
                 f"({100 * len(report.off_topic_answered) / none_total if none_total else 0:.1f}%)")
    if report.per_tag:
        lines.append("accuracy per category:")
        for tag, (right, total) in sorted(report.per_tag.items()):
            lines.append(f"  {tag:<14} {right:>4}/{total:<4} {100 * right / total:6.1f}%")
    return "\n".join(lines)


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
            lines.append(f"  [{example.topic}{'/' + example.kind if example.kind else ''} -> {got}] {example.text}")
    if report.per_kind or report.per_tag:
        lines.append(format_summary(report))
    verdict = "PASS" if report.passed(min_accuracy, min_emergency_recall) else "FAIL"
    lines.append(f"emergency recall {100 * report.emergency_recall:.1f}% (needs {100 * min_emergency_recall:.0f}%), "
                 f"accuracy {100 * report.accuracy:.1f}% (needs {100 * min_accuracy:.0f}%), "
                 f"{report.ms_per_message:.2f} ms per message: {verdict}")
    return "\n".join(lines)
