"""Per-user inboxes: LINE events are answered in the order LINE sent them, users in parallel.

The webhook appends each new event to its user's inbox list in Redis (skipping
any ``webhookEventId`` it has seen) and enqueues a drain job for that user.
Any worker may run a drain job; the per-user lock lets one drain at a time,
and the others return at once because the lock holder will reach their
events. Events leave the inbox only after they are handled, so a killed worker
loses nothing: the event is handled again by the next drain (handlers are
idempotent: reply tokens are used once, pushes carry a retry key).

An event that keeps failing must not block the user's later messages forever:
after ``MAX_EVENT_ATTEMPTS`` (or at once for a permanent error) it moves to the
dead-letter list ``line:dead-events`` and the job still fails, so it shows in
RQ's failed registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import redis
from redis.exceptions import LockError

from bot.privacy import mask
from integrations.errors import ProviderError
from workers.queues import LINE_QUEUE, enqueue

log = logging.getLogger(__name__)

SEEN_TTL = 7 * 24 * 3600          # LINE redelivers for a while; a week is ample
MAX_EVENT_ATTEMPTS = 6
LOCK_TIMEOUT = 120                # longer than one event's handling, shorter than a drain job's patience
DEAD_LETTERS = "line:dead-events"
DEAD_LETTERS_KEPT = 1000

# Seen-check and append in one step, so two web processes given the same
# redelivered event cannot both queue it.
_ACCEPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class PermanentEventFailure(Exception):
    """An event could not be handled and was set aside; raised so the job shows as failed."""


@dataclass
class Accepted:
    queued: int = 0
    duplicates: int = 0


def source_key(event: dict) -> str:
    """Whose inbox: the chat the event came from (user, group or room)."""
    source = event.get("source") or {}
    return str(source.get("userId") or source.get("groupId") or source.get("roomId") or "unknown")


def event_id(event: dict) -> str:
    """``webhookEventId``; for an event without one, a digest of its content."""
    found = event.get("webhookEventId")
    if isinstance(found, str) and found:
        return found
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:26]


def _inbox(user: str) -> str:
    return f"line:inbox:{user}"


def accept_events(connection: redis.Redis, events: list[dict]) -> Accepted:
    """Queue new events for their users' drains; skip ones already seen. No outbound HTTP.

    One atomic round trip to Redis for the whole webhook: the seen-checks, the
    appends and the drain jobs commit together, so no event can be queued
    without a job to handle it. A drain job is enqueued per user even when all
    of that user's events were duplicates (rare; the drain then finds nothing).
    """
    accept = connection.register_script(_ACCEPT)
    users: list[str] = []
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()  # explicit, so that RQ adds its commands to this transaction
        for event in events:
            user = source_key(event)
            accept(keys=[f"line:seen:{event_id(event)}", _inbox(user)],
                   args=[SEEN_TTL, json.dumps(event, ensure_ascii=False, separators=(",", ":"))], client=pipe)
            if user not in users:
                users.append(user)
        for user in users:
            enqueue(connection, "workers.line_jobs.drain_inbox", user, queue=LINE_QUEUE, pipeline=pipe,
                    description=f"answer LINE events of {mask(user)}", timeout=LOCK_TIMEOUT)
        results = pipe.execute()
    queued = sum(1 for r in results[:len(events)] if r == 1)
    return Accepted(queued=queued, duplicates=len(events) - queued)


def drain_inbox(connection: redis.Redis, user: str, handle: Callable[[dict], None]) -> int:
    """Handle the user's queued events in order; return how many were handled."""
    inbox = _inbox(user)
    lock = connection.lock(f"line:inbox-lock:{user}", timeout=LOCK_TIMEOUT)
    handled, set_aside = 0, []
    while True:
        if not lock.acquire(blocking=False):
            break  # another worker is draining this user and will reach our events
        leased_at = time.monotonic()
        try:
            while (raw := connection.lindex(inbox, 0)) is not None:
                event = json.loads(raw)
                try:
                    handle(event)
                except Exception as exc:
                    if not _set_aside(connection, user, raw, event, exc):
                        raise  # the job retries with backoff; the event stays first in line
                    set_aside.append(event_id(event))
                else:
                    pipe = connection.pipeline(transaction=False)
                    pipe.lpop(inbox)
                    pipe.hdel(f"line:attempts:{user}", event_id(event))
                    pipe.execute()
                    handled += 1
                if time.monotonic() - leased_at > LOCK_TIMEOUT / 3:
                    lock.reacquire()  # renew the lease long before it can lapse
                    leased_at = time.monotonic()
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("inbox lock of %s expired while draining", mask(user))
        # Checked after releasing: an event queued while we held the lock, whose own
        # drain job gave up on the lock, is ours to handle.
        if not connection.llen(inbox):
            break
    if set_aside:
        raise PermanentEventFailure(f"{len(set_aside)} event(s) of {mask(user)} set aside in {DEAD_LETTERS}")
    return handled


def _set_aside(connection: redis.Redis, user: str, raw: bytes, event: dict, exc: Exception) -> bool:
    """Move a failing event to the dead letters if retrying cannot or did not help.

    Only a provider's clear "your request is wrong" is permanent at once. Anything
    else (a provider outage, a Redis blip, a job timeout, a bug) gets the full
    ``MAX_EVENT_ATTEMPTS`` first: setting aside loses the patient's message.
    """
    attempts = connection.hincrby(f"line:attempts:{user}", event_id(event), 1)
    permanent = isinstance(exc, ProviderError) and not exc.retryable
    if not permanent and attempts < MAX_EVENT_ATTEMPTS:
        log.warning("LINE %s event of %s failed (attempt %d): %s", event.get("type"), mask(user), attempts,
                    exc if isinstance(exc, ProviderError) else type(exc).__name__)
        return False
    # Provider errors are written to be log-safe; other exceptions' messages may quote the
    # patient's text (e.g. a model validation error), so only their type and stack are logged.
    detail = str(exc) if isinstance(exc, ProviderError) else "".join(traceback.format_tb(exc.__traceback__))
    log.error("LINE %s event of %s set aside after %d attempt(s): %s: %s", event.get("type"), mask(user),
              attempts, type(exc).__name__, detail)
    pipe = connection.pipeline()
    pipe.lpop(_inbox(user))
    pipe.lpush(DEAD_LETTERS, raw)
    pipe.ltrim(DEAD_LETTERS, 0, DEAD_LETTERS_KEPT - 1)
    pipe.hdel(f"line:attempts:{user}", event_id(event))
    pipe.execute()
    return True
