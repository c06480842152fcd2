"""What staff commands do to handoffs: find an open one, close it (``flask handoff list`` / ``close``),
or close it at once before a PDPA erasure (``flask pdpa erase``)."""

from __future__ import annotations

import re

from bot.handoff.state import HandoffState
from workers.handoff.enqueue import enqueue_close
from workers.handoff.store import open_handoffs

_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
CLOSE_REASON = "staff"


class HandoffNotFound(LookupError):
    """The user given matches no open handoff, or more than one."""


def find_open(connection, given: str, *, prefix: str = "") -> tuple[str, HandoffState]:
    """The open handoff of ``given``: a full LINE user id, or the end of one as the list prints it
    (``…1a2b``, at least 4 characters) when exactly one open handoff of the hospital (``prefix``) ends so."""
    text = given.strip().lstrip("…").strip()
    handoffs = open_handoffs(connection, prefix=prefix)
    if _LINE_USER_ID.match(text):
        matches = [(user, state) for user, state in handoffs if user == text]
    elif len(text) >= 4:
        matches = [(user, state) for user, state in handoffs if user.endswith(text)]
    else:
        raise HandoffNotFound("give the LINE user id, or at least its last 4 characters as `flask handoff list` "
                              "prints them (…1a2b)")
    if not matches:
        raise HandoffNotFound(f"no open handoff for …{text[-4:]} (see `flask handoff list`)")
    if len(matches) > 1:
        raise HandoffNotFound(f"{len(matches)} open handoffs end in {text}: give more characters or the full id")
    return matches[0]


def close_by_hand(service, user: str, state: HandoffState) -> bool:
    """Close as an agent's "resolved" would: the bot answers from now on, and a job closes the Oho
    chat and tells the patient. False if a close of this handoff was queued already."""
    queued = enqueue_close(service.redis, service.store, user, state.session, CLOSE_REASON, notify=True)
    service.store.close(user, state.session)  # the bot is back at once; the job does the rest
    return queued


def close_before_erasure(service, user: str, state: HandoffState) -> None:
    """Close as ``close_by_hand`` does (the patient told, the closing note in LiveDesk, the Oho chat
    closed), but now, in this process: an erasure follows, which deletes the user's jobs, outbox and
    LiveDesk mapping, so nothing of the closing may be left to a job. A provider's failure raises
    (``ProviderError``); the bot answers the patient again either way."""
    service.store.claim(f"close:{state.session}")  # a close asked for from now on is this one
    service.close(user, state.session, CLOSE_REASON, notify=True)
    service.drain_mirror(user)
    if service.mirror_outbox.has_pending(user):
        raise ClosingNotPosted("the closing note did not reach LiveDesk (see the log)")


class ClosingNotPosted(RuntimeError):
    """The handoff was closed, but LiveDesk did not take its closing note yet."""
