"""What every worker process does on the side, so that no single process is needed for delivery.

Every ``python -m workers`` runs ``Maintenance`` in a thread and one at a time does the work (a short
Redis lock): the sweeper (drains lost with a killed worker), Oho contacts left behind, and the
watchdog of RQ's scheduler lock. Each is described in docs/architecture.md, "What every worker does
on the side". It does it for every hospital whose prefix it is given (its keys and queues); the lock
is one for the whole deployment.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

import redis
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, SCHEDULER_LOCKING_KEY_TEMPLATE

from bot.privacy import mask
from workers import lua
from workers.batches import DRAIN_LOST_AFTER
from workers.handoff.enqueue import enqueue_drain_to_patient, enqueue_oho_contact
from workers.handoff.mirror_drains import enqueue_drain_mirror
from workers.handoff.store import mirror_outbox, patient_outbox
from workers.line.inbox import enqueue_drain, line_inbox
from workers.oho_contacts import WANT_LOST_AFTER, forget_want, wants_older_than
from workers.queues import QUEUE_NAMES
from workers.user_queue import UserQueue

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5          # seconds between sweeps (by whichever worker holds the lock)
#: A scheduler that has not sent a heartbeat for this long is dead (it beats every second).
SCHEDULER_DEAD_AFTER = 15
LOCK_KEY = "maintenance:lock"


@dataclass(frozen=True)
class Family:
    """A family of per-user queues and how to start one user's drain (each called with a hospital's
    ``prefix=``)."""

    name: str
    queue: Callable[..., UserQueue]
    start_drain: Callable[..., None]


FAMILIES: tuple[Family, ...] = (
    Family("line inbox", line_inbox, enqueue_drain),
    Family("LiveDesk mirror", mirror_outbox, enqueue_drain_mirror),
    Family("agent replies", patient_outbox, enqueue_drain_to_patient),
)


def sweep(connection: redis.Redis, now: float | None = None, families: Sequence[Family] = FAMILIES, *,
          prefix: str = "") -> int:
    """Start the hospital's (``prefix``) drains that are due and that nothing else will start; return
    how many."""
    now = time.time() if now is None else now
    started = 0
    for family in families:
        queue = family.queue(connection, prefix=prefix)
        users = queue.due_users(now)
        if not users:
            continue
        queued = queue.drain_queued_since(users)
        busy = queue.draining(users)
        for user, since, locked in zip(users, queued, busy):
            if locked or (since is not None and now - since < DRAIN_LOST_AFTER):
                continue  # a drain is working on it, or one is queued and will
            family.start_drain(connection, user, prefix=prefix)
            started += 1
            log.info("sweeper: started a drain of the %s of %s%s", family.name, mask(user),
                     " (its queued drain was lost)" if since is not None else "")
    return started


def hand_over_lost_contacts(connection: redis.Redis, now: float | None = None, *, prefix: str = "") -> int:
    """Queue the ``ensure_oho_contact`` job for each contact want no mirror drain took care of in
    ``WANT_LOST_AFTER``; return how many. (A drain still making one is harmless: ``ensure`` makes
    a contact once, and Oho answers a second create with "already exists".)"""
    now = time.time() if now is None else now
    users = wants_older_than(connection, now - WANT_LOST_AFTER, prefix=prefix)
    for user in users:
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            enqueue_oho_contact(connection, user, pipeline=pipe, prefix=prefix)
            forget_want(user, pipe, prefix=prefix)
            pipe.execute()
        log.info("sweeper: the Oho contact of %s goes to a job (no mirror drain made it)", mask(user))
    return len(users)


def free_dead_scheduler_locks(connection: redis.Redis, now: float | None = None,
                              queue_names: Sequence[str] = QUEUE_NAMES) -> list[str]:
    """Delete each scheduler lock whose holder stopped beating; return the queues freed."""
    now = time.time() if now is None else now
    freed = []
    for name in queue_names:
        lock_key = SCHEDULER_LOCKING_KEY_TEMPLATE % name
        holder = connection.get(lock_key)
        if holder is None:
            continue
        holder = holder.decode() if isinstance(holder, bytes) else holder
        beat = connection.hget(SCHEDULER_KEY_TEMPLATE % holder, "last_heartbeat")
        if beat is not None and now - _epoch(beat) < SCHEDULER_DEAD_AFTER:
            continue
        if lua.run(connection, "scheduler_lock_free", keys=[lock_key], args=[holder]):
            freed.append(name)
            log.warning("scheduler %s stopped beating; freed its lock on queue %s for another worker", holder, name)
    return freed


def _epoch(raw: bytes | str) -> float:
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0  # unreadable: treat as long ago
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class Maintenance(threading.Thread):
    """The side work of one worker process, every ``interval`` seconds, while ``stop`` is not set."""

    def __init__(self, connection: redis.Redis, *, prefixes: Callable[[], Sequence[str]] = lambda: ("",),
                 interval: float = SWEEP_INTERVAL):
        """``prefixes()``: the prefixes of the hospitals served now, whose queues are looked after ("":
        the implicit hospital); asked every round, so that a hospital added to the registry is too."""
        super().__init__(name="maintenance", daemon=True)
        self.redis = connection
        self.prefixes = prefixes
        self.interval = interval
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:  # Redis restarting: try again next round
                log.warning("maintenance skipped: %s", type(exc).__name__)
            except Exception:
                log.exception("maintenance failed")
            self.stop.wait(self.interval)

    def run_once(self) -> bool:
        """One round, if no other worker is doing it; whether this one did."""
        if not self.redis.set(LOCK_KEY, 1, nx=True, px=int(self.interval * 1000 * 0.9)):
            return False
        prefixes = list(self.prefixes())
        for prefix in prefixes:
            sweep(self.redis, prefix=prefix)
            hand_over_lost_contacts(self.redis, prefix=prefix)
        free_dead_scheduler_locks(self.redis, queue_names=[prefix + name for prefix in prefixes
                                                           for name in QUEUE_NAMES])
        return True
