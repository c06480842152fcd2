"""Jobs that answer patients on LINE."""

from __future__ import annotations

from workers.line import inbox
from workers.runtime import fail_without_retry, services, stopping
from workers.user_queue import ItemsSetAside


def drain_inbox(user: str) -> int:
    """Answer the queued events of one LINE user, in order (bounded; it hands over when its time is up)."""
    s = services()
    try:
        return inbox.drain_inbox(s.redis, user, s.line_events.handle, should_stop=stopping, prefix=s.hospital.prefix)
    except ItemsSetAside as exc:
        fail_without_retry(exc)
