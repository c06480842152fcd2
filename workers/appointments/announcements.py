"""One message to many citizen IDs (campaigns such as vaccination days) through MOPH Alert.

Each chunk of CIDs is one job on the ``bulk`` queue: upload the CIDs
(``upload-data-json``, or ``upload-data`` when the list came as a CSV), then
``upload-message`` with the file id; MOPH delivers 3-10 minutes later.

A chunk is named by an HMAC (``naming_key``) of its CIDs and the message, so
announcing the same list twice sends nothing new. Its CIDs wait in Redis
(``announce:cids:<chunk id>``), not in the job's arguments (RQ logs those). The
claim and the job are written in one transaction. ``upload-message`` is taken
(``announce:sending:<chunk id>``) before the call and never repeated after a
request that got no answer: the chunk is then ``uncertain`` (check หมอพร้อม). Every key, the
queue and the job ids start with the hospital's prefix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from linebot.v3.messaging import Message
from redis.exceptions import WatchError

from bot.appointments import is_valid_cid, keyed_digest
from bot.privacy import mask
from bot.settings import SettingsError
from integrations.errors import ProviderError
from integrations.moph import MophDeliveryUnknown
from workers import job_names
from workers.appointments.status import DEDUP_SECONDS, UNCERTAIN, UNCERTAIN_TEXT, error_text, write_status
from workers.queues import BULK_QUEUE, get_queue, prepare

MAX_MESSAGES = 5
DEFAULT_CHUNK_SIZE = 10_000
#: A job uploads and sends one chunk; 10,000 CIDs is a ~150 kB body.
CHUNK_TIMEOUT = 300
FILE_ID_SECONDS = 24 * 3600
#: How long a chunk's CIDs wait for their job (retries end within ~20 minutes); deleted once sent.
CHUNK_DATA_SECONDS = 2 * 24 * 3600


class AnnouncementError(ValueError):
    """A CID file or message file that cannot be used (the text says why, never a full CID)."""


@dataclass
class CidList:
    """The usable CIDs of a file, in file order without repeats, and what was left out."""
    cids: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, masked value)
    repeated: int = 0
    from_csv: bool = False


def read_cids(path: str | Path) -> CidList:
    """Read one CID per line, or a CSV with a ``cid`` column; dashes and spaces are ignored."""
    text = Path(path).read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    header = [name.strip().lower() for name in next(csv.reader([first]), [])]
    result = CidList(from_csv="cid" in header)
    if result.from_csv:
        reader = csv.reader(io.StringIO(text))
        column = [name.strip().lower() for name in next(reader)].index("cid")
        values = ((reader.line_num, row[column] if column < len(row) else "") for row in reader)
    else:
        values = ((number, line) for number, line in enumerate(lines, start=1))
    seen: set[str] = set()
    for number, raw in values:
        cid = raw.strip().replace("-", "").replace(" ", "")
        if not cid:
            continue
        if not is_valid_cid(cid):
            result.invalid.append((number, mask(cid)))
        elif cid in seen:
            result.repeated += 1
        else:
            seen.add(cid)
            result.cids.append(cid)
    return result


def read_messages(path: str | Path) -> list[dict]:
    """Read a JSON file holding one LINE message object or a list of 1-5 of them."""
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise AnnouncementError(f"message file is not JSON: {exc}") from None
    return checked_messages(loaded)


def checked_messages(loaded: Any) -> list[dict]:
    """The messages as a list, each checked with the LINE SDK's model (as LINE would)."""
    messages = [loaded] if isinstance(loaded, dict) else loaded
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise AnnouncementError(f"give one LINE message object or a list of 1 to {MAX_MESSAGES}")
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise AnnouncementError(f"message {number} is not an object")
        try:
            Message.from_dict(message)
        except (ValueError, TypeError) as exc:
            first_line = str(exc).splitlines()[0][:200]
            raise AnnouncementError(f"message {number} is not a valid LINE message: {first_line}") from None
    return messages


def chunk_id(key: bytes, cids: Sequence[str], messages: Sequence[dict], upload: str) -> str:
    """Names one chunk: the same CIDs, message and upload form give the same id (keyed: CIDs go in)."""
    return keyed_digest(key, "announce", upload, ",".join(cids),
                        json.dumps(messages, sort_keys=True, ensure_ascii=False))


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    size: int
    status: str  # queued | skipped-duplicate


def enqueue_announcement(redis, key: bytes, cids: Sequence[str], messages: Sequence[dict], *,
                         chunk_size: int = DEFAULT_CHUNK_SIZE, upload: str = "json", prefix: str = "") -> list[Chunk]:
    """Queue one ``bulk`` job per chunk not announced before; return every chunk's fate.

    Claims, CIDs, statuses and jobs go in one transaction (WATCH on the claims), so a
    failure leaves no claim behind that would turn the next try into a "duplicate".
    """
    if upload not in ("json", "csv"):
        raise ValueError("upload must be 'json' or 'csv'")
    messages = checked_messages(list(messages))
    parts = [list(cids[i:i + chunk_size]) for i in range(0, len(cids), chunk_size)]
    idents = [chunk_id(key, part, messages, upload) for part in parts]
    with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                return _try_enqueue(pipe, redis, parts, idents, messages, upload, prefix)
            except WatchError:
                continue


def _try_enqueue(pipe, redis, parts, idents, messages, upload, prefix) -> list[Chunk]:
    claim_keys = [_key("claim", ident, prefix) for ident in idents]
    pipe.watch(*claim_keys)
    claimed = pipe.mget(claim_keys)
    pipe.multi()
    result, jobs, seen = [], [], set()
    for number, (part, ident, taken) in enumerate(zip(parts, idents, claimed), start=1):
        if taken or ident in seen:
            result.append(Chunk(ident, len(part), "skipped-duplicate"))
            continue
        seen.add(ident)
        pipe.set(_key("claim", ident, prefix), "1", ex=DEDUP_SECONDS)
        pipe.set(_key("cids", ident, prefix), ",".join(part), ex=CHUNK_DATA_SECONDS)
        write_status(pipe, status_key(ident, prefix), "queued", size=len(part))
        jobs.append(prepare(job_names.APPOINTMENT_SEND_ANNOUNCEMENT_CHUNK, ident, messages, upload, job_id=f"announce-{ident}",
                            description=f"moph announce chunk {number}/{len(parts)} ({len(part)} CIDs)",
                            timeout=CHUNK_TIMEOUT, prefix=prefix))
        result.append(Chunk(ident, len(part), "queued"))
    if jobs:
        get_queue(redis, BULK_QUEUE, prefix=prefix).enqueue_many(jobs, pipeline=pipe)
    pipe.execute()
    return result


def status_key(ident: str, prefix: str = "") -> str:
    return _key("status", ident, prefix)


def _key(what: str, ident: str, prefix: str) -> str:
    """The hospital's (``prefix``) key ``what`` (claim, cids, status, sending, sent, file) of chunk ``ident``."""
    return f"{prefix}announce:{what}:{ident}"


def cids_csv(cids: Sequence[str]) -> bytes:
    """The CSV that ``upload-data`` takes: a ``cid`` header, then one CID per line."""
    return ("cid\r\n" + "".join(f"{cid}\r\n" for cid in cids)).encode()


def deliver_chunk(redis, moph, ident: str, messages: Sequence[dict], upload: str = "json", *,
                  final_attempt: bool = True, prefix: str = "") -> str:
    """Upload one chunk's CIDs and send the message to them, at most once (jobs only).

    ``moph`` is a function returning the client (called only when there is work).
    """
    if redis.exists(_key("sent", ident, prefix)):
        return "sent"
    sending, file_key, cids_key = (_key(what, ident, prefix) for what in ("sending", "file", "cids"))
    status = status_key(ident, prefix)
    if not redis.set(sending, "1", nx=True, ex=DEDUP_SECONDS):
        # An earlier attempt called upload-message and never learnt the outcome.
        write_status(redis, status, UNCERTAIN, UNCERTAIN_TEXT)
        return UNCERTAIN
    raw = redis.get(cids_key)
    if raw is None:
        write_status(redis, status, "failed", "the chunk's CIDs are no longer stored; announce again")
        redis.delete(sending, _key("claim", ident, prefix))
        return "failed"
    cids = raw.decode().split(",")
    try:
        client = moph()
        file_id = redis.get(file_key)
        file_id = file_id.decode() if file_id else None
        if not file_id:
            file_id = (client.upload_data_csv(cids_csv(cids)) if upload == "csv"
                       else client.upload_data_json(cids))
            # A retry after a failed upload-message reuses the file instead of uploading again.
            redis.set(file_key, file_id, ex=FILE_ID_SECONDS)
        client.upload_message(file_id, list(messages))
    except MophDeliveryUnknown:
        write_status(redis, status, UNCERTAIN, UNCERTAIN_TEXT, size=len(cids))
        return UNCERTAIN
    except (ProviderError, ValueError, SettingsError) as exc:
        permanent = final_attempt or not getattr(exc, "retryable", False)
        with redis.pipeline(transaction=False) as pipe:
            pipe.delete(sending)  # MOPH answered, or was never reached: nothing went out
            write_status(pipe, status, "failed" if permanent else "retrying", error_text(exc),
                         size=len(cids))
            if permanent:  # announcing again may try anew
                pipe.delete(_key("claim", ident, prefix), cids_key)
            pipe.execute()
        raise
    with redis.pipeline(transaction=True) as pipe:
        pipe.set(_key("sent", ident, prefix), "1", ex=DEDUP_SECONDS)
        pipe.delete(sending, cids_key, file_key)
        write_status(pipe, status, "sent", size=len(cids))
        pipe.execute()
    return "sent"
