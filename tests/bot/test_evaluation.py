"""The shipped evaluation sets hold the bar, and the evaluation itself counts right."""

from __future__ import annotations

import pytest

from bot.dialog import Dialog
from bot.evaluation import MIN_ACCURACY, EvaluationError, Example, evaluate, format_report, load_examples
from bot.knowledge import DEFAULT_FILE, KnowledgeBase

HELDOUT = DEFAULT_FILE.parent / "eval" / "heldout.yaml"
FRESH = DEFAULT_FILE.parent / "eval" / "fresh.yaml"
BLIND = DEFAULT_FILE.parent / "eval" / "blind.yaml"
BLIND2 = DEFAULT_FILE.parent / "eval" / "blind2.yaml"


@pytest.fixture(scope="module")
def dialog():
    return Dialog(KnowledgeBase.load())


def test_the_heldout_set_is_large_and_covers_every_topic_and_off_topic():
    examples = load_examples(HELDOUT)
    topics = {e.topic for e in examples}
    assert len(examples) >= 300
    assert {"emergency", "none", "hours", "location", "documents", "parking"} <= topics
    assert sum(e.topic == "emergency" for e in examples) >= 100


# Set phrases that any knowledge base lists, so a patient's whole message may be one of them.
SET_PHRASES = {"อาเจียนเป็นเลือด", "กินยาเกินขนาด", "ขอคุยกับคน", "good morning", "ฮัลโหล"}


def test_the_heldout_set_is_not_copied_into_the_knowledge_base():
    kb = KnowledgeBase.load()
    phrases = {p.casefold() for t in kb.topics for p in t.triggers + t.hints}
    copied = {e.text for e in load_examples(HELDOUT) if e.text.casefold() in phrases}
    assert copied <= SET_PHRASES


@pytest.mark.parametrize("path", [HELDOUT, FRESH, BLIND, BLIND2], ids=["heldout", "fresh", "blind", "blind2"])
def test_every_emergency_is_caught_and_accuracy_is_at_least_95_percent(dialog, path):
    report = evaluate(load_examples(path), lambda text: dialog.on_text(text).intent)
    misses = "\n".join(f"{e.topic} -> {got}: {e.text}" for e, got in report.misses)
    assert report.emergency_recall == 1.0, misses
    if path == HELDOUT:
        assert report.accuracy >= MIN_ACCURACY, misses
        assert report.passed()


def test_off_topic_messages_get_no_topic_answer(dialog):
    # The bar: at most 15% of off-topic messages given a topic answer.
    off_topic = [e.text for e in load_examples(HELDOUT) if e.topic == "none"]
    answered = [t for t in off_topic if dialog.on_text(t).intent != "unknown"]
    assert len(answered) <= 0.15 * len(off_topic), answered


def test_evaluate_counts_per_topic_confusion_and_misses():
    examples = [Example("a", "hours"), Example("b", "hours"), Example("c", "emergency"), Example("d", "none")]
    answers = {"a": "hours", "b": "parking", "c": "unknown", "d": "unknown"}
    report = evaluate(examples, answers.__getitem__)
    assert report.per_topic == {"hours": [1, 2], "emergency": [0, 1], "none": [1, 1]}
    assert report.accuracy == 0.5 and report.emergency_recall == 0.0 and not report.passed()
    assert report.confusion == {("hours", "parking"): 1, ("emergency", "none"): 1}
    text = format_report(report)
    assert "[hours -> parking] b" in text and "[emergency -> none] c" in text and text.endswith("FAIL")


def test_a_perfect_run_passes():
    report = evaluate([Example("x", "hours")], lambda text: "hours")
    assert report.passed() and format_report(report).endswith("PASS")


def test_examples_load_from_yaml_mapping_yaml_list_and_csv(tmp_path):
    (tmp_path / "a.yaml").write_text("hours: [เปิดกี่โมง]\nnone: [lol]\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("- {text: เปิดกี่โมง, topic: hours}\n- {text: lol, topic: unknown}\n",
                                     encoding="utf-8")
    (tmp_path / "c.csv").write_text("text,topic\nเปิดกี่โมง,hours\nlol,\n", encoding="utf-8")
    expected = [Example("เปิดกี่โมง", "hours"), Example("lol", "none")]
    for name in ("a.yaml", "b.yaml", "c.csv"):
        assert load_examples(tmp_path / name) == expected


@pytest.mark.parametrize("name, content, problem", [
    ("x.yaml", "hours: [", "not valid YAML"),
    ("x.yaml", "[1, 2]", "needs text and topic"),
    ("x.yaml", "hours: lol", "must be a list"),
    ("x.yaml", "{}", "no examples"),
    ("x.csv", "message,label\nhi,greeting\n", "columns text and topic"),
])
def test_a_broken_examples_file_is_named_with_its_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationError, match=problem) as error:
        load_examples(path)
    assert name in str(error.value)


# -- the labelled corpus: train and test ------------------------------------------------------
CORPUS = DEFAULT_FILE.parent / "eval" / "corpus"


def test_the_corpus_is_large_covers_every_kind_and_keeps_train_and_test_apart():
    from bot.evaluation import load_corpus, split
    examples = load_corpus(CORPUS)
    train, test = split(examples)
    emergencies = [e for e in examples if e.topic == "emergency"]
    assert len(examples) >= 1500 and len(emergencies) >= 300
    assert {e.kind for e in emergencies} == {"medical", "self_harm", "violence", "poisoning"}
    assert sum("near_miss" in e.tags for e in examples) >= 200
    assert {"isan", "northern", "southern", "romanised", "no_tone", "english", "mixed"} <= {
        t for e in examples for t in e.tags}
    assert not {e.text for e in train} & {e.text for e in test} and len(test) >= 0.2 * len(examples)


@pytest.mark.parametrize("learned", [True, False], ids=["learned", "triggers only"])
def test_every_emergency_of_the_test_split_is_caught_with_few_false_alarms(learned):
    from bot.evaluation import load_corpus, split
    dialog = Dialog(KnowledgeBase.load(), learned=learned)
    _, test = split(load_corpus(CORPUS))
    report = evaluate(test, lambda text: (lambda reply: (reply.intent, reply.kind))(dialog.on_text(text)))
    missed = [e.text for e, _ in report.misses if e.topic == "emergency"]
    assert report.emergency_recall == 1.0, missed
    assert len(report.false_alarms) <= 0.03 * report.non_emergencies, [e.text for e in report.false_alarms]
    assert len(report.off_topic_answered) <= 0.15 * report.per_topic["none"][1]
    assert report.accuracy >= (0.88 if learned else 0.78)
