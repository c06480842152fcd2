"""Can Redis take work, and what should whoever runs it be asked for?

Readiness is one question: can this process write a key and read it back? A replica,
a server refusing writes for want of replicas (``min-replicas-to-write``) or out of memory,
or no server at all: the service cannot take work, and ``/readyz`` says 503.

How Redis is set up (eviction, the append-only file, its version) is advice for the people
who run it: every instance of the service shares the one Redis, so a 503 for it would take
them all out of rotation for a risk, on platforms that answer patients perfectly (Heroku
and ElastiCache refuse ``CONFIG``). Those findings go to ``/readyz``'s notes, the start-up
log, ``flask doctor`` and the ``linebot_redis_findings`` gauge. They are read from ``INFO``,
which managed services allow; ``CONFIG`` only for ``appendfsync``, which ``INFO`` lacks.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

import redis

#: The probe key lives this long, so a probe that dies half-way leaves nothing behind.
PROBE_TTL_MS = 10_000
#: Findings are logged by the first process of a deployment to start within this window.
LOGGED_KEY = "redis:findings-logged"
LOG_WINDOW_SECONDS = 600

#: The first release of each line with the fixes for CVE-2025-49844 (a Lua use-after-free:
#: remote code execution by any client that may run a script, CVSS 10) and CVE-2025-46817,
#: -46818 and -46819, published together on 3 October 2025. A line not listed and older
#: than the newest listed gets no fixes any more (Redis 7.0, 6.0); a newer one is fine.
REDIS_FIXED = {(6, 2): (6, 2, 20), (7, 2): (7, 2, 11), (7, 4): (7, 4, 6), (8, 0): (8, 0, 4), (8, 2): (8, 2, 2)}
VALKEY_FIXED = {(7, 2): (7, 2, 11), (8, 0): (8, 0, 6), (8, 1): (8, 1, 4), (9, 0): (9, 0, 0)}

# The kinds of finding: the gauge's label values, each reported 0 or 1 at every scrape.
UNCHECKED, EVICTION, NO_AOF, LAZY_FSYNC, OLD_VERSION = "unchecked", "eviction", "no_aof", "lazy_fsync", "old_version"
KINDS = (UNCHECKED, EVICTION, NO_AOF, LAZY_FSYNC, OLD_VERSION)


@dataclass(frozen=True)
class Finding:
    kind: str  # one of KINDS
    text: str  # what is wrong and what to ask for, for a person


def probe(connection: redis.Redis) -> None:
    """Write a short-lived key and read it back in one transaction. Raises ``redis.RedisError``
    (``ReadOnlyError``, a ``ResponseError`` such as NOREPLICAS or OOM, a connection error) when
    Redis cannot take work."""
    key = f"readyz:{socket.gethostname()}:{os.getpid()}"
    token = os.urandom(8).hex()
    _, read = connection.pipeline(transaction=True).set(key, token, px=PROBE_TTL_MS).get(key).execute()
    if read not in (token, token.encode()):
        raise redis.RedisError("Redis gave back something else than what was just written")


def why_not(exc: Exception) -> str:
    """Redis's own words for a refused write (``READONLY``, ``NOREPLICAS``, ``OOM`` …), without the command
    redis-py puts before them; the exception's type for anything else (a connection error names the host)."""
    if isinstance(exc, redis.ResponseError):
        return str(exc).rpartition("caused error: ")[2][:200]
    return type(exc).__name__


def findings(connection: redis.Redis) -> list[Finding]:
    """What a durable queue needs and this Redis lacks. Raises ``redis.RedisError`` only when Redis
    does not answer; a refused ``INFO`` or ``CONFIG`` is itself a finding (``unchecked``)."""
    try:
        info = connection.info()
    except redis.ResponseError:
        return [Finding(UNCHECKED, "Redis refuses INFO, so its settings could not be checked: ask whoever runs it "
                        "for maxmemory-policy noeviction, appendonly yes with appendfsync everysec, and a "
                        "patched version")]
    found = [f for f in (_eviction(info), _aof(info), version_finding(info)) if f]
    if str(info.get("aof_enabled")) == "1":
        found.extend(_fsync(connection))
    return found


def _eviction(info: dict) -> Finding | None:
    policy = info.get("maxmemory_policy")
    if policy == "noeviction":
        return None
    if policy is None:
        return Finding(UNCHECKED, "Redis does not report its maxmemory-policy: ask whoever runs it for noeviction")
    return Finding(EVICTION, f"Redis maxmemory-policy is {policy!r}: when memory runs short it deletes keys, and "
                   "queued patient messages and jobs with them; ask for maxmemory-policy noeviction")


def _aof(info: dict) -> Finding | None:
    if str(info.get("aof_enabled")) == "1":
        return None
    return Finding(NO_AOF, "Redis has append-only persistence off: a restart loses everything since its last "
                   "snapshot (queued patient messages, handoffs, verifications); ask for appendonly yes with "
                   "appendfsync everysec")


def _fsync(connection: redis.Redis) -> list[Finding]:
    try:
        fsync = connection.config_get("appendfsync").get("appendfsync")
    except redis.ResponseError:
        return [Finding(UNCHECKED, "Redis refuses CONFIG GET, so appendfsync could not be checked: ask whoever "
                        "runs it for appendfsync everysec")]
    if fsync in ("everysec", "always"):
        return []
    return [Finding(LAZY_FSYNC, f"Redis appendfsync is {fsync!r}: a crash can lose up to about 30 seconds of "
                    "writes; ask for appendfsync everysec")]


def version_finding(info: dict) -> Finding | None:
    """An old-version finding when the server is older than its line's fixed release (``REDIS_FIXED``,
    ``VALKEY_FIXED``). Valkey reports ``redis_version`` 7.2.4 for compatibility and its own in
    ``valkey_version``."""
    name, text = ("Valkey", info["valkey_version"]) if "valkey_version" in info else \
        ("Redis", str(info.get("redis_version", "")))
    fixed = VALKEY_FIXED if name == "Valkey" else REDIS_FIXED
    try:
        version = tuple(int(part) for part in text.split(".")[:3])
    except ValueError:
        return Finding(UNCHECKED, f"{name} reports version {text!r}, which is not understood: check by hand that "
                       "it has the fixes for CVE-2025-49844")
    line, floor = version[:2], fixed.get(version[:2])
    if line > max(fixed) or (floor and version >= floor):
        return None
    minimum = floor or min(fix for other, fix in fixed.items() if other > line)
    return Finding(OLD_VERSION, f"{name} is {text}, older than the fixes for CVE-2025-49844 (remote code "
                   "execution through a Lua script) and three other Lua flaws of October 2025: ask for "
                   f"{'.'.join(map(str, minimum))} or newer (a provider that patches without changing the "
                   "version number should confirm it has those fixes)")


def log_findings_once(connection: redis.Redis, log: logging.Logger) -> list[Finding]:
    """At start-up: each finding as one WARNING, by the first process of the deployment to start
    (the others, within ``LOG_WINDOW_SECONDS``, would only repeat it word for word)."""
    found = findings(connection)
    if found and connection.set(LOGGED_KEY, str(os.getpid()), nx=True, ex=LOG_WINDOW_SECONDS):
        for finding in found:
            log.warning("Redis: %s", finding.text)
    return found
