"""``POST /webhooks/livedesk/<token>``: LiveDesk's (Chatwoot-style) webhook. Verify, parse, hand over, answer.

The secret path token is the guard (LiveDesk does not document signing); when
LIVEDESK_WEBHOOK_SECRET is set, Chatwoot's signature headers are required and must
verify. LiveDesk waits ~5 s and does not retry, so nothing here calls out:
``HandoffService`` queues an agent's reply (or a resolution's check) in Redis, and a job
reads it back from LiveDesk before it acts (``workers/handoff/guard.py``). Ignored here:
private notes, the patient's side, activities and bots; our own posts coming back
(echoes) and second deliveries are the service's to spot. Malformed bodies get a 400,
never a 500. Bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, request

from bot.handoff.state import AgentMessage
from handlers.http_errors import error
from handlers.services import get_services
from integrations.webhook_auth import WebhookSignatureError, token_matches, verify_timestamped_hmac

log = logging.getLogger(__name__)
bp = Blueprint("livedesk_webhook", __name__)

SIGNATURE_MAX_AGE = 300  # seconds; an older signed delivery is a replay


@dataclass(frozen=True)
class Resolved:
    """An agent resolved a conversation."""

    conversation_id: int


@bp.post("/webhooks/livedesk/<token>")
def livedesk_event(token: str):
    services = get_services()
    settings = services.settings
    if not token_matches(token, settings.secret_values("livedesk_webhook_token")):
        return error(404, "not found")
    body = request.get_data(cache=False)  # raw bytes (413 beyond MAX_CONTENT_LENGTH)
    try:
        check_signature(settings.secret_values("livedesk_webhook_secret"), body,
                        request.headers.get("X-Chatwoot-Signature"), request.headers.get("X-Chatwoot-Timestamp"))
    except WebhookSignatureError as exc:
        if exc.reason == "bad_timestamp":
            return error(400, str(exc))
        log.warning("LiveDesk webhook with a missing or bad signature (%s) from %s", exc.reason, request.remote_addr)
        return error(401, "invalid signature")
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        event = parse_event(payload)
    except ValueError:
        return error(400, "body is not a LiveDesk webhook event")
    inbox = inbox_of(payload)
    if inbox is not None and settings.livedesk_inbox_id is not None and str(inbox) != str(settings.livedesk_inbox_id):
        log.warning("LiveDesk webhook event of another inbox on this hospital's path from %s", request.remote_addr)
        return error(400, "the event is of another LiveDesk inbox than this hospital's")
    service = services.handoff
    if isinstance(event, AgentMessage):
        outcome = service.on_agent_message(event)
    elif isinstance(event, Resolved):
        outcome = service.on_resolved(event.conversation_id)
    else:
        outcome = "ignored"
    return jsonify(status="ok", outcome=outcome)


def inbox_of(payload: dict) -> Any:
    """The LiveDesk inbox an event is about (the conversation's ``inbox_id``), when it says."""
    conversation = payload.get("conversation")
    if isinstance(conversation, dict) and conversation.get("inbox_id") is not None:
        return conversation["inbox_id"]
    inbox = payload.get("inbox")
    return inbox.get("id") if isinstance(inbox, dict) else None


def check_signature(secrets: list, body: bytes, signature: str | None, timestamp: str | None,
                    now: float | None = None) -> None:
    """Chatwoot's ``sha256=HMAC(secret, "{timestamp}.{body}")`` under one of ``secrets``, required
    when a secret is set; ``WebhookSignatureError`` otherwise."""
    if not secrets:
        return
    given = (signature or "").strip()
    if not given.startswith("sha256="):
        raise WebhookSignatureError("malformed", "X-Chatwoot-Signature needs sha256=<hex>")
    verify_timestamped_hmac(body, timestamp, [given[len("sha256="):]], secrets,
                            time.time() if now is None else now, tolerance=SIGNATURE_MAX_AGE)


def parse_event(payload: dict) -> AgentMessage | Resolved | None:
    """What the event asks of us: an agent's reply, a resolution, or nothing (None).

    Raises ValueError when a field we need has the wrong shape.
    """
    event = payload.get("event")
    if event == "message_created":
        return _agent_message(payload)
    if event == "conversation_status_changed" and payload.get("status") == "resolved":
        return Resolved(_id(payload.get("id") if payload.get("id") is not None else _conversation_id(payload)))
    return None


def _agent_message(payload: dict) -> AgentMessage | None:
    sender = _typed(payload.get("sender"), dict, {})
    attachments = _typed(payload.get("attachments"), list, [])
    if payload.get("message_type") not in ("outgoing", 1) or payload.get("private"):
        return None  # the patient's side, activities, templates, private notes
    if sender.get("type") != "user":
        return None  # only agents (Chatwoot "user"), not bots or contacts
    content = _typed(payload.get("content"), str, "")
    return AgentMessage(id=_id(payload.get("id")), conversation_id=_id(_conversation_id(payload)),
                        content=content, attachments=tuple(_attachment(a) for a in attachments))


def _attachment(raw: Any) -> dict[str, str]:
    attachment = _typed(raw, dict, None)
    if attachment is None:
        raise ValueError("an attachment is not an object")
    return {key: _typed(attachment.get(key), str, "") for key in ("file_type", "data_url", "thumb_url")}


def _conversation_id(payload: dict) -> Any:
    conversation = _typed(payload.get("conversation"), dict, {})
    found = conversation.get("id")
    return found if found is not None else payload.get("conversation_id")


def _id(value: Any) -> int:
    """A LiveDesk id: an integer, or a string of ASCII digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    raise ValueError("not an id")


def _typed(value: Any, kind: type, default: Any) -> Any:
    """``value`` if it is a ``kind``, ``default`` if absent (None); ValueError for anything else."""
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ValueError(f"expected {kind.__name__}")
    return value
