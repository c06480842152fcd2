"""Where a notice or an announcement chunk stands (``appt:status:<id>``), shared by notices,
announcements, the CLI and the HIS API. Records expire; error texts never hold a CID."""

from __future__ import annotations

import datetime as dt
import json
import re
from enum import StrEnum
from typing import Any, Sequence

from bot.privacy import mask

#: A notice is never sent twice within this time; longer than any booking horizon.
DEDUP_SECONDS = 400 * 24 * 3600
STATUS_SECONDS = 30 * 24 * 3600



class NoticeStatus(StrEnum):
    """Where a notice or an announcement chunk stands (``appt:status:<id>``)."""

    QUEUED = "queued"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"            # MOPH may have pushed it: check หมอพร้อม before sending it again
    SKIPPED_DUPLICATE = "skipped-duplicate"
    SKIPPED_SUPERSEDED = "skipped-superseded"
    SKIPPED_CANCELLED = "skipped-cancelled"
    SKIPPED_MOVED = "skipped-moved"
    SKIPPED_PAST = "skipped-past"


PENDING = frozenset({NoticeStatus.QUEUED, NoticeStatus.RETRYING})
UNCERTAIN = NoticeStatus.UNCERTAIN
UNCERTAIN_TEXT = ("no answer from MOPH after the request may have reached it; not sent again. "
                  "Check หมอพร้อม before sending it again.")
_CID_LIKE = re.compile(r"\d{13}")


def error_text(exc: BaseException) -> str:
    """An error for statuses and result files: short, and with any 13-digit run masked."""
    text = str(exc) or type(exc).__name__
    return _CID_LIKE.sub(lambda m: mask(m.group()), text)[:300]


def status_key(notice_id: str, prefix: str = "") -> str:
    """Where the hospital's (``prefix``) notice ``notice_id`` stands."""
    return f"{prefix}appt:status:{notice_id}"


def read_statuses(redis, keys: Sequence[str]) -> list[dict | None]:
    """The status records under ``keys`` (None where there is none), a few round trips for many."""
    found: list[dict | None] = []
    for start in range(0, len(keys), 5000):
        found += [json.loads(raw) if raw else None for raw in redis.mget(keys[start:start + 5000])]
    return found


def write_status(redis, key: str, status: str, error: str | None = None, **fields: Any) -> None:
    """Record where a notice or chunk stands (``redis`` may be a pipeline)."""
    record = {"status": status, "error": error, **fields,
              "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    redis.set(key, json.dumps(record, ensure_ascii=False), ex=STATUS_SECONDS)
