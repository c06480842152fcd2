"""LINE events the bot gave up on (``line:dead-events``), for ``flask line dead-events`` and
``flask line replay``.

A replayed event goes back to the end of its user's inbox, oldest first when several of one
user are replayed, and is taken out of the dead list in the same step (``UserQueue.replay``),
so replaying twice, or from two terminals at once, queues it once. Its id is already in the
seen markers: the replay goes past that check, the markers still stop LINE's redeliveries.
What was done for it before is not done again: an answer LINE accepted is recorded
(``workers/line/events.py``), so a replay only runs what is left.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import redis

from bot.turn import event_id, source_key
from workers.line.inbox import enqueue_drain, line_inbox
from workers.user_queue import DeadItem


class UnknownDeadEvents(LookupError):
    """Some ids asked for are not (or no longer) in the dead list."""

    def __init__(self, ids: Sequence[str]):
        super().__init__(f"not among the set-aside events: {', '.join(ids)}")
        self.ids = list(ids)


@dataclass(frozen=True)
class DeadEvent:
    id: str
    user: str
    at: float | None
    kind: str            # the event type, or the message type for a message
    reason: str
    dead: DeadItem


def dead_events(connection: redis.Redis, *, prefix: str = "") -> list[DeadEvent]:
    """The hospital's (``prefix``) set-aside events, newest first."""
    return [_event(dead) for dead in line_inbox(connection, prefix=prefix).dead.items()]


def replay(connection: redis.Redis, ids: Sequence[str] | None, *, prefix: str = "") -> list[DeadEvent]:
    """Put the events with these ids (None: all) back into their users' inboxes and start the drains.
    Returns the events replayed now; raises ``UnknownDeadEvents`` (replaying nothing) for an unknown id."""
    found = dead_events(connection, prefix=prefix)
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        known = {event.id for event in found}
        missing = [i for i in wanted if i not in known]
        if missing:
            raise UnknownDeadEvents(missing)
        found = [event for event in found if event.id in set(wanted)]
    inbox = line_inbox(connection, prefix=prefix)
    replayed = [event for event in reversed(found) if inbox.dead.replay(event.dead, event.user, event.id)]
    for user in dict.fromkeys(event.user for event in replayed):
        enqueue_drain(connection, user, prefix=prefix)
    return replayed


def _event(dead: DeadItem) -> DeadEvent:
    try:
        item = json.loads(dead.raw)
    except ValueError:
        item = None
    if not isinstance(item, dict):
        return DeadEvent("raw-" + hashlib.sha256(dead.raw).hexdigest()[:16], dead.user or "unknown", dead.at,
                         "unreadable", dead.reason or "not JSON", dead)
    kind = str(item.get("type") or "unknown")
    if kind == "message":
        kind = str((item.get("message") or {}).get("type") or "message")
    return DeadEvent(event_id(item), dead.user or source_key(item), dead.at, kind,
                     dead.reason or "(set aside before reasons were kept)", dead)
