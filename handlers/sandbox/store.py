"""The simulators' state, in Redis so that every web process of the sandbox agrees.

Everything is under ``sandbox:`` and expires (``STATE_TTL`` unless said otherwise):
  sandbox:line:reply-token:<token>      the LINE user a reply token belongs to       REPLY_TOKEN_SECONDS
  sandbox:line:retry-key:<uuid>         an accepted X-Line-Retry-Key (its request id) RETRY_KEY_SECONDS
  sandbox:line:chat:<user>              list: what the patient sees in LINE (JSON entries)
  sandbox:line:loading:<user>           the loading animation is showing             loadingSeconds
  sandbox:line:content:<message id>     hash: an image a patient sent (type, data)    CONTENT_SECONDS
  sandbox:oho:contact:<user>            JSON: the patient's Oho contact
  sandbox:oho:room:<user>               "bot" | "agent": Oho's chat room state
  sandbox:livedesk:seq:<kind>           id counters (contact, conversation, message)
  sandbox:livedesk:contact:<id>         JSON contact
  sandbox:livedesk:conversation:<id>    JSON conversation (status, contact id, source id)
  sandbox:livedesk:conversations        zset: conversation ids by last activity
  sandbox:livedesk:messages:<id>        list: the conversation's messages (JSON)
  sandbox:livedesk:attachment:<id>      hash: an attachment's bytes (type, data)
  sandbox:sepsms:otp:<reference>        hash: an OTP (code, destination, attempts)    its ttlSeconds
  sandbox:sepsms:message:<uuid>         JSON: a sent SMS and its delivery status
  sandbox:sepsms:rate:<budget>:<minute> request counts for SEPSMS's rate limits        2 min
  sandbox:sms                           list: every SMS that reached a phone (JSON)
  sandbox:moph:file:<file_id>           JSON: an uploaded CID list
  sandbox:moph:notices                  list: what หมอพร้อม showed, per CID (JSON)
  sandbox:his:uploads                   list: the HIS panel's submissions and their rows
  sandbox:log                           list: recent simulator traffic, for the page
Lists keep their last ``LIST_KEPT`` entries.

A sandbox serving several hospitals (``SANDBOX_HOSPITALS``) simulates an account of each provider per
hospital: each hospital's store is ``scope``d (``sandbox:h:<id>:line:chat:<user>`` is the patient's chat
with that hospital's LINE account). What a patient owns stays shared (``everyone``): the phone's SMS and
หมอพร้อม, as do the traffic log and SEPSMS's per-IP rate counts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis as redis_lib

STATE_TTL = 24 * 3600
REPLY_TOKEN_SECONDS = 60       # LINE: "about a minute, sometimes less" (provider notes)
RETRY_KEY_SECONDS = 24 * 3600
CONTENT_SECONDS = 3600         # LINE keeps what users send "for a certain period" only
LIST_KEPT = 300
LOG_KEPT = 100


class SandboxStore:
    """Small helpers over the ``sandbox:`` keys; every write sets an expiry."""

    def __init__(self, connection: redis_lib.Redis, scope: str = "", hospital: str | None = None):
        self.redis = connection
        self.scope, self.hospital = scope, hospital  # "h:b:", "b"; "", None for the one hospital

    def key(self, name: str) -> str:
        return f"sandbox:{self.scope}{name}"

    def everyone(self) -> SandboxStore:
        """The state every hospital shares: the patient's phone and หมอพร้อม, the traffic log."""
        return SandboxStore(self.redis) if self.scope else self

    def mark(self, entry: dict) -> dict:
        """``entry`` with the hospital it came from, in a store shared by several."""
        return {**entry, "hospital": self.hospital} if self.hospital else entry

    # -- JSON values -----------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        raw = self.redis.get(self.key(key))
        return json.loads(raw) if raw else None

    def put(self, key: str, value: Any, ttl: int = STATE_TTL) -> None:
        self.redis.set(self.key(key), json.dumps(value, ensure_ascii=False), ex=ttl)

    def text(self, key: str) -> str | None:
        raw = self.redis.get(self.key(key))
        return raw.decode() if raw else None

    def put_text(self, key: str, value: str, ttl: int = STATE_TTL, nx: bool = False) -> bool:
        return bool(self.redis.set(self.key(key), value, ex=ttl, nx=nx))

    def take(self, key: str) -> str | None:
        """Read and delete in one step (single-use values such as reply tokens)."""
        raw = self.redis.getdel(self.key(key))
        return raw.decode() if raw else None

    def delete(self, key: str) -> None:
        self.redis.delete(self.key(key))

    def exists(self, key: str) -> bool:
        return bool(self.redis.exists(self.key(key)))

    # -- lists -----------------------------------------------------------------------------------
    def append(self, key: str, entry: dict, kept: int = LIST_KEPT) -> None:
        name = self.key(key)
        entry = {"at": time.time(), **entry}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(name, json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(name, -kept, -1)
            pipe.expire(name, STATE_TTL)
            pipe.execute()

    def items(self, key: str, last: int = LIST_KEPT) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key(key), -last, -1)]

    def replace_item(self, key: str, match: dict, **changes: Any) -> bool:
        """Update the list entry whose fields equal ``match`` (small lists: read, change, write back)."""
        name = self.key(key)
        for index, raw in enumerate(self.redis.lrange(name, 0, -1)):
            entry = json.loads(raw)
            if all(entry.get(k) == v for k, v in match.items()):
                entry.update(changes)
                self.redis.lset(name, index, json.dumps(entry, ensure_ascii=False))
                return True
        return False

    def next_id(self, kind: str, start: int) -> int:
        name = self.key(f"livedesk:seq:{kind}")
        value = self.redis.incr(name)
        self.redis.expire(name, STATE_TTL)
        return start + value

    def log(self, provider: str, what: str, status: int | str) -> None:
        """One line of simulator traffic for the page (never a message text or a code)."""
        self.everyone().append("log", self.mark({"provider": provider, "what": what, "status": status}),
                               kept=LOG_KEPT)

    def hit(self, budget: str, window: int = 60) -> int:
        """Count a request against a per-minute budget; returns the count in this window."""
        name = f"sandbox:sepsms:rate:{budget}:{int(time.time() // window)}"
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 2 * window)
            count, _ = pipe.execute()
        return int(count)
