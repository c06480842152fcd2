"""Erasing what the service keeps about one LINE user (PDPA, the data subject's right to erasure):
on unfollow (``UnfollowErasure``, a conversation feature) and on request (``flask pdpa erase``).

Erased: the verification state, its code requests and typed codes, the verified number; the handoff
state, the unknown-answer streak, the staff-note transcript; agents' replies still on their way to
the patient; the Oho contact marker; the user's share of the unanswered-question counts (their
masked phrasings, taken off each day's count: ``workers.unanswered``); and, on request, the user's
waiting LINE events, the mirror outbox, the LiveDesk contact and every conversation mapping (the
current conversation and those replaced before it), the user's set-aside items in every
dead-letter list, and RQ's records of the jobs whose arguments name the user
(``drain_inbox(["U…"])`` and the like: finished, failed, canceled, scheduled and deferred ones at
once; queued and running ones once they have run, waited for up to ``JOBS_WAIT`` seconds, since
they act for other patients too: a drain takes others from its ready list).

Jobs keep the LINE user id in their arguments, and the erasure deletes their records, rather than
job arguments naming users by a reference resolved from Redis: that would cost every job a round
trip (and the webhook a key), for records that an erasure, a rare staff command, can find and
delete.

Kept, because another duty requires it (each expires on its own):
- the SMS send budgets and the wrong-code lockout (``verify:sends:*``, ``verify:wrong:*``, 24 h at
  most; named by keyed digests of the number and the user, no number and no user id): protection
  against SMS pumping and code guessing, which an unfollow and a new follow must not reset;
- on unfollow only, the LiveDesk mappings (ids, no words; each then expires in ``MAPPING_TTL`` at
  most, as they do anyway from the last post to the conversation) and the mirror outbox: the chat
  staff had with the patient is the hospital's record and is filed in LiveDesk, where its own
  retention applies (ask the hospital's DPO);
- markers naming only LINE event or message ids (``line:seen:*``, ``line:answered:*``,
  ``handoff:claim:*``): they stop an event from being answered twice and expire in a week.

Within one hospital (``prefix``): its keys, its queues' jobs. One LINE user id may be a patient of two
hospitals (LINE user ids are per provider, not per channel); an unfollow of one hospital's account, or
its staff's erasure, leaves the other's record alone.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

import redis as redis_lib
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.privacy import mask
from workers import job_names
from workers.handoff.store import CONVERSATION_PREFIX, MAPPING_TTL, HandoffKeys, mirror_outbox, patient_outbox
from workers.line.inbox import line_inbox
from workers.oho_contacts import contact_key, taking_key, wanted_key
from workers.queues import QUEUE_NAMES, get_queue
from workers.unanswered import forget_user as forget_unanswered
from workers.unanswered import user_key as unanswered_user_key
from workers.verification.store import VerifyKeys

log = logging.getLogger(__name__)

#: How long ``flask pdpa erase`` waits for the user's queued and running jobs to have run (a drain
#: works 20 s at most) before it deletes their records.
JOBS_WAIT = 60
JOB_BATCH = 500


def erase_user(connection: redis_lib.Redis, user: str, *, on_request: bool, jobs_wait: float = JOBS_WAIT,
               sleep: Callable[[float], None] = time.sleep, prefix: str = "") -> list[str]:
    """Delete what the hospital (``prefix``) stores about ``user``; returns what was removed, one line
    each (no values).

    ``on_request`` (``flask pdpa erase``): everything listed in the module docstring, the user's job
    records last (waiting up to ``jobs_wait`` seconds for queued and running ones). Otherwise (an
    unfollow, run inside the user's own LINE drain): the user's inbox and the staff record stay.
    """
    removed: list[str] = []

    def drop(*keys: str, what: str) -> None:
        found = [key for key in keys if connection.exists(key)]
        if found:
            connection.delete(*found)
            removed.append(f"{what} ({len(found)} key{'s' if len(found) > 1 else ''})")

    verify, handoff = VerifyKeys(prefix), HandoffKeys(prefix)
    request_ids = _verification_requests(connection, user, prefix)
    pins = [key.decode() for rid in request_ids for key in connection.scan_iter(verify.pin(rid, "*"))]
    drop(verify.state(user), what="verification state")
    drop(*[verify.request(rid) for rid in request_ids], *[verify.code(rid) for rid in request_ids],
         *pins, what="OTP requests, codes and typed codes")
    drop(verify.phone(user), what="verified phone number")
    drop(handoff.state(user), handoff.unknowns(user), what="handoff state")
    drop(handoff.transcript(user), what="staff-note transcript")
    drop(*_queue_keys(patient_outbox(connection, prefix=prefix), user), what="agent replies waiting for the patient")
    drop(contact_key(user, prefix), handoff.claim(f"oho-contact:{user}"), taking_key(user, prefix),
         what="Oho contact marker")
    if connection.zrem(wanted_key(prefix), user):
        removed.append("Oho contact asked for")
    unanswered = forget_unanswered(connection, user, prefix=prefix)
    if unanswered:
        removed.append(f"questions the bot could not answer, taken off the counts ({unanswered})")
    mappings = [handoff.livedesk_user(user), *_conversation_keys(connection, user, prefix)]
    if on_request:
        drop(*_queue_keys(line_inbox(connection, prefix=prefix), user), what="LINE events waiting to be answered")
        drop(*_queue_keys(mirror_outbox(connection, prefix=prefix), user), what="messages waiting for LiveDesk")
        drop(*mappings, what="LiveDesk contact mapping")
        dead = _drop_dead_events(connection, user, prefix)
        if dead:
            removed.append(f"set-aside LINE events ({dead})")
        deleted, left = _drop_jobs(connection, user, jobs_wait, sleep, prefix)
        if deleted or left:
            removed.append(f"job records naming the user ({deleted})" + (
                f"; {left} more still queued or running: run the erasure again in a minute" if left else ""))
    else:
        for key in mappings:
            if not 0 < connection.ttl(key) <= MAPPING_TTL:  # never lengthened; one without an expiry gets one
                connection.expire(key, MAPPING_TTL)
    log.info("erased what is stored about %s (%s): %d kind(s)", mask(user), "on request" if on_request else
             "unfollow", len(removed))
    return removed


def stored_about(connection: redis_lib.Redis, user: str, *, prefix: str = "") -> list[str]:
    """What ``erase_user(…, on_request=True, prefix=prefix)`` would remove, one line per kind with its
    count (no values), read only: shown to staff before they confirm."""
    def count(*keys: str) -> int:
        return connection.exists(*keys) if keys else 0

    def items(queue) -> int:
        return queue.length(user)

    verify, handoff = VerifyKeys(prefix), HandoffKeys(prefix)
    request_ids = _verification_requests(connection, user, prefix)
    queues = [queue(connection, prefix=prefix) for queue in (line_inbox, mirror_outbox, patient_outbox)]
    kinds = [
        ("verification state", count(verify.state(user))),
        ("OTP requests", len(request_ids)),
        ("verified phone number", count(verify.phone(user))),
        ("handoff state", count(handoff.state(user), handoff.unknowns(user))),
        ("staff-note transcript lines", connection.llen(handoff.transcript(user))),
        ("agent replies waiting for the patient", items(queues[2])),
        ("LINE events waiting to be answered", items(queues[0])),
        ("messages waiting for LiveDesk", items(queues[1])),
        ("LiveDesk contact mapping", count(handoff.livedesk_user(user), *_conversation_keys(connection, user, prefix))),
        ("Oho contact marker", count(contact_key(user, prefix), taking_key(user, prefix))
         + (connection.zscore(wanted_key(prefix), user) is not None)),
        ("questions the bot could not answer", connection.hlen(unanswered_user_key(user, prefix))),
        ("set-aside items", sum(_dead_of(queue, user) for queue in queues)),
        ("job records naming the user", sum(1 for _ in _jobs_naming(connection, user, prefix))),
    ]
    return [f"{what}: {number}" for what, number in kinds if number]


def _dead_of(queue, user: str) -> int:
    return sum(1 for dead in queue.dead.items() if dead.user == user)


def _verification_requests(connection: redis_lib.Redis, user: str, prefix: str) -> list[str]:
    """The ids of the user's OTP requests at the hospital (each lives 24 h, so there are few keys to look
    at). A hospital's prefix holds no glob character (its id is [a-z0-9-]): the scan stays in it."""
    found = []
    for key in connection.scan_iter(VerifyKeys(prefix).request("*"), count=500):
        if connection.hget(key, "user") == user.encode():
            found.append(key.decode().rsplit(":", 1)[1])
    return found


def _conversation_keys(connection: redis_lib.Redis, user: str, prefix: str) -> list[str]:
    """Every ``livedesk:conversation:<id>`` of the hospital naming ``user``: the current conversation and
    those replaced before it (a scan, so that mappings written before they expired are found too)."""
    keys = list(connection.scan_iter(f"{prefix}{CONVERSATION_PREFIX}*", count=1000))
    owners = [owner for start in range(0, len(keys), 1000) for owner in connection.mget(keys[start:start + 1000])]
    return [key.decode() for key, owner in zip(keys, owners) if owner == user.encode()]


def _queue_keys(queue, user: str) -> list[str]:
    queue.forget_user(user)
    return queue.user_keys(user)


def _drop_dead_events(connection: redis_lib.Redis, user: str, prefix: str) -> int:
    """Remove the user's set-aside items: LINE events, LiveDesk mirror items and agents' replies."""
    return sum(queue(connection, prefix=prefix).dead.forget(user)
               for queue in (line_inbox, mirror_outbox, patient_outbox))


#: Jobs that also work for other patients (a drain takes users from its ready list): never deleted
#: before they have run.
_SHARED = frozenset((job_names.LINE_DRAIN_INBOX, job_names.HANDOFF_DRAIN_MIRROR, job_names.HANDOFF_DRAIN_TO_PATIENT))


def _drop_jobs(connection: redis_lib.Redis, user: str, wait: float,
               sleep: Callable[[float], None], prefix: str) -> tuple[int, int]:
    """Delete RQ's records of the jobs whose arguments name ``user``; (deleted, left running or queued).

    Finished, failed and canceled jobs are records only; scheduled and deferred ones (handoff timers,
    retries) would act for a user who is gone: both go at once. Queued jobs other than drains go too
    (an Oho contact for a user who is gone). Queued drains and running jobs are waited for, up to
    ``wait`` seconds, and their records deleted once they have run.
    """
    deleted = 0
    deadline = time.monotonic() + wait
    while True:
        pending = []
        for job, where in _jobs_naming(connection, user, prefix):
            if where == "started" or (where == "queued" and job.func_name in _SHARED):
                pending.append(job)
                continue
            job.delete(remove_from_queue=True)
            deleted += 1
        if not pending or time.monotonic() >= deadline:
            return deleted, len(pending)
        sleep(0.5)


def _jobs_naming(connection: redis_lib.Redis, user: str, prefix: str) -> Iterable[tuple[Job, str]]:
    """Every job of every queue of the hospital (waiting and in each registry) whose arguments name
    ``user``, and where it is (``queued``, ``started``, ``finished``, …)."""
    for name in QUEUE_NAMES:
        queue = get_queue(connection, name, prefix=prefix)
        places = {"queued": queue.get_job_ids()}
        for where in ("started", "finished", "failed", "scheduled", "deferred", "canceled"):
            registry = getattr(queue, f"{where}_job_registry")
            places[where] = registry.get_job_ids(cleanup=False)
        for where, ids in places.items():
            for start in range(0, len(ids), JOB_BATCH):
                for job in Job.fetch_many(ids[start:start + JOB_BATCH], connection, serializer=JSONSerializer):
                    if job is not None and _names(job, user):
                        yield job, where


def _names(job: Job, user: str) -> bool:
    try:
        arguments = [*job.args, *job.kwargs.values()]
    except (DeserializationError, ValueError, TypeError):
        return False  # not one of ours (another serializer): it cannot be read, nor name anyone
    return any(_mentions(value, user) for value in arguments)


def _mentions(value, user: str) -> bool:
    if isinstance(value, str):
        return value == user
    if isinstance(value, dict):
        return any(_mentions(v, user) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, user) for v in value)
    return False


class UnfollowErasure:
    """The conversation feature that erases a user who blocked the account (after every other
    feature has seen the turn: the handoff closes first)."""

    def __init__(self, connection: redis_lib.Redis, *, prefix: str):
        """``prefix``: the hospital whose account was blocked (its record only is erased)."""
        self.redis = connection
        self.prefix = prefix

    def on_turn(self, turn, proposed, reads):
        return None

    def after_send(self, turn, proposed, sent, reads) -> None:
        if turn.kind == "unfollow" and turn.user_id:
            erase_user(self.redis, turn.user_id, on_request=False, prefix=self.prefix)
