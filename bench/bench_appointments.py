"""Benchmark: a 10,000-row appointment CSV, validated and enqueued, against baselines in the same run.

    .venv/bin/python bench/bench_appointments.py [--rows 10000]

1. Validation (``flask moph push`` reads and checks every row first): target < 2 s.
   Baseline: a bare ``csv.DictReader`` read of the same file.
2. Enqueueing (dedup claims, latest state, one send-now job per notice, reminders
   scheduled with RQ's scheduler): target < 10 s. Baselines: RQ enqueueing the same
   number of no-op jobs one by one, and in one pipeline (``Queue.enqueue_many``).

Runs against an embedded Redis in a temporary folder (stopped at the end); nothing
is sent anywhere. The CIDs are made up (checksum-valid). This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.embedded_redis import EmbeddedRedis  # noqa: E402

VALIDATE_TARGET = 2.0
ENQUEUE_TARGET = 10.0


def made_up_cid(n: int) -> str:
    first12 = f"19{n:010d}"
    total = sum(int(first12[i]) * (13 - i) for i in range(12))
    return first12 + str((11 - total % 11) % 10)


def write_csv(path: Path, rows: int) -> None:
    start = dt.date.today() + dt.timedelta(days=3)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["appointment_id", "cid", "date", "time", "clinic", "doctor", "location", "note",
                         "status"])
        for n in range(rows):
            writer.writerow([f"B-{n:06d}", made_up_cid(n), (start + dt.timedelta(days=n % 60)).isoformat(),
                             f"{8 + n % 8:02d}:{(n * 5) % 60:02d}", "คลินิกอายุรกรรม", "นพ. สมมติ ทดสอบ",
                             "อาคารผู้ป่วยนอก ชั้น 2", "งดน้ำงดอาหารหลังเที่ยงคืน", "booked"])


def timed(func):
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()

    import redis

    from handlers.moph_cli import validate_csv
    from workers.appointments.notices import AppointmentNotices
    from workers.queues import BULK_QUEUE, get_queue

    with tempfile.TemporaryDirectory() as var:
        source = Path(var) / "appointments.csv"
        write_csv(source, args.rows)
        embedded = EmbeddedRedis(Path(var) / "var")
        embedded.ensure()
        try:
            connection = redis.Redis.from_url(embedded.url)
            print(f"machine: {os.cpu_count()} cores; {args.rows} rows, {source.stat().st_size / 1e6:.1f} MB CSV")

            # --- 1. validation ---------------------------------------------------
            def bare_read():
                with open(source, newline="", encoding="utf-8") as file:
                    return list(csv.DictReader(file))
            bare_seconds, _ = timed(bare_read)
            validate_seconds, rows = timed(lambda: validate_csv(source))
            good = [row.appointment for row in rows if row.appointment is not None]
            assert len(good) == args.rows, "every generated row should be valid"
            print("\nvalidation                     seconds   rows/s")
            print(f"  csv.DictReader (baseline)  {bare_seconds:>9.3f} {args.rows / bare_seconds:>8.0f}")
            print(f"  validate_csv               {validate_seconds:>9.3f} {args.rows / validate_seconds:>8.0f}")
            print(f"  = {validate_seconds / bare_seconds:.1f}x the bare read; "
                  f"{validate_seconds / VALIDATE_TARGET:.0%} of the {VALIDATE_TARGET:.0f} s target")

            # --- 2. enqueueing ---------------------------------------------------
            queue = get_queue(connection, BULK_QUEUE)
            connection.flushdb()
            one_by_one, _ = timed(lambda: [queue.enqueue("os.getpid", description="noop")
                                           for _ in range(args.rows)])
            connection.flushdb()
            pipelined, _ = timed(lambda: queue.enqueue_many(
                [queue.prepare_data("os.getpid", description="noop") for _ in range(args.rows)]))
            connection.flushdb()
            notices = AppointmentNotices(connection, key=b"bench-naming-key", reminder_schedule="1d@09:00",
                                         prefix="")
            submit_seconds, results = timed(lambda: notices.submit(good, queue=BULK_QUEUE))
            queued = sum(1 for r in results if r.status == "queued")
            reminders = sum(len(r.reminders) for r in results)
            again_seconds, again = timed(lambda: notices.submit(good, queue=BULK_QUEUE))
            duplicates = sum(1 for r in again if r.status == "skipped-duplicate")

            print("\nenqueueing                     seconds    jobs/s")
            print(f"  RQ no-op, one by one       {one_by_one:>9.3f} {args.rows / one_by_one:>9.0f}")
            print(f"  RQ no-op, enqueue_many     {pipelined:>9.3f} {args.rows / pipelined:>9.0f}")
            print(f"  submit ({queued} notices + {reminders} reminders) {submit_seconds:>6.3f} "
                  f"{(queued + reminders) / submit_seconds:>9.0f}")
            print(f"  submit again ({duplicates} duplicates) {again_seconds:>9.3f}")
            print(f"  = {submit_seconds / one_by_one:.2f}x RQ one-by-one, {submit_seconds / pipelined:.2f}x "
                  f"enqueue_many; {submit_seconds / ENQUEUE_TARGET:.0%} of the {ENQUEUE_TARGET:.0f} s target")
            connection.close()
        finally:
            embedded.stop()


if __name__ == "__main__":
    main()
