"""What stands between a LiveDesk webhook and what it asks of us: the hospital's LINE account is a
trusted sender, so a forged "agent reply" would be a phishing message from it, and a forged
"resolved" or a first "agent message" would change a patient's handoff.

- **Read-back** (``LIVEDESK_READ_BACK``): before an agent's message is pushed, it is read back from
  LiveDesk with our API credentials; it is pushed only if LiveDesk has it in that conversation as an
  outgoing, non-private message written by an agent (``sender_type`` User). What is pushed is what
  LiveDesk answered, not what the webhook claimed; only then may the message open a handoff. A
  resolution closes a handoff only once LiveDesk reads that conversation back as ``resolved``.
- **Per message, never globally from one answer.** A read of the conversation a webhook names that
  LiveDesk refuses (404, or another refusal a retry cannot change) says that conversation is unknown
  (a stale mapping, a made-up id: provider notes), so the message is *not confirmed*: ``NotConfirmed``
  sets it aside (never sent) and staff get a note; a resolution is not acted on. ``on`` (the
  default) stops there. ``auto`` then probes a conversation known to exist (the last one LiveDesk took
  a post of ours in: ``PROBE_CONVERSATION``), and only if that read is refused too concludes that this
  LiveDesk has no read endpoint: for an hour (then the next refusal probes again) agents' replies are
  pushed and resolutions acted on unconfirmed, with a WARNING. ``off`` trusts the webhook (its token,
  and its signature when LIVEDESK_WEBHOOK_SECRET is set). 401/403 is our key, never "no endpoint".
  Conversations are only ever ones this service created (``livedesk:conversation:<id>`` is written
  when we create one), so a message elsewhere never maps to a patient at all.
- **Caps**: pushes per conversation and in total per minute. Past a cap the message is held
  (``ItemMustWait``: it stays first in the patient's outbox, due again when a slot frees), a WARNING
  with the figures is logged and staff get a private note in that conversation (once a minute).

Redis: ``livedesk:pushes:{conversation:<id>|all}`` (sliding windows, 1 min),
``livedesk:read-back:unavailable`` (1 h), ``handoff:claim:push-cap:<id>`` (1 min); each after the
hospital's prefix (its LiveDesk, its conversations, its caps).
"""

from __future__ import annotations

import logging
from typing import Callable

from bot.privacy import mask
from integrations.errors import AuthenticationError, ProviderError, RateLimitError
from integrations.ratelimit import RateLimit, RedisRateLimiter
from workers.handoff.mirror_drains import queue_staff_note
from workers.user_queue import ItemMustWait

log = logging.getLogger(__name__)

WINDOW = 60
UNAVAILABLE_TTL = 3600
# Set only by a refused probe of a conversation known to exist (``auto``); the mirror's read-back honours it too.
READ_BACK_UNAVAILABLE = "livedesk:read-back:unavailable"
PUSHES = "livedesk:pushes"
HELD_NOTE = ("⏸ ข้อความของเจ้าหน้าที่ถึงผู้ป่วยถูกพักไว้ชั่วคราว: ส่งเกิน {cap} ข้อความต่อนาที "
             "ระบบจะส่งต่อให้เองเมื่อครบนาที / agent messages held: more than {cap} per minute")


class NotConfirmed(ProviderError):
    """LiveDesk refused to read back the conversation an agent's message names, while it can read the
    conversations we know: the message is not confirmed. Permanent (a retry reads the same refusal):
    the item is set aside (``handoff:to-patient:dead``), never sent, and staff are told."""

    def __init__(self, message_id: int, conversation_id: int, refusal: ProviderError):
        super().__init__(f"message {message_id} in conversation {conversation_id} not confirmed: {refusal}",
                         provider="livedesk", status=refusal.status, code="not_confirmed")
        self.message_id = message_id
        self.conversation_id = conversation_id


def cannot_read_back(exc: ProviderError) -> bool:
    """Whether LiveDesk refused a read in a way no retry changes: 404/405 or another 4xx (400, 422, …).
    About the conversation read, not the endpoint, unless the conversation is known to exist. Not
    401/403: our key is wrong, and posting fails as well, so the item waits for someone to fix it."""
    return not exc.retryable and not isinstance(exc, AuthenticationError)


def read_back_unavailable_key(prefix: str) -> str:
    """Where the hospital (``prefix``) notes that its LiveDesk has no read endpoint."""
    return prefix + READ_BACK_UNAVAILABLE


class AgentMessageGuard:
    def __init__(self, service):
        self.service = service
        self.settings = service.settings
        self.redis = service.redis
        self.keys = service.store.keys
        self.unavailable_key = read_back_unavailable_key(self.keys.prefix)

    # -- read-back -------------------------------------------------------------------------------
    def confirmed(self, user: str, item: dict) -> dict | None:
        """``item`` as LiveDesk has it (content and attachments from LiveDesk), or None: not an
        agent's message there. Raises ``NotConfirmed`` when LiveDesk refuses to read the
        conversation, and a retryable error while it cannot answer."""
        if self._trusting():
            return item
        conversation, message_id = int(item["conversation_id"]), int(item["message_id"])
        livedesk = self.service.livedesk()
        try:
            messages = livedesk.conversation_messages(conversation, before=message_id + 1)
        except ProviderError as exc:
            if self._no_read_endpoint(exc, livedesk.conversation_messages):
                log.warning("agent message %s in conversation %d pushed to %s unconfirmed: LiveDesk has no read "
                            "endpoint", message_id, conversation, mask(user))
                return item
            log.warning("LiveDesk message %s in conversation %d for %s held: LiveDesk would not read that "
                        "conversation (%s); staff are told", message_id, conversation, mask(user), exc)
            raise NotConfirmed(message_id, conversation, exc) from None
        found = next((m for m in messages if str(m.get("id")) == str(message_id)), None)
        problem = _not_an_agent_message(found)
        if problem:
            log.warning("LiveDesk message %s in conversation %d for %s not pushed: %s", message_id,
                        conversation, mask(user), problem)
            return None
        attachments = [{key: str(a.get(key) or "") for key in ("file_type", "data_url", "thumb_url")}
                       for a in found.get("attachments") or [] if isinstance(a, dict)]
        return {**item, "content": str(found.get("content") or ""), "attachments": attachments}

    def resolved(self, user: str, conversation_id: int) -> bool:
        """Whether LiveDesk has the conversation ``resolved`` (read back, as ``confirmed`` reads a
        message). Raises a retryable error while LiveDesk cannot answer."""
        if self._trusting():
            return True
        livedesk = self.service.livedesk()
        try:
            status = livedesk.conversation(conversation_id).get("status")
        except ProviderError as exc:
            if self._no_read_endpoint(exc, livedesk.conversation):
                log.warning("resolution of conversation %d of %s acted on unconfirmed: LiveDesk has no read "
                            "endpoint", conversation_id, mask(user))
                return True
            status = f"would not read it, {exc}"
        if status == "resolved":
            return True
        log.warning("resolution of conversation %d of %s not acted on (LiveDesk: %s); the handoff stays open",
                    conversation_id, mask(user), status)
        return False

    def _trusting(self) -> bool:
        """``off``, or ``auto`` where a probe found no read endpoint (for UNAVAILABLE_TTL)."""
        mode = self.settings.livedesk_read_back
        return mode == "off" or (mode == "auto" and bool(self.redis.exists(self.unavailable_key)))

    def _no_read_endpoint(self, refused: ProviderError, read: Callable[[int], object]) -> bool:
        """After LiveDesk refused ``read`` of the conversation a webhook names: True only in ``auto``
        when ``read`` of a conversation known to exist is refused as well (then noted for an hour).
        A refusal a retry may change (5xx, timeouts, 401/403), of either read, is raised."""
        if not cannot_read_back(refused):
            raise refused
        known = self.redis.get(self.keys.probe_conversation)
        if self.settings.livedesk_read_back != "auto" or known is None:
            return False  # on, or no conversation known to exist to probe: "not confirmed" is all it says
        try:
            read(int(known))
        except ProviderError as exc:
            if not cannot_read_back(exc):
                raise
            self.redis.set(self.unavailable_key, 1, ex=UNAVAILABLE_TTL)
            log.warning("LiveDesk refused to read conversation %d, where it took our posts (%s): it has no read "
                        "endpoint; for an hour agents' replies are pushed and resolutions acted on unconfirmed. "
                        "Set LIVEDESK_READ_BACK=on to hold them instead", int(known), exc)
            return True
        return False

    # -- caps ------------------------------------------------------------------------------------
    def take_push_slot(self, user: str, item: dict) -> None:
        """Count one push against the conversation's and the total cap, or hold the message."""
        conversation = int(item["conversation_id"])
        per_conversation = self.settings.livedesk_pushes_per_conversation_per_minute
        total = self.settings.livedesk_pushes_per_minute
        pushes = self.keys.prefix + PUSHES
        limiter = RedisRateLimiter(self.redis, prefix=pushes, provider="livedesk", clock=self.service.clock)
        conversation_limit = RateLimit(f"conversation:{conversation}", per_conversation, WINDOW)
        try:
            limiter.acquire(conversation_limit, RateLimit("all", total, WINDOW))
        except RateLimitError as exc:
            wait = exc.retry_after or WINDOW
            counted = [self.redis.zcard(f"{pushes}:{name}") for name in (conversation_limit.name, "all")]
            if self.service.store.claim(f"push-cap:{conversation}", ttl=WINDOW):
                log.warning("agent messages to %s held for %.0f s: %d pushed to conversation %d this minute "
                            "(cap %d), %d in all (cap %d)", mask(user), wait, counted[0], conversation,
                            per_conversation, counted[1], total)
                cap = per_conversation if limiter.wait_seconds(conversation_limit) > 0 else total
                queue_staff_note(self.redis, user, f"push-cap:{conversation}:{int(self.service.clock()) // WINDOW}",
                                 HELD_NOTE.format(cap=cap), prefix=self.keys.prefix)
            raise ItemMustWait(wait, "agent message held: push cap") from None


def _not_an_agent_message(message: dict | None) -> str | None:
    """Why LiveDesk's ``message`` is not an agent's public reply (None: it is)."""
    if message is None:
        return "LiveDesk has no such message in this conversation"
    if message.get("message_type") not in ("outgoing", 1):
        return "not an outgoing message"
    if message.get("private"):
        return "a private note"
    sender = message.get("sender") if isinstance(message.get("sender"), dict) else {}
    sender_type = str(message.get("sender_type") or sender.get("type") or "").lower()
    if sender_type != "user":
        return f"not written by an agent ({sender_type or 'no sender'})"
    return None
