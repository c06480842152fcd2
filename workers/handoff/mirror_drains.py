"""The LiveDesk mirror's drain jobs: one per user when few wait, the mirror outbox's ready list under
a backlog (``workers/batches.py``), as the LINE inbox does it.

A turn's mirror items are queued in ``HandoffService.finish_turn``'s transaction with, unless a
drain of the user is already coming (the outbox's drain-queued note), either a drain job of the
user's own or, when ``ENOUGH_QUEUED_DRAINS`` mirror drains already wait to start, a place on the
ready list (``livedesk:outbox-ready``), which every mirror drain works through after its own user.

The ``default`` RQ queue holds every kind of job (handoff steps, SMS, notices), so its length
says nothing about the mirror drains waiting in it: they are counted in ``livedesk:outbox-drains``
(``QueuedDrains``: job id -> enqueued at), added in the enqueue's transaction and removed by the
job as it starts (``HandoffService.drain_mirror``). The transaction that puts a user on the ready
list counts them again; if none waits any more (they all started in between), the user gets a
job after all (``TurnDrain.settle``). A user left on the list by a drain that died keeps the note,
so the sweeper starts their drain once it is ``DRAIN_LOST_AFTER`` old, as for a lost job.
"""

from __future__ import annotations

import redis

from bot.privacy import mask
from workers import job_names
from workers.batches import QueuedDrains
from workers.handoff.enqueue import enqueue_outbox_drain
from workers.handoff.store import mirror_outbox

#: Mirror drain jobs waiting to start beyond which a user is put on the ready list instead (more
#: than the processes that work the ``default`` queue, so that none idles).
ENOUGH_QUEUED_DRAINS = 4
BATCH_USERS = 100              # users one mirror drain takes from the ready list at most
QUEUED_DRAINS_KEY = "livedesk:outbox-drains"


def queued_mirror_drains(connection: redis.Redis) -> QueuedDrains:
    return QueuedDrains(connection, QUEUED_DRAINS_KEY)


def enqueue_drain_mirror(connection: redis.Redis, user: str, pipeline=None) -> None:
    """A drain job of the user's mirror outbox, its drain-queued note and its place in the count,
    together (``pipeline``: in the caller's transaction)."""
    if pipeline is None:
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            enqueue_drain_mirror(connection, user, pipe)
            pipe.execute()
        return
    job = enqueue_outbox_drain(connection, mirror_outbox(connection), job_names.HANDOFF_DRAIN_MIRROR, user, pipeline,
                               f"mirror to LiveDesk for {mask(user)}")
    queued_mirror_drains(connection).add(job.id, pipeline)


def queue_staff_note(connection: redis.Redis, user: str, item_id: str, text: str) -> None:
    """A private note for staff in the patient's LiveDesk conversation, in order with the mirrored chat
    (once per ``item_id``)."""
    if mirror_outbox(connection).append(user, item_id, {"kind": "note", "text": text}):
        enqueue_drain_mirror(connection, user)


class TurnDrain:
    """How one turn's mirror items get their drain: read first, then written in the turn's transaction,
    then settled after it (the three steps of ``HandoffService.finish_turn``)."""

    def __init__(self, connection: redis.Redis, user: str):
        self.redis = connection
        self.user = user
        self.outbox = mirror_outbox(connection)
        self.queued: float | None = None   # when a drain of the user was queued (None: none is coming)
        self.waiting = 0                   # mirror drain jobs waiting to start
        self.readied = False
        self._recount = self._still_queued = -1

    def read(self, reads) -> None:
        """In the first round trip: the user's drain-queued note, and how many mirror drains wait."""
        self.outbox.drain_note(self.user, reads)
        queued_mirror_drains(self.redis).count(reads)

    def take_answers(self, answers: list) -> None:
        """The two answers ``read`` added, taken off the front of ``answers``."""
        self.queued, self.waiting = answers.pop(0), int(answers.pop(0))

    def first(self, pipe) -> None:
        """First in the transaction: is the drain that was coming still coming (it clears its note as
        it starts, so the items appended in this transaction may be too late for one that started)."""
        if self.queued is not None:
            self._still_queued = len(pipe)
            self.outbox.still_queued(self.user, pipe)

    def last(self, pipe) -> None:
        """Last in the transaction (after the items): a drain job, or a place on the ready list."""
        if self.queued is not None:
            return
        if self.waiting < ENOUGH_QUEUED_DRAINS:
            enqueue_drain_mirror(self.redis, self.user, pipeline=pipe)
            return
        self.readied = True
        self.outbox.mark_ready(self.user, pipe)
        self._recount = len(pipe)
        queued_mirror_drains(self.redis).count(pipe)

    def settle(self, results: list) -> None:
        """After the transaction: a drain job after all where the one counted on started meanwhile."""
        if (self._still_queued >= 0 and not results[self._still_queued]) \
                or (self.readied and not results[self._recount]):
            enqueue_drain_mirror(self.redis, self.user)
