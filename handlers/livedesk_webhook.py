"""``POST /webhooks/livedesk/<token>``: LiveDesk's (Chatwoot-style) webhook. Check, queue, answer 200.

The secret path token is the guard (LiveDesk does not document signing); when
LIVEDESK_WEBHOOK_SECRET is set and Chatwoot's signature headers come along, they
must verify too. LiveDesk waits ~5 s and does not retry, so nothing here calls
out: an agent's reply goes to the patient's outbox in Redis and a job pushes it.
Ignored: our own posts coming back (echoes), private notes, the patient's side,
bots, and a second delivery of the same message. Bodies are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import redis
from flask import Blueprint, current_app, jsonify, request

from bot.handoff import HandoffState, parse_business_hours
from bot.privacy import mask
from handlers.handoff import (HandoffStore, enqueue_close, enqueue_drain_to_patient, enqueue_sync_oho,
                              patient_outbox, schedule_idle_check)
from handlers.http_errors import error

log = logging.getLogger(__name__)
bp = Blueprint("livedesk_webhook", __name__)

SIGNATURE_MAX_AGE = 300  # seconds; an older signed delivery is a replay


@bp.post("/webhooks/livedesk/<token>")
def livedesk_event(token: str):
    services = current_app.extensions["services"]
    settings = services.settings
    expected = settings.livedesk_webhook_token
    if expected is None or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return error(404, "not found")
    body = request.get_data(cache=False)  # raw bytes (413 beyond MAX_CONTENT_LENGTH)
    if not signature_ok(settings.livedesk_webhook_secret, body, request.headers.get("X-Chatwoot-Signature"),
                        request.headers.get("X-Chatwoot-Timestamp")):
        log.warning("LiveDesk webhook with a bad signature from %s", request.remote_addr)
        return error(401, "invalid signature")
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError
    except ValueError:
        return error(400, "body is not a LiveDesk webhook event")
    outcome = accept_event(services.redis, settings, payload, time.time())
    return jsonify(status="ok", outcome=outcome)


def signature_ok(secret, body: bytes, signature: str | None, timestamp: str | None, now: float | None = None) -> bool:
    """Chatwoot's ``sha256=HMAC(secret, "{timestamp}.{body}")``; True when there is nothing to check."""
    if secret is None or (signature is None and timestamp is None):
        return True
    if not signature or not timestamp or not timestamp.strip().isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    digest = hmac.new(secret.get_secret_value().encode(), timestamp.strip().encode() + b"." + body,
                      hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.strip().encode(), f"sha256={digest}".encode())


def accept_event(connection: redis.Redis, settings, payload: dict, now: float) -> str:
    """Queue what an event asks for (Redis only); returns what was done, for the answer and the tests."""
    event = payload.get("event")
    if event == "message_created":
        return _agent_message(connection, settings, payload, now)
    if event == "conversation_status_changed" and payload.get("status") == "resolved":
        return _resolved(connection, payload)
    return "ignored"


def _agent_message(connection: redis.Redis, settings, payload: dict, now: float) -> str:
    if payload.get("message_type") not in ("outgoing", 1) or payload.get("private"):
        return "ignored"  # the patient's side, activities, templates, private notes
    if (payload.get("sender") or {}).get("type") != "user":
        return "ignored"  # only agents (Chatwoot "user"), not bots or contacts
    store = HandoffStore(connection)
    message_id, conversation_id = payload.get("id"), _conversation_id(payload)
    content = str(payload.get("content") or "")
    if message_id is None or conversation_id is None:
        return "ignored"
    if store.was_posted(message_id) or store.in_flight(conversation_id, content):
        return "echo"
    user = store.user_of_conversation(conversation_id)
    if user is None:
        log.info("LiveDesk message in conversation %s that is no LINE user's", conversation_id)
        return "unknown conversation"
    attachments = [{k: a.get(k) for k in ("file_type", "data_url", "thumb_url")}
                   for a in payload.get("attachments") or [] if isinstance(a, dict)]
    item = {"message_id": str(message_id), "conversation_id": conversation_id, "content": content,
            "attachments": attachments}
    if not patient_outbox(connection).append(user, f"agent:{message_id}", item):
        return "duplicate"
    _agent_is_answering(connection, settings, store, user, str(message_id), now)
    enqueue_drain_to_patient(connection, user)
    log.info("LiveDesk agent reply queued for %s", mask(user))
    return "queued"


def _agent_is_answering(connection, settings, store: HandoffStore, user: str, message_id: str, now: float) -> None:
    """Note the agent's activity; an agent who writes first takes the chat over (the bot goes quiet)."""
    state = store.state(user)
    if state is not None:
        store.update(user, state.session, last_agent=now, agent_answered=True)
        return
    if settings.missing_for("handoff"):
        return  # mirror-only: the reply is delivered, the bot keeps answering
    state = HandoffState(session=f"agent-{message_id}", reason="agent", since=now, last_agent=now,
                         agent_answered=True)
    if store.open(user, state):
        enqueue_sync_oho(connection, user, state.session)
        schedule_idle_check(connection, user, state, parse_business_hours(settings.business_hours),
                            settings.handoff_idle_minutes)
    else:  # the patient's turn opened one just now
        _agent_is_answering(connection, settings, store, user, message_id, now)


def _resolved(connection: redis.Redis, payload: dict) -> str:
    store = HandoffStore(connection)
    conversation_id = payload.get("id") or _conversation_id(payload)
    user = store.user_of_conversation(conversation_id) if conversation_id is not None else None
    state = store.state(user) if user else None
    if state is None:
        return "ignored"
    return "closing" if enqueue_close(connection, user, state.session, "resolved", notify=True) else "duplicate"


def _conversation_id(payload: dict):
    conversation = payload.get("conversation")
    found = conversation.get("id") if isinstance(conversation, dict) else None
    return found if found is not None else payload.get("conversation_id")
