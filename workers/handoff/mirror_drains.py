"""The LiveDesk mirror's drain jobs: one per user when few wait, the mirror outbox's ready list under
a backlog (``workers/batches.py``), as the LINE inbox does it; and what a drain does (``MirrorDrain``).

A turn's mirror items are queued in ``HandoffService.finish_turn``'s transaction with, unless a
drain of the user is already coming (the outbox's drain-queued note), either a drain job of the
user's own or, when ``ENOUGH_QUEUED_DRAINS`` mirror drains already wait to start (this hospital's;
or, once one of its own waits, every hospital's), a place on the ready list
(``livedesk:outbox-ready``), which every mirror drain works through after its own user.

The ``default`` RQ queue holds every kind of job (handoff steps, SMS, notices), so its length
says nothing about the mirror drains waiting in it: they are counted in ``livedesk:outbox-drains``
(``QueuedDrains``: job id -> enqueued at), added in the enqueue's transaction and removed by the
job as it starts (``MirrorDrain.run``). The transaction that puts a user on the ready
list counts this hospital's again (only its own drains take its list; the others' may all still
wait); if none waits any more (they all started in between), the user gets a job after all
(``TurnDrain.settle``). A user left on the list by a drain that died keeps the note, so the
sweeper starts their drain once it is ``DRAIN_LOST_AFTER`` old, as for a lost job (with other
hospitals behind, one such drain of the hospital's own is enough to put users on its list: the
sweeper bounds their wait all the same).
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import redis

from bot.privacy import mask
from integrations.errors import ProviderError
from workers import job_names
from workers.batches import QueuedDrains, drain_batch
from workers.handoff.enqueue import DRAIN_BUDGET, enqueue_oho_contact, enqueue_outbox_drain
from workers.handoff.store import mirror_outbox
from workers.oho_contacts import OhoContacts, claim_wanted_contact, forget_want
from workers.runtime import stopping

log = logging.getLogger(__name__)

#: Mirror drain jobs waiting to start beyond which a user is put on the ready list instead (more
#: than the processes that work the ``default`` queue, so that none idles).
ENOUGH_QUEUED_DRAINS = 4
BATCH_USERS = 100              # users one mirror drain takes from the ready list at most
QUEUED_DRAINS_KEY = "livedesk:outbox-drains"


def queued_mirror_drains(connection: redis.Redis, *, prefix: str = "") -> QueuedDrains:
    return QueuedDrains(connection, prefix + QUEUED_DRAINS_KEY)


def enqueue_drain_mirror(connection: redis.Redis, user: str, pipeline=None, *, prefix: str = "") -> None:
    """A drain job of the user's mirror outbox, its drain-queued note and its place in the count,
    together (``pipeline``: in the caller's transaction); ``prefix``: the hospital's."""
    if pipeline is None:
        with connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            enqueue_drain_mirror(connection, user, pipe, prefix=prefix)
            pipe.execute()
        return
    job = enqueue_outbox_drain(connection, mirror_outbox(connection, prefix=prefix), job_names.HANDOFF_DRAIN_MIRROR,
                               user, pipeline, f"mirror to LiveDesk for {mask(user)}", prefix=prefix)
    queued_mirror_drains(connection, prefix=prefix).add(job.id, pipeline)


def queue_staff_note(connection: redis.Redis, user: str, item_id: str, text: str, *, prefix: str = "") -> None:
    """A private note for staff in the patient's LiveDesk conversation, in order with the mirrored chat
    (once per ``item_id``)."""
    if mirror_outbox(connection, prefix=prefix).append(user, item_id, {"kind": "note", "text": text}):
        enqueue_drain_mirror(connection, user, prefix=prefix)


class TurnDrain:
    """How one turn's mirror items get their drain: read first, then written in the turn's transaction,
    then settled after it (the three steps of ``HandoffService.finish_turn``)."""

    def __init__(self, connection: redis.Redis, user: str, *, prefix: str = "", other_prefixes: Sequence[str] = ()):
        """``other_prefixes``: the other hospitals', whose waiting mirror drains count too once one of
        this hospital's waits (behind as a whole, each hospital batches its users)."""
        self.redis = connection
        self.user = user
        self.prefix = prefix
        #: The other hospitals' counts of waiting mirror drains (as the inbox's ``elsewhere``: their keys).
        self.elsewhere = [queued_mirror_drains(connection, prefix=other).key for other in other_prefixes]
        self.outbox = mirror_outbox(connection, prefix=prefix)
        self.queued_drains = queued_mirror_drains(connection, prefix=prefix)
        self.queued: float | None = None   # when a drain of the user was queued (None: none is coming)
        self.waiting = 0                   # this hospital's mirror drain jobs waiting to start
        self.waiting_everywhere = 0        # every hospital's
        self.readied = False
        self._recount = self._still_queued = -1

    def read(self, reads) -> None:
        """In the first round trip: the user's drain-queued note, and how many mirror drains wait."""
        self.outbox.drain_note(self.user, reads)
        self.queued_drains.count_with(self.elsewhere, reads)

    def take_answers(self, answers: list) -> None:
        """The two answers ``read`` added, taken off the front of ``answers``."""
        self.queued = answers.pop(0)
        self.waiting, self.waiting_everywhere = (int(n) for n in answers.pop(0))

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
        behind = self.waiting >= ENOUGH_QUEUED_DRAINS or \
            (self.waiting >= 1 and self.waiting_everywhere >= ENOUGH_QUEUED_DRAINS)
        if not behind:
            enqueue_drain_mirror(self.redis, self.user, pipeline=pipe, prefix=self.prefix)
            return
        self.readied = True
        self.outbox.mark_ready(self.user, pipe)
        self._recount = len(pipe)
        self.queued_drains.count(pipe)  # this hospital's only: only its own drains take its list

    def settle(self, results: list) -> None:
        """After the transaction: a drain job after all where the one counted on started meanwhile."""
        if (self._still_queued >= 0 and not results[self._still_queued]) \
                or (self.readied and not results[self._recount]):
            enqueue_drain_mirror(self.redis, self.user, prefix=self.prefix)


class MirrorDrain:
    """What a mirror drain job does: post the user's queued messages and notes to their LiveDesk
    conversation, in order, then those of users on the mirror's ready list (``workers/batches.py``);
    after each user's items, the Oho contact a turn asked for (``want_contact``)."""

    def __init__(self, connection: redis.Redis, post: Callable[[str, dict], None], oho_contacts: OhoContacts, *,
                 prefix: str = ""):
        """``post(user, item)`` posts one item to the user's LiveDesk conversation."""
        self.redis = connection
        self.prefix = prefix
        self.outbox = mirror_outbox(connection, prefix=prefix)
        self.post = post
        self.oho_contacts = oho_contacts

    def run(self, user: str, job_id: str | None = None) -> int:
        """Drain ``user``, then users from the ready list; how many items were posted. ``job_id``:
        this drain's RQ job, which no longer waits (it leaves the count of waiting mirror drains)."""
        if job_id is not None:
            queued_mirror_drains(self.redis, prefix=self.prefix).started(job_id)
        return drain_batch(self.outbox, user, self, budget=DRAIN_BUDGET, batch_users=BATCH_USERS,
                           should_stop=stopping)

    def drain_user(self, user: str, seconds_left: float) -> int:
        """One user's part of ``run`` (``workers.batches.UserDrains``): their items, then their contact."""
        try:
            return self.outbox.drain_and_hand_over(user, lambda item: self.post(user, item), self.hand_over,
                                                   budget_seconds=seconds_left, should_stop=stopping)
        finally:
            self._contact_wanted(user)

    def hand_over(self, user: str) -> None:
        enqueue_drain_mirror(self.redis, user, prefix=self.prefix)

    def _contact_wanted(self, user: str) -> None:
        """Make the Oho contact a turn asked for (``want_contact``). After the user's items, so that
        Oho never delays them (and, the drain-queued note being cleared by then, a want written by a
        turn this drain covers is seen). Never raises: a retryable failure (or a surprise) hands the
        contact to the ``ensure_oho_contact`` job and its RQ retries; a refusal retrying cannot fix is
        logged, as the job would have failed at once."""
        try:
            if not claim_wanted_contact(self.redis, user, prefix=self.prefix):
                return
        except Exception:  # Redis: the want stays, for the next drain or the sweeper
            log.warning("Oho contact want of %s not read", mask(user), exc_info=True)
            return
        job = False
        try:
            self.oho_contacts.ensure(user)
        except ProviderError as exc:
            job = exc.retryable
            log.warning("Oho contact of %s not created (%s)%s", mask(user), exc,
                        "; retried by a job" if job else "")
        except Exception as exc:  # its message may quote the patient's profile: only the type is logged
            job = True
            log.warning("Oho contact of %s not created (%s); retried by a job", mask(user), type(exc).__name__)
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.multi()
                if job:
                    enqueue_oho_contact(self.redis, user, pipeline=pipe, prefix=self.prefix)
                forget_want(user, pipe, prefix=self.prefix)
                pipe.execute()
        except Exception:  # the want stays (taken for TAKING_TTL): the sweeper hands it to the job
            log.warning("Oho contact want of %s not settled", mask(user), exc_info=True)
