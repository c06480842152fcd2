"""What the bot does with one LINE webhook event (run by a worker, never in the request).

Events are read from LINE's JSON directly rather than through the SDK's
webhook models: those reject events over fields we never use (a sticker
without ``quoteToken``), and a rejected event is a patient left unanswered.
Answers come from the framework-free dialog core; sending goes through
``LineClient`` (the SDK). A reply token is used at
most once, even when the job is retried: the first attempt claims it in
Redis, and any later attempt pushes with a retry key derived from the event.
"""

from __future__ import annotations

import logging

import redis

from bot.dialog import Dialog, Reply
from bot.privacy import mask
from integrations.line import LineClient, retry_key_for
from workers.inbox import event_id, source_key

log = logging.getLogger(__name__)

REPLY_CLAIM_TTL = 24 * 3600


class LineEventHandler:
    def __init__(self, dialog: Dialog, line: LineClient, connection: redis.Redis):
        self.dialog = dialog
        self.line = line
        self.redis = connection

    def handle(self, raw_event: dict) -> Reply | None:
        """Answer one event; return what was sent (None when nothing is)."""
        reply = self.answer(raw_event)
        if reply is None or not reply.messages:
            return None
        self.send(raw_event, reply)
        return reply

    def answer(self, event: dict) -> Reply | None:
        kind = event.get("type")
        if kind == "message":
            message = event.get("message") or {}
            if message.get("type") == "text":
                return self.dialog.on_text(str(message.get("text") or ""))
            return self.dialog.on_other_message(str(message.get("type") or "unknown"))
        if kind == "postback":
            return self.dialog.on_postback(str((event.get("postback") or {}).get("data") or ""))
        if kind == "follow":
            return self.dialog.on_follow()
        log.debug("no answer for LINE event type %r", kind)  # unfollow, join, read receipts…
        return None

    def send(self, raw_event: dict, reply: Reply) -> str:
        eid = event_id(raw_event)
        to = (raw_event.get("source") or {}).get("userId") or source_key(raw_event)
        token = raw_event.get("replyToken")
        # Claim the reply token before using it: a retried job must never use it twice.
        if token and not self.redis.set(f"line:reply-claimed:{eid}", 1, nx=True, ex=REPLY_CLAIM_TTL):
            token = None
        how = self.line.reply_or_push(token, to, reply.messages, retry_key_for("answer", eid))
        log.info("answered %s of %s with %s (%s)", raw_event.get("type"), mask(to), reply.intent, how)
        return how
