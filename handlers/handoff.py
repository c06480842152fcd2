"""Human handoff (issue 3): the conversation feature and the Redis state that web and workers share.

While a handoff is open the bot stays silent (an emergency still gets its 1669 answer),
every patient message and bot answer is mirrored into the patient's LiveDesk
conversation, and agents' replies come back through ``handlers/livedesk_webhook.py``.
Nothing here calls out over HTTP: Oho, LiveDesk and LINE pushes run in
``workers/handoff_jobs.py``, fed by per-user ordered outboxes kept in Redis.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from functools import cached_property
from typing import Callable

import redis
from redis.exceptions import LockError

from bot.dialog import Reply
from bot.handoff import (BANGKOK, MEDIA_TYPES, OFFER_POSTBACK, BusinessHours, HandoffState, handoff_closed_message,
                         handoff_declined_message, handoff_offer_message, handoff_started_message,
                         idle_deadline, is_end_phrase, no_agent_due, parse_business_hours, postback_action,
                         render_line_messages, render_patient_event, urgent_note)
from bot.privacy import mask
from handlers.verification import verification_in_progress
from integrations.errors import ProviderError
from workers.queues import DEFAULT_QUEUE, DEFAULT_RETRY, DEFAULT_TIMEOUT, enqueue, get_queue

log = logging.getLogger(__name__)

MARKER_TTL = 7 * 24 * 3600     # de-duplication markers: longer than any retry or redelivery
TRANSCRIPT_KEPT = 20
TRANSCRIPT_TTL = 7 * 24 * 3600
NOTE_TRANSCRIPT = 10
DRAIN_TIMEOUT = 180            # one drain may fetch and upload several images
LIVEDESK_SETTINGS = ("livedesk_api_key", "livedesk_api_secret", "livedesk_inbox_id")
REDACTED = "[ข้อความระหว่างยืนยันตัวตน (เบอร์โทร/รหัส OTP) ไม่แสดง / hidden: identity verification]"

# A safety net only: the idle check closes handoffs; a state untouched this long is surely dead.
STATE_TTL = 14 * 24 * 3600

# Open only if no handoff is open: the patient's turn and an agent's first reply may race.
_OPEN = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('EXPIRE', KEYS[1], {STATE_TTL})
return 1
"""
# Change or delete the state only if it is still the given session.
_UPDATE = f"""
if redis.call('HGET', KEYS[1], 'session') ~= ARGV[1] then return 0 end
if #ARGV == 1 then redis.call('DEL', KEYS[1]) return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], {STATE_TTL})
return 1
"""
_APPEND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def digest(*parts: object) -> str:
    """A short stable id for job ids and keys (RQ job ids allow letters, digits, _ and -)."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


class HandoffStore:
    """Per-user handoff state, unknown-answer streak, transcript and the LiveDesk mapping."""

    def __init__(self, connection: redis.Redis):
        self.redis = connection
        self._open = connection.register_script(_OPEN)
        self._update = connection.register_script(_UPDATE)

    # -- the open handoff ----------------------------------------------------------------
    def state(self, user: str) -> HandoffState | None:
        return HandoffState.from_fields(self.redis.hgetall(f"handoff:state:{user}"))

    def open(self, user: str, state: HandoffState) -> bool:
        """Open a handoff; False if one is already open (the existing one stays)."""
        flat = [x for pair in state.to_fields().items() for x in pair]
        return bool(self._open(keys=[f"handoff:state:{user}"], args=flat))

    def update(self, user: str, session: str, **values) -> bool:
        """Set fields of the open handoff if it is still ``session``."""
        fields = HandoffState(**{"session": session, "reason": "", "since": 0.0, **values}).to_fields()
        flat = [x for name in values for x in (name, fields[name])]
        return bool(self._update(keys=[f"handoff:state:{user}"], args=[session, *flat]))

    def close(self, user: str, session: str) -> bool:
        """Forget the open handoff if it is still ``session``: the bot answers again."""
        return bool(self._update(keys=[f"handoff:state:{user}"], args=[session]))

    # -- two unknown answers in a row -----------------------------------------------------
    def note_answer(self, user: str, event_id: str, intent: str | None) -> None:
        """Count consecutive ``unknown`` answers (once per event, even if the turn is retried)."""
        key = f"handoff:unknowns:{user}"
        if self.redis.hget(key, "event") == event_id.encode():
            return
        count = int(self.redis.hget(key, "count") or 0) + 1 if intent == "unknown" else 0
        self.redis.hset(key, mapping={"event": event_id, "count": count})
        self.redis.expire(key, 24 * 3600)

    def unknown_streak(self, user: str) -> int:
        return int(self.redis.hget(f"handoff:unknowns:{user}", "count") or 0)

    # -- transcript for the staff note ----------------------------------------------------
    def add_transcript(self, user: str, who: str, text: str, at: float) -> None:
        key = f"handoff:transcript:{user}"
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps({"who": who, "text": text[:1000], "at": at}, ensure_ascii=False))
        pipe.ltrim(key, -TRANSCRIPT_KEPT, -1)
        pipe.expire(key, TRANSCRIPT_TTL)
        pipe.execute()

    def transcript(self, user: str, last: int = NOTE_TRANSCRIPT) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(f"handoff:transcript:{user}", -last, -1)]

    # -- LiveDesk contact and conversation of a LINE user -----------------------------------
    def livedesk_ids(self, user: str) -> tuple[int | None, int | None]:
        """(contact id, conversation id) in LiveDesk, None where not created yet."""
        contact, conversation = self.redis.hmget(f"livedesk:user:{user}", "contact", "conversation")
        return (int(contact) if contact else None, int(conversation) if conversation else None)

    def set_livedesk_contact(self, user: str, contact_id: int) -> None:
        self.redis.hset(f"livedesk:user:{user}", "contact", contact_id)

    def set_conversation(self, user: str, conversation_id: int | None) -> None:
        if conversation_id is None:
            self.redis.hdel(f"livedesk:user:{user}", "conversation")
            return
        pipe = self.redis.pipeline()
        pipe.hset(f"livedesk:user:{user}", "conversation", conversation_id)
        # Kept after a conversation is replaced, so a late agent reply there still arrives.
        pipe.set(f"livedesk:conversation:{conversation_id}", user)
        pipe.execute()

    def user_of_conversation(self, conversation_id: object) -> str | None:
        found = self.redis.get(f"livedesk:conversation:{conversation_id}")
        return found.decode() if found else None

    # -- our own posts, so the webhook can tell them from agents' ---------------------------
    def remember_posted(self, message_id: object) -> None:
        self.redis.set(f"livedesk:posted:{message_id}", 1, ex=MARKER_TTL)

    def was_posted(self, message_id: object) -> bool:
        return bool(self.redis.exists(f"livedesk:posted:{message_id}"))

    def mark_in_flight(self, conversation_id: int, content: str, on: bool) -> None:
        """While a post is on its way its id is unknown, but its echo may already arrive."""
        key = f"livedesk:in-flight:{conversation_id}:{digest(content)}"
        if on:
            self.redis.set(key, 1, ex=300)
        else:
            self.redis.delete(key)

    def in_flight(self, conversation_id: object, content: str) -> bool:
        return bool(self.redis.exists(f"livedesk:in-flight:{conversation_id}:{digest(content)}"))

    def claim(self, name: str, ttl: int = MARKER_TTL) -> bool:
        """True the first time ``name`` is claimed (duplicate deliveries, once-only steps)."""
        return bool(self.redis.set(f"handoff:claim:{name}", 1, nx=True, ex=ttl))

    def done(self, name: str) -> bool:
        return bool(self.redis.exists(f"handoff:claim:{name}"))


class UserOutbox:
    """Per-user ordered work (LiveDesk posts, pushes to the patient) that survives failures.

    Items leave the list only after they are handled; a retryable failure keeps the
    item first in line (the job retries with backoff; the next append retries too),
    one that retrying cannot fix is set aside in ``<name>:dead`` so that it does not
    block the user's later items. One drain per user at a time (a lock); others return.
    """

    def __init__(self, connection: redis.Redis, name: str):
        self.redis = connection
        self.name = name
        self._append = connection.register_script(_APPEND)

    def append(self, user: str, item_id: str, item: dict) -> bool:
        """Queue ``item`` once per ``item_id`` (a retried turn does not queue it twice)."""
        payload = json.dumps({**item, "item_id": item_id}, ensure_ascii=False, separators=(",", ":"))
        return bool(self._append(keys=[f"{self.name}:queued:{item_id}", f"{self.name}:{user}"],
                                 args=[MARKER_TTL, payload]))

    def has_pending(self, user: str) -> bool:
        return bool(self.redis.llen(f"{self.name}:{user}"))

    def pending(self, user: str) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(f"{self.name}:{user}", 0, -1)]

    def drain(self, user: str, handle: Callable[[dict], None], lock_timeout: int = DRAIN_TIMEOUT) -> int:
        """Handle the user's items in order; return how many were handled."""
        key = f"{self.name}:{user}"
        lock = self.redis.lock(f"{self.name}-lock:{user}", timeout=lock_timeout)
        handled, set_aside = 0, 0
        while lock.acquire(blocking=False):
            try:
                while (raw := self.redis.lindex(key, 0)) is not None:
                    try:
                        handle(json.loads(raw))
                    except (ProviderError, ValueError, KeyError, TypeError) as exc:
                        # Only what a retry cannot fix; anything else (Redis, a job timeout) propagates.
                        if isinstance(exc, ProviderError) and exc.retryable:
                            raise
                        log.error("%s item of %s set aside: %s", self.name, mask(user),
                                  exc if isinstance(exc, ProviderError) else type(exc).__name__)
                        self.redis.rpush(f"{self.name}:dead", raw)
                        set_aside += 1
                    else:
                        handled += 1
                    self.redis.lpop(key)
                    lock.reacquire()
            finally:
                try:
                    lock.release()
                except LockError:
                    log.warning("%s lock of %s expired while draining", self.name, mask(user))
            if not self.redis.llen(key):  # checked after releasing, as in workers/inbox.py
                break
        if set_aside:
            raise OutboxItemSetAside(f"{set_aside} {self.name} item(s) of {mask(user)} set aside in {self.name}:dead")
        return handled


class OutboxItemSetAside(Exception):
    """Some items could not be handled and were set aside; the job fails without retry."""


def mirror_outbox(connection: redis.Redis) -> UserOutbox:
    """What goes to the patient's LiveDesk conversation."""
    return UserOutbox(connection, "livedesk:outbox")


def patient_outbox(connection: redis.Redis) -> UserOutbox:
    """Agents' messages on their way to the patient on LINE."""
    return UserOutbox(connection, "handoff:to-patient")


def livedesk_configured(settings) -> bool:
    return all(getattr(settings, name) not in (None, "") for name in LIVEDESK_SETTINGS)


# -- enqueueing (job functions are named as strings: the worker module imports this one) -----

def enqueue_drain_mirror(connection: redis.Redis, user: str) -> None:
    enqueue(connection, "workers.handoff_jobs.drain_mirror", user, description=f"mirror to LiveDesk for {mask(user)}",
            timeout=DRAIN_TIMEOUT)


def enqueue_drain_to_patient(connection: redis.Redis, user: str) -> None:
    enqueue(connection, "workers.handoff_jobs.drain_to_patient", user,
            description=f"agent replies to {mask(user)}", timeout=DRAIN_TIMEOUT)


def enqueue_sync_oho(connection: redis.Redis, user: str, session: str) -> None:
    enqueue(connection, "workers.handoff_jobs.request_agent", user, session,
            description=f"Oho request-agent for {mask(user)}")


def enqueue_close(connection: redis.Redis, user: str, session: str, reason: str, notify: bool) -> bool:
    """Queue the closing of ``session`` once, however many times it is asked for."""
    if not HandoffStore(connection).claim(f"close:{session}"):
        return False
    enqueue(connection, "workers.handoff_jobs.close_handoff", user, session, reason, notify,
            description=f"close handoff of {mask(user)} ({reason})")
    return True


def schedule(connection: redis.Redis, at: float, func: str, *args, description: str, job_id: str | None) -> None:
    """``enqueue`` for later (the worker runs RQ's scheduler), with the same defaults."""
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc)
    get_queue(connection, DEFAULT_QUEUE).enqueue_at(
        when, func, *args, job_id=job_id, description=description, job_timeout=DEFAULT_TIMEOUT,
        retry=DEFAULT_RETRY, result_ttl=3600, failure_ttl=14 * 24 * 3600)


def schedule_no_agent_check(connection, user: str, state: HandoffState, hours: BusinessHours, minutes: int) -> None:
    schedule(connection, no_agent_due(state.since, hours, minutes), "workers.handoff_jobs.check_no_agent",
             user, state.session, description=f"no-agent check for {mask(user)}",
             job_id=f"handoff-no-agent-{digest(state.session)}")


def schedule_idle_check(connection, user: str, state: HandoffState, hours: BusinessHours, minutes: int) -> None:
    # No fixed job id: a check that finds activity schedules the next one while it is itself running.
    schedule(connection, idle_deadline(state, hours, minutes), "workers.handoff_jobs.check_idle", user,
             state.session, description=f"idle check for {mask(user)}", job_id=None)


# -- the conversation feature -------------------------------------------------------------------

class HandoffFeature:
    """Decides when to hand a patient to staff, keeps the bot silent meanwhile, mirrors every turn.

    Built only when LiveDesk is configured; ``handoff`` False means mirror only
    (Oho or the webhook token is missing): the knowledge base then answers "staff" itself.
    """

    def __init__(self, services, *, hours: BusinessHours, handoff: bool, clock: Callable[[], float] = time.time):
        self.services = services
        self.settings = services.settings
        self.hours = hours
        self.handoff = handoff
        self.clock = clock

    @property
    def redis(self) -> redis.Redis:
        return self.services.redis

    @cached_property
    def store(self) -> HandoffStore:
        return HandoffStore(self.redis)

    def on_turn(self, turn) -> Reply | None:
        if not self.handoff or not _one_to_one(turn):
            return None
        state = self.store.state(turn.user_id)
        if state is not None:
            return self._while_open(turn, state)
        action = postback_action(turn.postback) if turn.kind == "postback" else None
        intent = turn.proposed.intent if turn.proposed else None
        if action == "handoff":
            return self._start(turn, "unknown" if turn.postback == OFFER_POSTBACK else "button")
        if action in ("handoff_decline", "handoff_end"):
            return Reply("handoff_declined", [handoff_declined_message(self._menu())])
        if intent == "emergency":
            return self._start(turn, "emergency", urgent=True)
        if intent == "staff":
            return self._start(turn, "asked")
        if intent == "unknown" and turn.kind == "text" and self.store.unknown_streak(turn.user_id) >= 1:
            return Reply("handoff_offer", [handoff_offer_message()])
        return None

    def after_send(self, turn, sent: Reply | None) -> None:
        if not _one_to_one(turn):
            return
        user, now = turn.user_id, self.clock()
        self._mirror_patient(turn, now)
        if sent is not None:
            self._mirror(user, f"out:{turn.event_id}", {"kind": "text", "direction": "outgoing",
                                                        "text": render_line_messages(sent.messages)}, "bot", now)
        if self.handoff:
            if sent is not None:
                self.store.note_answer(user, turn.event_id, sent.intent)
            state = self.store.state(user)
            if state is not None:
                self.store.update(user, state.session, last_patient=now)
            if turn.kind != "unfollow":
                self._ensure_oho_contact(user)
        if mirror_outbox(self.redis).has_pending(user):
            enqueue_drain_mirror(self.redis, user)

    # -- internals -----------------------------------------------------------------------------
    def _while_open(self, turn, state: HandoffState) -> Reply:
        user = turn.user_id
        if state.session == turn.event_id:  # this very turn opened it: a retried job answers the same
            return self._opening_reply(turn, state)
        if turn.kind == "unfollow":
            self.store.close(user, state.session)
            enqueue_close(self.redis, user, state.session, "unfollow", notify=False)
            return Reply("handoff_closed", [])
        if turn.proposed is not None and turn.proposed.intent == "emergency":
            if not state.urgent and self.store.update(user, state.session, urgent=True):
                self._mirror_patient(turn, self.clock())
                self._mirror(user, f"urgent:{turn.event_id}", {"kind": "note", "text": urgent_note()})
                enqueue_sync_oho(self.redis, user, state.session)
            return turn.proposed  # 1669 always reaches the patient; no later feature may swallow it
        if is_end_phrase(turn.text) or (turn.kind == "postback" and postback_action(turn.postback) == "handoff_end"):
            self.store.close(user, state.session)
            enqueue_close(self.redis, user, state.session, "patient", notify=False)
            return Reply("handoff_closed", [handoff_closed_message("patient", self._menu())])
        return Reply("handoff_open", [])  # staff are answering: the bot keeps quiet

    def _start(self, turn, reason: str, urgent: bool = False) -> Reply:
        user, now = turn.user_id, self.clock()
        state = HandoffState(session=turn.event_id, reason=reason, since=now, urgent=urgent, last_patient=now)
        if not self.store.open(user, state):  # an agent opened one a moment ago
            return self._while_open(turn, self.store.state(user) or state)
        # The patient's message first, then the note (with it in the transcript): LiveDesk reads in order.
        self._mirror_patient(turn, now)
        self._mirror(user, f"note:{state.session}", {"kind": "note", "note": {
            "reason": reason, "urgent": urgent, "opened_at": now, "transcript": self.store.transcript(user)}})
        enqueue_sync_oho(self.redis, user, state.session)
        schedule_no_agent_check(self.redis, user, state, self.hours, self.settings.handoff_no_agent_minutes)
        schedule_idle_check(self.redis, user, state, self.hours, self.settings.handoff_idle_minutes)
        log.info("handoff opened for %s (%s)", mask(user), reason)
        return self._opening_reply(turn, state)

    def _opening_reply(self, turn, state: HandoffState) -> Reply:
        notice = handoff_started_message(dt.datetime.fromtimestamp(state.since, BANGKOK), self.hours,
                                         urgent=state.urgent)
        if state.reason == "emergency" and turn.proposed is not None:
            first = list(turn.proposed.messages)  # the 1669 answer first, always
            return Reply("emergency", first + [notice] if len(first) < 5 else first)
        return Reply("handoff_started", [notice])

    def _mirror_patient(self, turn, now: float) -> None:
        if turn.kind in MEDIA_TYPES:
            message = turn.event.get("message") or {}
            item = {"kind": "media", "direction": "incoming", "message_id": str(message.get("id") or ""),
                    "media": turn.kind, "file_name": message.get("fileName")}
            self._mirror(turn.user_id, f"in:{turn.event_id}", item, "patient", now, f"[{turn.kind}]")
        elif text := render_patient_event(turn.event):
            if turn.kind == "text" and verification_in_progress(self.redis, turn.user_id):
                text = REDACTED  # a phone number or an OTP code: not for LiveDesk, not for the note
            item = {"kind": "text", "direction": "incoming", "text": text}
            self._mirror(turn.user_id, f"in:{turn.event_id}", item, "patient", now)

    def _mirror(self, user: str, item_id: str, item: dict, who: str | None = None, now: float = 0.0,
                transcript_text: str | None = None) -> None:
        """Queue an item for LiveDesk once; the first time, also keep it for the staff note."""
        if item.get("kind") == "text" and not item.get("text"):
            return
        if mirror_outbox(self.redis).append(user, item_id, item) and who and self.handoff:
            self.store.add_transcript(user, who, transcript_text or item["text"], now)

    def _ensure_oho_contact(self, user: str) -> None:
        """On follow or a first message: the contact record staff see in Oho (once per user)."""
        if self.redis.exists(f"oho:contact:{user}") or not self.store.claim(f"oho-contact:{user}", ttl=3600):
            return
        enqueue(self.redis, "workers.handoff_jobs.ensure_oho_contact", user,
                description=f"Oho contact for {mask(user)}")

    def _menu(self) -> dict | None:
        return getattr(self.services.knowledge, "menu", None)


def _one_to_one(turn) -> bool:
    return bool(turn.user_id) and (turn.event.get("source") or {}).get("type", "user") == "user"


def build_handoff_feature(services):
    """The handoff feature; mirror-only without Oho or the webhook token; None without LiveDesk."""
    settings = services.settings
    if not livedesk_configured(settings):
        return None
    handoff = not settings.missing_for("handoff")
    if not handoff:
        log.info("handoff not configured (%s): mirroring to LiveDesk only",
                 ", ".join(settings.missing_for("handoff")))
    return HandoffFeature(services, hours=parse_business_hours(settings.business_hours), handoff=handoff)
