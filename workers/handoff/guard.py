"""What stands between a LiveDesk webhook and a push to a patient: the hospital's LINE account is a
trusted sender, so a forged "agent reply" would be a phishing message from it.

- **Read-back** (``LIVEDESK_READ_BACK``): before an agent's message is pushed, it is read back from
  LiveDesk with our API credentials; it is pushed only if LiveDesk has it in that conversation as an
  outgoing, non-private message written by an agent (``sender_type`` User). What is pushed is what
  LiveDesk answered, not what the webhook claimed. ``auto`` (the default) does this when LiveDesk's
  API answers the read and, if the endpoint is missing (``cannot_read_back``: 404/405 or another
  refusal a retry cannot change, not 401/403; the seed documents no read endpoint), pushes
  unconfirmed for an hour with a WARNING; ``on`` never pushes an unconfirmed message; ``off`` trusts
  the webhook (its token, and its signature when LIVEDESK_WEBHOOK_SECRET is set).
  Conversations are only ever ones this service created (``livedesk:conversation:<id>`` is written
  when we create one), so a message elsewhere never maps to a patient at all.
- **Caps**: pushes per conversation and in total per minute. Past a cap the message is held
  (``HoldItem``: it stays first in the patient's outbox, due again when a slot frees), a WARNING
  with the figures is logged and staff get a private note in that conversation (once a minute).

Redis: ``livedesk:pushes:{conversation:<id>|all}`` (sliding windows, 1 min),
``livedesk:read-back:unavailable`` (1 h), ``handoff:claim:push-cap:<id>`` (1 min).
"""

from __future__ import annotations

import logging

from bot.privacy import mask
from integrations.errors import AuthenticationError, ProviderError, RateLimitError
from integrations.ratelimit import RateLimit, RedisRateLimiter
from workers.handoff.mirror_drains import queue_staff_note
from workers.user_queue import HoldItem

log = logging.getLogger(__name__)

WINDOW = 60
UNAVAILABLE_TTL = 3600
# Set when LiveDesk refused the read (``cannot_read_back``, ``auto``); the mirror's read-back honours it too.
READ_BACK_UNAVAILABLE = "livedesk:read-back:unavailable"
HELD_NOTE = ("⏸ ข้อความของเจ้าหน้าที่ถึงผู้ป่วยถูกพักไว้ชั่วคราว: ส่งเกิน {cap} ข้อความต่อนาที "
             "ระบบจะส่งต่อให้เองเมื่อครบนาที / agent messages held: more than {cap} per minute")


def cannot_read_back(exc: ProviderError) -> bool:
    """Whether LiveDesk's answer to a read says it has no read endpoint for us: 404/405 (the
    EngageLab document shows none), or any refusal a retry cannot change (400, 422, …). Not 401/403:
    our key is wrong, and posting fails as well, so the item waits for someone to fix it."""
    return not exc.retryable and not isinstance(exc, AuthenticationError)


class AgentMessageGuard:
    def __init__(self, service):
        self.service = service
        self.settings = service.settings
        self.redis = service.redis

    # -- read-back -------------------------------------------------------------------------------
    def confirmed(self, user: str, item: dict) -> dict | None:
        """``item`` as LiveDesk has it (content and attachments from LiveDesk), or None: not an
        agent's message there. Raises a retryable error while LiveDesk cannot answer."""
        mode = self.settings.livedesk_read_back
        if mode == "off" or (mode == "auto" and self.redis.exists(READ_BACK_UNAVAILABLE)):
            return item
        conversation, message_id = int(item["conversation_id"]), int(item["message_id"])
        try:
            messages = self.service.services.livedesk.conversation_messages(conversation, before=message_id + 1)
        except ProviderError as exc:
            if mode == "auto" and cannot_read_back(exc):
                self.redis.set(READ_BACK_UNAVAILABLE, 1, ex=UNAVAILABLE_TTL)
                log.warning("LiveDesk cannot read messages back (%s): agent replies are pushed unconfirmed for "
                            "an hour; set LIVEDESK_READ_BACK=on to refuse them instead", exc)
                return item
            raise
        found = next((m for m in messages if str(m.get("id")) == str(message_id)), None)
        problem = _not_an_agent_message(found)
        if problem:
            log.warning("LiveDesk message %s in conversation %d for %s not pushed: %s", message_id,
                        conversation, mask(user), problem)
            return None
        attachments = [{key: str(a.get(key) or "") for key in ("file_type", "data_url", "thumb_url")}
                       for a in found.get("attachments") or [] if isinstance(a, dict)]
        return {**item, "content": str(found.get("content") or ""), "attachments": attachments}

    # -- caps ------------------------------------------------------------------------------------
    def take_push_slot(self, user: str, item: dict) -> None:
        """Count one push against the conversation's and the total cap, or hold the message."""
        conversation = int(item["conversation_id"])
        per_conversation = self.settings.livedesk_pushes_per_conversation_per_minute
        total = self.settings.livedesk_pushes_per_minute
        limiter = RedisRateLimiter(self.redis, prefix="livedesk:pushes", provider="livedesk",
                                   clock=self.service.clock)
        conversation_limit = RateLimit(f"conversation:{conversation}", per_conversation, WINDOW)
        try:
            limiter.acquire(conversation_limit, RateLimit("all", total, WINDOW))
        except RateLimitError as exc:
            wait = exc.retry_after or WINDOW
            counted = [self.redis.zcard(f"livedesk:pushes:{name}") for name in (conversation_limit.name, "all")]
            if self.service.store.claim(f"push-cap:{conversation}", ttl=WINDOW):
                log.warning("agent messages to %s held for %.0f s: %d pushed to conversation %d this minute "
                            "(cap %d), %d in all (cap %d)", mask(user), wait, counted[0], conversation,
                            per_conversation, counted[1], total)
                cap = per_conversation if limiter.wait_seconds(conversation_limit) > 0 else total
                queue_staff_note(self.redis, user, f"push-cap:{conversation}:{int(self.service.clock()) // WINDOW}",
                                 HELD_NOTE.format(cap=cap))
            raise HoldItem(wait, "agent message held: push cap") from None


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
