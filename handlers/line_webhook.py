"""``POST /callback``: LINE's webhook. Verify, queue, answer 200: the work happens in a worker.

LINE counts a webhook as failed after about 2 s, so nothing here calls out over
HTTP; the only I/O is one Redis round trip per request (two when a user's drain job is
queued: see ``workers/line/inbox.py``). The body is never logged:
it carries what patients wrote.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify, request
from linebot.v3 import SignatureValidator

from handlers.http_errors import error
from handlers.services import get_services
from integrations.metrics import WEBHOOK_EVENTS, WEBHOOK_REJECTED
from workers.line.inbox import accept_events

log = logging.getLogger(__name__)
bp = Blueprint("line_webhook", __name__)


@bp.post("/callback")
def callback():
    services = get_services()
    if services.settings.missing_for("line"):
        WEBHOOK_REJECTED.labels("not_configured").inc()
        return error(503, "LINE is not configured (see /readyz); the webhook cannot verify requests")
    secret = services.settings.line_channel_secret.get_secret_value()
    body = request.get_data(cache=False)  # raw bytes: the signature covers them exactly
    signature = request.headers.get("X-Line-Signature", "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        WEBHOOK_REJECTED.labels("not_utf8").inc()
        return error(400, "body is not UTF-8")
    if not signature or not SignatureValidator(secret).validate(text, signature):
        log.warning("LINE webhook with a bad or missing signature from %s", request.remote_addr)
        WEBHOOK_REJECTED.labels("bad_signature").inc()
        return error(400, "invalid signature")
    try:
        payload = json.loads(text)
        events = payload["events"]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):
        WEBHOOK_REJECTED.labels("not_a_webhook_payload").inc()
        return error(400, "body is not a LINE webhook payload")
    bot = services.hospital.bot_user_id  # the registry's hospitals: is it this hospital's bot?
    if bot is not None and payload.get("destination") != bot:
        WEBHOOK_REJECTED.labels("wrong_destination").inc()
        return error(400, "destination is not this hospital's LINE bot")
    accepted = accept_events(services.redis, events, prefix=services.hospital.prefix,
                             other_prefixes=services.other_prefixes())
    WEBHOOK_EVENTS.labels("accepted").inc(accepted.queued)
    WEBHOOK_EVENTS.labels("duplicate").inc(accepted.duplicates)
    WEBHOOK_EVENTS.labels("too_old").inc(accepted.too_old)
    if accepted.duplicates:
        log.info("LINE webhook: %d new event(s), %d already seen", accepted.queued, accepted.duplicates)
    # 200 for refused ones too: LINE must not deliver them again.
    extra = {"too_old": accepted.too_old} if accepted.too_old else {}
    return jsonify(status="ok", queued=accepted.queued, duplicates=accepted.duplicates, **extra)

