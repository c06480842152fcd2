"""What ``GET /metrics`` reads from Redis at each scrape: the state behind the gauges of
``integrations/metrics.py`` (queues, the LINE inbox backlog, dead lists, open handoffs, SMS
credit, live RQ workers, how Redis is set up), of the services' hospital (its keys and queues; the queues
named by their kind). A few round trips; nothing here writes, except pruning the index of open handoffs."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import redis
from rq import Worker

from integrations.credit import CreditLedger
from integrations.metrics import State
from workers import lua
from workers.handoff.store import open_handoffs
from workers.hospitals import kind_of_queue
from workers.line.inbox import RECEIVED_AT, line_inbox
from workers.maintenance import FAMILIES
from workers.queues import QUEUE_NAMES, get_queue
from workers.redis_health import KINDS, findings

log = logging.getLogger(__name__)

SMS_PROVIDERS = ("sepsms", "thaibulksms")
#: Users looked at for the oldest waiting event (oldest due first); more is a backlog anyway.
BACKLOG_USERS_READ = 5000


def read_states(served, now: float | None = None) -> dict[str, State]:
    """The state of each hospital ``served`` (its ``Services``), by hospital id."""
    now = time.time() if now is None else now
    return {services.hospital.id: read_state(services, now) for services in served}


def read_state(services, now: float | None = None) -> State:
    """The state for one scrape; ``redis_up`` False (and nothing else) when Redis did not answer."""
    now = time.time() if now is None else now
    try:
        return _read(services.redis, services.settings, now, services.hospital.prefix)
    except (redis.RedisError, OSError) as exc:
        log.warning("metrics: Redis unavailable (%s)", type(exc).__name__)
        return State(redis_up=False)


def _read(connection: redis.Redis, settings, now: float, prefix: str = "") -> State:
    state = State()
    for name in QUEUE_NAMES:
        queue = get_queue(connection, name, prefix=prefix)
        state.queue_jobs[name] = queue.count
        state.failed_jobs[name] = queue.failed_job_registry.count
        first = connection.lindex(queue.key, 0)
        enqueued = connection.hget(f"rq:job:{first.decode()}", "enqueued_at") if first else None
        state.queue_oldest_seconds[name] = max(0.0, now - _epoch(enqueued)) if enqueued else 0.0
    state.workers = {name: 0 for name in QUEUE_NAMES}
    for worker in Worker.all(connection=connection):
        # By kind: a worker of a registry serves every hospital's queues of its kinds, those of a
        # hospital added after it started too (RQ keeps the names it started with).
        for kind in {kind_of_queue(name) for name in worker.queue_names()}:
            state.workers[kind] = state.workers.get(kind, 0) + 1

    inbox = line_inbox(connection, prefix=prefix)
    users, events, oldest = lua.run(connection, "inbox_backlog", keys=[inbox.due_key],
                                   args=[BACKLOG_USERS_READ, inbox.keys.items(""), RECEIVED_AT])
    state.inbox_users, state.inbox_events = int(users), int(events)
    oldest = float(oldest)
    state.inbox_oldest_seconds = max(0.0, now - oldest) if oldest else 0.0

    for family in FAMILIES:
        dead_key = family.queue(connection, prefix=prefix).dead_key
        state.dead_items[dead_key] = connection.llen(dead_key)

    handoffs = open_handoffs(connection, prefix=prefix)
    waiting = [handoff.since for _, handoff in handoffs if not handoff.agent_answered]
    state.handoffs_open, state.handoffs_waiting = len(handoffs), len(waiting)
    state.handoff_oldest_waiting_seconds = max(0.0, now - min(waiting)) if waiting else 0.0

    ledger = CreditLedger(connection, threshold=settings.sms_low_credit_threshold, prefix=prefix)
    for provider in SMS_PROVIDERS:
        balance = ledger.last(provider)
        if balance is not None:
            state.sms_credit[provider] = balance.balance
    state.sms_credit_threshold = settings.sms_low_credit_threshold
    found = {finding.kind for finding in findings(connection)}
    state.redis_findings = {kind: int(kind in found) for kind in KINDS}
    return state


def _epoch(raw: bytes | str) -> float:
    """RQ's timestamps (``2024-05-01T03:04:05.123456Z``, UTC) as epoch seconds."""
    text = (raw.decode() if isinstance(raw, bytes) else raw).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return time.time()
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
