"""The human handoff's shared Redis state: ``HandoffStore`` and the two per-user outboxes.

One module that names every key (the ``*_key`` functions below), so the conversation feature,
the service, the LiveDesk mirror and the webhook all agree on them. Queueing the handoff's jobs
is ``workers/handoff/enqueue.py``.

Redis (keys hold LINE user ids and LiveDesk ids, never a phone number or message text; each starts
with the hospital's prefix, ``HandoffKeys``: two hospitals' patients and LiveDesk ids never meet):
  handoff:state:<user>             hash HandoffState: the open handoff (absent = the bot answers)
  handoff:open                     sorted set: user -> since, the index of open handoffs (members whose
                                   state expired are pruned by ``open_handoffs``)
  handoff:unknowns:<user>          the streak of unknown answers                               1 d
  handoff:transcript:<user>        the last lines, for the staff note                          7 d
  handoff:transcribed:<item id>    "this line is in the transcript"                            7 d
  handoff:claim:<name>             once-only steps (close, pushes, posts)                      7 d
  handoff:redact:<event id>        "0"/"1": this turn's text is hidden from LiveDesk (decided once) 7 d
  livedesk:user:<user>             hash: the user's LiveDesk contact and conversation ids       30 d *
  livedesk:conversation:<id>       the LINE user of a LiveDesk conversation                    30 d *
  livedesk:posted:<message id>     our own posts, to know their webhook echo                   7 d
  livedesk:read-back:probe         the last conversation LiveDesk took a post of ours in       7 d
                                   (known to exist: read-back's probe, workers/handoff/guard.py)
  livedesk:in-flight:<id>:<hmac>   a post on its way (its id unknown yet)                      5 min
  livedesk:failed:<item id>        hash FailedPost: an item's post LiveDesk marked failed      7 d
  livedesk:attempt:<item id>       hash: a post sent, its answer not seen (attempts.py)       1 d
  livedesk:outbox:<user>           UserQueue: what goes to LiveDesk, in order
  livedesk:outbox-drains           mirror drain jobs waiting to start (``workers/handoff/mirror_drains.py``)
  handoff:to-patient:<user>        UserQueue: agents' messages on their way to LINE
  (each UserQueue also keeps <name>:seen:<item id>, <name>-lock:<user>, <name>-attempts:<user>, <name>:dead)

* from the last post to that conversation: the mapping expires with the rest of the patient's data
  (a patient back after that gets a new LiveDesk contact and conversation); ``workers/pdpa.py`` erases it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import redis
from redis.exceptions import WatchError

from bot.handoff.state import HandoffState
from bot.intents import Intent
from workers import lua
from workers.user_queue import UserQueue

MARKER_TTL = 7 * 24 * 3600     # de-duplication markers: longer than any retry or redelivery
IN_FLIGHT_TTL = 300            # a post's echo comes within seconds; a timed-out post's a little later
TRANSCRIPT_KEPT = 20
TRANSCRIPT_TTL = 7 * 24 * 3600
NOTE_TRANSCRIPT = 10
OUTBOX_LOCK_TIMEOUT = 60       # a killed drain blocks its user this long at most (renewed while alive)
# A LiveDesk outage only delays the transcript: ~5 lifetimes of a retried drain job before an item
# is set aside. A LINE outage for an agent's reply: ~2, then the agent is told it did not arrive.
MIRROR_ATTEMPTS = 30
TO_PATIENT_ATTEMPTS = 12

# A safety net only: the idle check closes handoffs; a state untouched this long is surely dead.
STATE_TTL = 14 * 24 * 3600
# The LiveDesk ids of a patient (contact, conversations), from the last post there: late agent replies
# and the closing note still find the conversation; then it goes, with the rest of the patient's data.
MAPPING_TTL = 30 * 24 * 3600
# A conversation LiveDesk has (it took our last post there): the one read-back probes (workers/handoff/guard.py).
PROBE_CONVERSATION = "livedesk:read-back:probe"

OPEN_INDEX = "handoff:open"
CONVERSATION_PREFIX = "livedesk:conversation:"
MIRROR_OUTBOX = "livedesk:outbox"
PATIENT_OUTBOX = "handoff:to-patient"


@dataclass(frozen=True)
class HandoffKeys:
    """The keys of the table above, of the hospital whose keys start with ``prefix``."""

    prefix: str = ""

    @property
    def open_index(self) -> str:
        return f"{self.prefix}{OPEN_INDEX}"

    @property
    def probe_conversation(self) -> str:
        return f"{self.prefix}{PROBE_CONVERSATION}"

    def state(self, user: str) -> str:
        return f"{self.prefix}handoff:state:{user}"

    def unknowns(self, user: str) -> str:
        return f"{self.prefix}handoff:unknowns:{user}"

    def transcript(self, user: str) -> str:
        return f"{self.prefix}handoff:transcript:{user}"

    def transcribed(self, line_id: str) -> str:
        return f"{self.prefix}handoff:transcribed:{line_id}"

    def claim(self, name: str) -> str:
        return f"{self.prefix}handoff:claim:{name}"

    def redact(self, event_id: str) -> str:
        return f"{self.prefix}handoff:redact:{event_id}"

    def livedesk_user(self, user: str) -> str:
        return f"{self.prefix}livedesk:user:{user}"

    def conversation(self, conversation_id: int) -> str:
        return f"{self.prefix}{CONVERSATION_PREFIX}{int(conversation_id)}"

    def posted(self, message_id: int | str) -> str:
        return f"{self.prefix}livedesk:posted:{message_id}"

    def failed_post(self, item_id: str) -> str:
        return f"{self.prefix}livedesk:failed:{item_id}"

    def in_flight(self, conversation_id: int, digest: str) -> str:
        return f"{self.prefix}livedesk:in-flight:{int(conversation_id)}:{digest}"


class FailedPost(NamedTuple):
    """An outbox item's message that LiveDesk made but marked ``failed``: only its ``/retry`` may follow."""

    conversation_id: int
    message_id: int
    external_error: str   # masked by the client
    failures: int         # failed answers so far: the post's, then each retry's


class HandoffStore:
    """Per-user handoff state, unknown-answer streak, transcript, the LiveDesk mapping and echo markers.

    ``echo_key`` keys the HMAC that names in-flight posts: a plain hash of a short
    message would let anyone with Redis access guess the text.
    """

    def __init__(self, connection: redis.Redis, echo_key: bytes, *, prefix: str = ""):
        self.redis = connection
        self.echo_key = echo_key
        self.keys = HandoffKeys(prefix)

    # -- the open handoff ----------------------------------------------------------------
    def state(self, user: str) -> HandoffState | None:
        return HandoffState.from_fields(self.redis.hgetall(self.keys.state(user)))

    def open(self, user: str, state: HandoffState, along: Callable[[Any], None] = lambda pipe: None) -> bool:
        """Open a handoff unless one is open, in ONE transaction with ``along``'s commands (its jobs,
        its mirror items): all of it happens or none. False if a handoff was open already."""
        def write(pipe) -> None:
            pipe.hset(self.keys.state(user), mapping=state.to_fields())
            pipe.expire(self.keys.state(user), STATE_TTL)
            pipe.zadd(self.keys.open_index, {user: state.since})
            along(pipe)

        return self._change(user, lambda current: write if current is None else None)

    def mark_urgent(self, user: str, session: str, along: Callable[[Any], None]) -> bool:
        """Flag the open handoff ``session`` urgent, once, in one transaction with ``along``'s commands."""
        def write(pipe) -> None:
            pipe.hset(self.keys.state(user), "urgent", "1")
            along(pipe)

        return self._change(user, lambda current: write if current is not None and current.session == session
                            and not current.urgent else None)

    def update(self, user: str, session: str, **values) -> bool:
        """Set fields of the open handoff if it is still ``session``."""
        fields = HandoffState(**{"session": session, "reason": "", "since": 0.0, **values}).to_fields()
        flat = [x for name in values for x in (name, fields[name])]
        return bool(lua.run(self.redis, "handoff_update", keys=[self.keys.state(user)],
                            args=[session, STATE_TTL, *flat]))

    def close(self, user: str, session: str) -> bool:
        """Forget the open handoff if it is still ``session``: the bot answers again."""
        return bool(lua.run(self.redis, "handoff_close", keys=[self.keys.state(user), self.keys.open_index],
                            args=[session, user]))


    def _change(self, user: str, change: Callable[[HandoffState | None], Callable[[Any], None] | None]) -> bool:
        """Optimistic transaction on the user's state: ``change`` sees the current state and returns
        the writer to run in MULTI (or None: nothing to do). Repeated if the state changes meanwhile."""
        key = self.keys.state(user)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    write = change(HandoffState.from_fields(pipe.hgetall(key)))
                    if write is None:
                        return False
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    # -- two unknown answers in a row -----------------------------------------------------
    def note_answer(self, user: str, event_id: str, intent: str | None, pipeline=None) -> None:
        """Count consecutive ``unknown`` answers (once per event, even if the turn is retried);
        with ``pipeline``, in the caller's transaction."""
        args = [event_id, "1" if intent == Intent.UNKNOWN else "0", 24 * 3600]
        lua.run(pipeline or self.redis, "handoff_note_answer", keys=[self.keys.unknowns(user)], args=args)

    def unknown_streak(self, user: str) -> int:
        return int(self.redis.hget(self.keys.unknowns(user), "count") or 0)

    # -- transcript for the staff note ----------------------------------------------------
    def add_transcript(self, user: str, line_id: str, who: str, text: str, at: float, pipeline=None) -> None:
        """Keep a line for the staff note, once per ``line_id``."""
        entry = json.dumps({"who": who, "text": text[:1000], "at": at}, ensure_ascii=False)
        lua.run(pipeline or self.redis, "handoff_transcribe",
                keys=[self.keys.transcribed(line_id), self.keys.transcript(user)],
                args=[entry, MARKER_TTL, TRANSCRIPT_KEPT, TRANSCRIPT_TTL])

    def transcript(self, user: str, last: int = NOTE_TRANSCRIPT) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.keys.transcript(user), -last, -1)]

    # -- LiveDesk contact and conversation of a LINE user -----------------------------------
    def livedesk_ids(self, user: str) -> tuple[int | None, int | None]:
        """(contact id, conversation id) in LiveDesk, None where not created yet."""
        contact, conversation = self.redis.hmget(self.keys.livedesk_user(user), "contact", "conversation")
        return (int(contact) if contact else None, int(conversation) if conversation else None)

    def set_livedesk_contact(self, user: str, contact_id: int) -> None:
        self.redis.pipeline().hset(self.keys.livedesk_user(user), "contact", contact_id) \
            .expire(self.keys.livedesk_user(user), MAPPING_TTL).execute()

    def set_conversation(self, user: str, conversation_id: int | None) -> None:
        if conversation_id is None:
            self.redis.hdel(self.keys.livedesk_user(user), "conversation")
            return
        pipe = self.redis.pipeline()
        pipe.hset(self.keys.livedesk_user(user), "conversation", conversation_id)
        pipe.expire(self.keys.livedesk_user(user), MAPPING_TTL)
        # Kept after a conversation is replaced (until it expires), so a late agent reply there still arrives.
        pipe.set(self.keys.conversation(conversation_id), user, ex=MAPPING_TTL)
        pipe.execute()

    def keep_conversation(self, user: str, conversation_id: int) -> None:
        """A post to the conversation: its mapping lives MAPPING_TTL from now."""
        pipe = self.redis.pipeline()
        pipe.expire(self.keys.livedesk_user(user), MAPPING_TTL)
        pipe.expire(self.keys.conversation(conversation_id), MAPPING_TTL)
        pipe.execute()

    def user_of_conversation(self, conversation_id: int) -> str | None:
        found = self.redis.get(self.keys.conversation(conversation_id))
        return found.decode() if found else None

    # -- our own posts, so the webhook can tell them from agents' ---------------------------
    def remember_posted(self, message_id: int | str, conversation_id: int | None = None) -> None:
        """Our post ``message_id``; ``conversation_id``: LiveDesk took it there, so that conversation
        exists (read-back probes it, never one a webhook names)."""
        pipe = self.redis.pipeline()
        pipe.set(self.keys.posted(message_id), 1, ex=MARKER_TTL)
        if conversation_id is not None:
            pipe.set(self.keys.probe_conversation, int(conversation_id), ex=MARKER_TTL)
        pipe.execute()

    def was_posted(self, message_id: int | str) -> bool:
        return bool(self.redis.exists(self.keys.posted(message_id)))

    # -- posts LiveDesk marked failed (EngageLab LiveDesk "ส่งข้อความที่ล้มเหลวใหม่อีกครั้ง") --------
    def record_failed_post(self, item_id: str, conversation_id: int, message_id: int, external_error: str) -> None:
        """Note, with its echo marker, that the item's message exists in LiveDesk as ``failed``."""
        key = self.keys.failed_post(item_id)
        pipe = self.redis.pipeline()
        pipe.set(self.keys.posted(message_id), 1, ex=MARKER_TTL)
        pipe.hset(key, mapping={"conversation": int(conversation_id), "message": int(message_id),
                                "error": external_error, "failures": 1})
        pipe.expire(key, MARKER_TTL)
        pipe.execute()

    def failed_post(self, item_id: str) -> FailedPost | None:
        found = {k.decode(): v.decode() for k, v in self.redis.hgetall(self.keys.failed_post(item_id)).items()}
        return FailedPost(int(found["conversation"]), int(found["message"]), found.get("error", ""),
                          int(found.get("failures") or 1)) if "message" in found else None

    def count_failed_post(self, item_id: str, external_error: str) -> int:
        """One more failed answer (a retry's) for the item's message; the failures so far."""
        key = self.keys.failed_post(item_id)
        return self.redis.pipeline().hincrby(key, "failures", 1).hset(key, "error", external_error).execute()[0]

    def forget_failed_post(self, item_id: str, pipeline=None) -> None:
        (pipeline or self.redis).delete(self.keys.failed_post(item_id))

    def content_digest(self, conversation_id: int, content: str) -> str:
        """What identifies a post's content without keeping it (an HMAC: short texts are guessable)."""
        return hmac.new(self.echo_key, f"{int(conversation_id)}:{content}".encode(), hashlib.sha256).hexdigest()[:32]

    def mark_in_flight(self, conversation_id: int, content: str) -> None:
        """While a post is on its way its id is unknown, but its echo may already arrive."""
        self.redis.set(self._in_flight_key(conversation_id, content), 1, ex=IN_FLIGHT_TTL)

    def clear_in_flight(self, conversation_id: int, content: str) -> None:
        self.redis.delete(self._in_flight_key(conversation_id, content))

    def in_flight(self, conversation_id: int | None, content: str) -> bool:
        return conversation_id is not None and bool(self.redis.exists(self._in_flight_key(conversation_id, content)))

    def is_echo(self, message_id: int | str, conversation_id: int | None, content: str) -> bool:
        """Whether a webhook's message is one of our own posts: remembered, or still on its way.

        One EXISTS over both keys: the mirror remembers the id and then clears the in-flight
        marker, so two separate reads (posted? then in flight?) can fall between the two and
        see neither, and our own post would pass for an agent's reply.
        """
        keys = [self.keys.posted(message_id)]
        if conversation_id is not None:
            keys.append(self._in_flight_key(conversation_id, content))
        return bool(self.redis.exists(*keys))

    def _in_flight_key(self, conversation_id: int, content: str) -> str:
        return self.keys.in_flight(conversation_id, self.content_digest(conversation_id, content))

    # -- redaction of a turn's text, decided once per event ------------------------------------
    def decide_redaction(self, event_id: str, redact: bool) -> bool:
        """Keep the first decision for ``event_id`` and return it: a retried turn, run after the
        verification has moved on, must not mirror the code the first attempt hid."""
        return self.decide_redaction_and_state(event_id, redact, None)[0]

    def decide_redaction_and_state(self, event_id: str, redact: bool,
                                   user: str | None) -> tuple[bool, HandoffState | None]:
        """``decide_redaction``, and ``user``'s handoff state (None: no user, or no handoff open)
        read in the same round trip: a turn needs both."""
        key = self.keys.redact(event_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, "1" if redact else "0", nx=True, ex=MARKER_TTL)
        pipe.get(key)
        if user is not None:
            pipe.hgetall(self.keys.state(user))
        found = pipe.execute()
        return found[1] == b"1", HandoffState.from_fields(found[2]) if user is not None else None

    def redacted(self, event_id: str) -> bool:
        return self.redis.get(self.keys.redact(event_id)) == b"1"

    # -- once-only steps ----------------------------------------------------------------------
    def claim(self, name: str, ttl: int = MARKER_TTL, pipeline=None) -> bool | None:
        """True the first time ``name`` is claimed (duplicate deliveries, once-only steps); with
        ``pipeline``, the answer is among its results."""
        answer = (pipeline or self.redis).set(self.keys.claim(name), 1, nx=True, ex=ttl)
        return None if pipeline is not None else bool(answer)

    def done(self, name: str) -> bool:
        return bool(self.redis.exists(self.keys.claim(name)))


def open_handoffs(connection: redis.Redis, *, prefix: str = "") -> list[tuple[str, HandoffState]]:
    """Every open handoff of the hospital (``prefix``), longest open first (index members whose state
    expired are dropped)."""
    keys = HandoffKeys(prefix)
    users = [u.decode() if isinstance(u, bytes) else u for u in connection.zrange(keys.open_index, 0, -1)]
    if not users:
        return []
    pipe = connection.pipeline(transaction=False)
    for user in users:
        pipe.hgetall(keys.state(user))
    found, gone = [], []
    for user, raw in zip(users, pipe.execute()):
        state = HandoffState.from_fields(raw)
        if state is None:
            gone.append(user)
        else:
            found.append((user, state))
    if gone:
        connection.zrem(keys.open_index, *gone)
    return found


def mirror_outbox(connection: redis.Redis, *, prefix: str = "") -> UserQueue:
    """What goes to the patient's LiveDesk conversation, in order."""
    return UserQueue(connection, MIRROR_OUTBOX, max_attempts=MIRROR_ATTEMPTS, lock_timeout=OUTBOX_LOCK_TIMEOUT,
                     id_field="item_id", prefix=prefix)


def patient_outbox(connection: redis.Redis, *, prefix: str = "") -> UserQueue:
    """Agents' messages on their way to the patient on LINE, in order."""
    return UserQueue(connection, PATIENT_OUTBOX, max_attempts=TO_PATIENT_ATTEMPTS,
                     lock_timeout=OUTBOX_LOCK_TIMEOUT, id_field="item_id", prefix=prefix)
