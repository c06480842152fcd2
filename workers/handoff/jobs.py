"""Jobs of the human handoff: each runs one step of ``HandoffService`` (``workers.handoff.service``).

Every step may run more than once (RQ retries, a killed worker) and is written to be
safe that way. A retryable provider failure raises (RQ retries with backoff, then the
failed registry); one that retrying cannot fix, and outbox items set aside, fail at once.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from workers.runtime import current_job_id, fail_fast, fail_without_retry, services
from workers.user_queue import ItemsSetAside

T = TypeVar("T")


def _run(step: Callable[..., T]) -> T:
    """Run one step; both handlers re-raise (they only decide whether RQ retries)."""
    try:
        return step(services().handoff)
    except ItemsSetAside as exc:
        fail_without_retry(exc)
    except Exception as exc:
        fail_fast(exc)


def drain_mirror(user: str) -> int:
    """Post the user's queued messages and notes to their LiveDesk conversation, in order (then those
    of users on the mirror's ready list)."""
    # The job's id leaves the count of waiting mirror drains (workers/handoff/mirror_drains.py).
    return _run(lambda handoff: handoff.drain_mirror(user, job_id=current_job_id()))


def drain_to_patient(user: str) -> int:
    """Push agents' queued replies to the patient on LINE, in order, each at most once."""
    return _run(lambda handoff: handoff.drain_to_patient(user))


def ensure_oho_contact(user: str) -> None:
    """Create the patient's Oho contact (once)."""
    _run(lambda handoff: handoff.ensure_oho_contact(user))


def request_agent(user: str, session: str) -> None:
    """Hand the patient's Oho chat to an agent and label it."""
    _run(lambda handoff: handoff.request_agent(user, session))


def resolve_handoff(user: str, session: str, conversation_id: int) -> None:
    """Close the handoff if LiveDesk confirms the conversation resolved."""
    _run(lambda handoff: handoff.resolve(user, session, conversation_id))


def close_handoff(user: str, session: str, reason: str, notify: bool) -> None:
    """End a handoff: the bot answers again."""
    _run(lambda handoff: handoff.close(user, session, reason, notify))


def check_no_agent(user: str, session: str) -> None:
    """Tell a patient no agent has answered yet, once."""
    _run(lambda handoff: handoff.check_no_agent(user, session))


def check_idle(user: str, session: str) -> None:
    """Close a handoff no agent has written in for a while."""
    _run(lambda handoff: handoff.check_idle(user, session))
