"""Benchmark: how fast ``Lexicon.to_central`` reads a message as central Thai.

    .venv/bin/python bench/bench_lexicon.py [--rounds 5]

A mix of 500 normalised messages: 300 from the shipped evaluation sets (central Thai
and English, most of which hold no lexicon word) and 200 regional, romanised and
untoned ones (every one of which is rewritten). Prints the median microseconds per
message over ``--rounds`` passes, for the mix and for each part. One process, one
core; the segmenter's dictionary is built before timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from itertools import cycle, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.evaluation import load_examples
from bot.lexicon import Lexicon
from bot.text import normalize

EVAL_DIR = Path(__file__).resolve().parents[1] / "bot" / "data" / "eval"
REGIONAL = [
    "บ่มีแฮง ลุกบ่ได้ หายใจบ่อิ่ม", "แม่ใหญ่เจ็บหน้าอกหลาย เฮ็ดจั่งใด๋ดี", "มื้ออื่นไปโฮงบาลได้บ่", "ข่อยปวดแข่วคัก",
    "ลูกเป็นไข้ คิงฮ้อนหลาย ฮากนำ", "เว้านำหมอได้บ่", "โฮงหมอเปิดจักโมง", "พ่อใหญ่ล้มบ่ฮู้สึกโต ซอยแน",
    "แม่อุ้ยเจ็บต๊องนักเจ้า", "อู้กับหมอได้ก่อ", "ป้อบ่สบาย ต้องยะจะใด", "วันพูกไปโฮงยาได้ก่อเจ้า",
    "ละอ่อนไข้ขึ้นตั๋วฮ้อน", "หมอออกตรวจตี้ใดเจ้า", "ปี้สาวหายใจ๋บ่ออก", "กิ๋นยาแล้วบ่หาย",
    "ทำพรือดี แม่หม้ายหายใจ", "แหลงกับหมอได้หม้าย", "ลูกบ่าวขี้แตกแรง", "พ่อเฒ่าเจ็บเบ็ดหัว",
    "หนิหมอนัดกี่ตี", "แรกวาเสียดพุงทั้งคืน", "หม้ายหอนไปโรงบาลนี้", "งูขบตีนพี่บ่าว",
    "หายใจไมออก", "ปวดทองมากค่ะ", "เปนไขสูง 3 วัน", "โรงบานเปิดกีโมง", "ศรีษะแตกเลือกออก", "นัดหมอพรุงนี้ได้ไม",
    "chuay duay mae mai hai jai", "yak nad mor prung nee dai mai ka", "rong payaban perd kee mong",
    "jeb na-ok mak", "pen kai 3 wan laew kin ya mai hai", "hong nam yu tee nai krub", "luk pen kai sung chak",
    "ya mod yak rub ya tor", "mor fun wan nee mee mai ka", "sawasdee ka kob khun mak", "mae pen lom mai ru suek tua",
    "พรุ่งนี้ nad mor dai mai", "แม่ mai hai jai ช่วยด้วย",
]


def us_per_message(function, texts: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            function(text)
        times.append((time.perf_counter() - started) / len(texts))
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    lexicon = Lexicon.load()
    lexicon.to_central("บ่")  # builds the segmenter's dictionary
    print(f"lexicon and dictionary loaded in {time.perf_counter() - started:.2f} s")
    evaluation = [normalize(e.text) for path in sorted(EVAL_DIR.glob("*.yaml")) for e in load_examples(path)]
    central = list(islice(cycle(evaluation), 300))
    regional = list(islice(cycle(normalize(t) for t in REGIONAL), 200))
    mix = central + regional
    print(f"mix of {len(mix)} messages: {us_per_message(lexicon.to_central, mix, args.rounds):.0f} µs/message")
    print(f"  central Thai and English ({len(central)}): "
          f"{us_per_message(lexicon.to_central, central, args.rounds):.0f} µs/message")
    print(f"  regional, romanised, untoned ({len(regional)}): "
          f"{us_per_message(lexicon.to_central, regional, args.rounds):.0f} µs/message")


if __name__ == "__main__":
    main()
