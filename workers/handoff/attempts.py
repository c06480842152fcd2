"""Posts to LiveDesk whose answer never came back (a killed worker, a timeout): ``PostAttempts``.

LiveDesk's message API takes no idempotency key (EngageLab LiveDesk "ส่งข้อความ"), so after a lost
answer the post may or may not have been made. Just before each post the mirror writes an attempt
marker for it (conversation, an HMAC of the content, type, private, attachments, time); the post's
done marker replaces it. A later attempt that finds the marker first reads the conversation back
(Chatwoot's ``GET …/conversations/:id/messages``, newest last) and adopts the message LiveDesk made
for it: the same content, type and private flag, created since the marker, and not already known
as another of our posts. Only then is it posted again.

``LIVEDESK_READ_BACK`` means what it means for agents' messages (workers/handoff/guard.py):
``off``, ``auto`` while LiveDesk is known to lack the read endpoint, or the read refused
(``guard.cannot_read_back``: 404/405 and other refusals a retry cannot change, not 401/403):
posted again unchecked, with a WARNING (staff may see it twice; nothing reaches the patient twice).
A read that fails otherwise raises: the item retries on its backoff rather than post blind.

Redis: ``livedesk:attempt:<name>`` after the hospital's prefix (hash, ATTEMPT_TTL; no message text: the
content as an HMAC).
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from bot.privacy import mask
from integrations.errors import ProviderError
from workers.handoff.guard import cannot_read_back, read_back_unavailable_key
from workers.handoff.store import HandoffStore

log = logging.getLogger(__name__)

ATTEMPT_TTL = 24 * 3600   # longer than an item's retries (MIRROR_ATTEMPTS on the outbox's backoff: ~7 h)
# LiveDesk's clock against ours, and its whole seconds: a message this much "older" than the marker
# can still be the attempt's. Too old to be it: another item's post of the same words.
CLOCK_SLACK = 60
PAGE = 20                 # Chatwoot's page of messages
PAGES = 3                 # read back this far at most: since the attempt few messages come in
_TYPES = {"incoming": ("incoming", "0"), "outgoing": ("outgoing", "1")}  # Chatwoot answers ints


class PostAttempt(NamedTuple):
    """A post the mirror sent whose answer it has not seen (yet)."""

    conversation_id: int
    digest: str           # HandoffStore.content_digest of what was posted
    message_type: str     # "incoming" | "outgoing"
    private: bool
    attachments: bool
    at: float             # epoch seconds, just before the post


class PostAttempts:
    def __init__(self, store: HandoffStore, livedesk, settings):
        self.store = store
        self.redis = store.redis
        self.prefix = store.keys.prefix
        self.livedesk = livedesk
        self.settings = settings

    def mark(self, name: str, conversation_id: int, content: str, message_type: str, *, private: bool = False,
             attachments: bool = False) -> None:
        """Just before the post ``name`` goes out (the wall clock: it is compared with LiveDesk's)."""
        key = attempt_key(name, self.prefix)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping={"conversation": int(conversation_id),
                                "digest": self.store.content_digest(conversation_id, content),
                                "type": message_type, "private": int(private), "attachments": int(attachments),
                                "at": repr(time.time())})
        pipe.expire(key, ATTEMPT_TTL)
        pipe.execute()

    def pending(self, name: str) -> PostAttempt | None:
        found = {k.decode(): v.decode() for k, v in self.redis.hgetall(attempt_key(name, self.prefix)).items()}
        if "at" not in found:
            return None
        return PostAttempt(int(found["conversation"]), found["digest"], found["type"], found["private"] == "1",
                           found["attachments"] == "1", float(found["at"]))

    def clear(self, name: str, pipeline=None) -> None:
        (pipeline or self.redis).delete(attempt_key(name, self.prefix))

    def made(self, user: str, name: str) -> tuple[int, dict] | None:
        """(conversation id, LiveDesk's message) made by an earlier attempt of ``name`` whose answer
        was lost, or None: post it. Raises while LiveDesk cannot be read (but can be)."""
        attempt = self.pending(name)
        if attempt is None:
            return None
        conversation = attempt.conversation_id
        mode = self.settings.livedesk_read_back
        if mode == "off" or (mode == "auto" and self.redis.exists(read_back_unavailable_key(self.prefix))):
            log.warning("an earlier post %s to LiveDesk conversation %d of %s got no answer; posting it again "
                        "unchecked (LIVEDESK_READ_BACK=%s, or no read endpoint): staff may see it twice",
                        name, conversation, mask(user), mode)
            return None
        try:
            found = self._find(attempt)
        except ProviderError as exc:
            if not cannot_read_back(exc):
                raise
            log.warning("an earlier post %s to LiveDesk conversation %d of %s got no answer, and LiveDesk cannot "
                        "read it back (%s); posting it again: staff may see it twice", name, conversation,
                        mask(user), exc)
            return None
        if found is None:
            log.info("an earlier post %s of %s is not in LiveDesk conversation %d; posting it", name, mask(user),
                     conversation)
            return None
        log.info("LiveDesk made the earlier post %s of %s (message %s in conversation %d): adopted, not posted "
                 "again", name, mask(user), found.get("id"), conversation)
        return conversation, found

    def _find(self, attempt: PostAttempt) -> dict | None:
        """Newest first, back to the marker's time (less the slack)."""
        oldest, before = attempt.at - CLOCK_SLACK, None
        for _ in range(PAGES):
            page = self.livedesk.conversation_messages(attempt.conversation_id, before=before)
            for message in reversed(page):
                created = _number(message.get("created_at"))
                if created is None:
                    continue  # no time to go by: never adopted (a second copy beats a lost line)
                if created < oldest:
                    return None
                if self._is_it(attempt, message):
                    return message
            ids = [i for i in (_number(m.get("id")) for m in page) if i is not None]
            if len(page) < PAGE or not ids:
                return None
            before = int(min(ids))
        return None

    def _is_it(self, attempt: PostAttempt, message: dict) -> bool:
        if message.get("id") is None or self.store.was_posted(message["id"]):
            return False  # another item's post (or one adopted already)
        content = str(message.get("content") or "")
        return (str(message.get("message_type")) in _TYPES.get(attempt.message_type, ())
                and bool(message.get("private")) == attempt.private
                and bool(message.get("attachments")) == attempt.attachments
                and self.store.content_digest(attempt.conversation_id, content) == attempt.digest)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def attempt_key(name: str, prefix: str = "") -> str:
    return f"{prefix}livedesk:attempt:{name}"
