"""Jobs that answer patients on LINE."""

from __future__ import annotations

from workers.line import inbox
from workers.runtime import fail_fast, fail_without_retry, services
from workers.user_queue import ItemsSetAside


def drain_inbox(user: str) -> int:
    """Answer the queued events of one LINE user, in order."""
    s = services()
    try:
        return inbox.drain_inbox(s.redis, user, s.line_events.handle)
    except ItemsSetAside as exc:
        fail_without_retry(exc)
    except Exception as exc:
        fail_fast(exc)
