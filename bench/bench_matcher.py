"""Benchmark: how fast the bot understands a message, and how well, on the shipped evaluation sets.

    .venv/bin/python bench/bench_matcher.py [--rounds 5]

Prints, per evaluation set (``bot/data/eval/*.yaml``), the accuracy and emergency
recall of ``Dialog.on_text`` (emergency detector, then the lexical matcher) and the
median milliseconds per message over ``--rounds`` passes, with the emergency
detector's and the newmm segmenter's shares. One process, one core; no network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.dialog import Dialog  # noqa: E402
from bot.emergency import detect  # noqa: E402
from bot.evaluation import evaluate, load_examples  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.text import words  # noqa: E402

EVAL_DIR = Path(__file__).resolve().parents[1] / "bot" / "data" / "eval"


def ms_per_message(function, texts: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            function(text)
        times.append((time.perf_counter() - started) / len(texts))
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    dialog = Dialog(KnowledgeBase.load())
    dialog.on_text("สวัสดี")  # loads the segmenter's dictionary
    print(f"knowledge base and segmenter loaded in {time.perf_counter() - started:.2f} s")
    for path in sorted(EVAL_DIR.glob("*.yaml")):
        examples = load_examples(path)
        texts = [e.text for e in examples]
        report = evaluate(examples, lambda text: dialog.on_text(text).intent)
        print(f"{path.name}: {len(texts)} messages, accuracy {100 * report.accuracy:.1f}%, "
              f"emergency recall {100 * report.emergency_recall:.1f}%")
        print(f"  on_text {ms_per_message(dialog.on_text, texts, args.rounds):.3f} ms/message "
              f"(emergency detector {ms_per_message(detect, texts, args.rounds):.3f}, "
              f"newmm words {ms_per_message(words, texts, args.rounds):.3f})")


if __name__ == "__main__":
    main()
