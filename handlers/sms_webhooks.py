"""SMS delivery reports: ``POST /webhooks/sepsms`` and ``GET|POST /webhooks/thaibulksms/<token>``.

Thin edges: check who is calling, read the report (``integrations.sms_webhooks``),
note it against the OTP it is about (``workers.verification.feature.record_delivery``:
Redis only, no outbound HTTP), answer. Bodies are never logged: they hold phone numbers.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, jsonify, request

from handlers.http_errors import error
from handlers.services import get_services
from integrations.credit import CreditLedger
from integrations.sms_webhooks import (
    InvalidDeliveryReport,
    WebhookSignatureError,
    parse_sepsms_event,
    parse_thaibulksms_dr,
    verify_sepsms_signature,
)
from integrations.webhook_auth import token_matches
from workers.verification.store import record_delivery

log = logging.getLogger(__name__)
bp = Blueprint("sms_webhooks", __name__)


@bp.post("/webhooks/sepsms")
def sepsms():
    services = get_services()
    # Two values while the secret is rotated (bot.settings.ROTATING_SECRETS).
    secrets = services.settings.secret_values("sepsms_webhook_secret")
    if not secrets:
        return error(503, "SEPSMS_WEBHOOK_SECRET is not set; the webhook cannot verify requests")
    body = request.get_data(cache=False)  # raw bytes: the signature covers them exactly
    try:
        verify_sepsms_signature(body, request.headers.get("X-Webhook-Signature"), secrets, now=time.time())
    except WebhookSignatureError as exc:
        if exc.reason == "bad_timestamp":
            return error(400, str(exc))
        log.warning("SEPSMS webhook rejected (%s) from %s", exc.reason, request.remote_addr)
        return error(401, "invalid signature")
    if request.headers.get("X-Webhook-Event") == "credit.low":
        # SEPSMS REST API v2, "Webhooks": credit.low is listed, its body is not: nothing is read from it.
        CreditLedger(services.redis, prefix=services.hospital.prefix).provider_says_low("sepsms")
        return jsonify(status="ok", event="credit.low")
    try:
        event = parse_sepsms_event(json.loads(body), request.headers.get("X-Webhook-Event"))
    except (ValueError, InvalidDeliveryReport):
        return error(400, "body is not a SEPSMS event")
    if event.event == "credit.low":
        CreditLedger(services.redis, prefix=services.hospital.prefix).provider_says_low("sepsms")
        return jsonify(status="ok", event=event.event)
    if event.status is None or not event.sms_uuid:
        return jsonify(status="ignored", event=event.event)  # credit.low, otp.verified, …
    matched = record_delivery(services.redis, "sepsms", event.sms_uuid, event.status, prefix=services.hospital.prefix)
    return jsonify(status="ok", matched=matched)


@bp.route("/webhooks/thaibulksms/<token>", methods=["GET", "POST"])
def thaibulksms(token: str):
    services = get_services()
    # Unsigned callbacks: the secret path token is the only proof. Unset or wrong → "no such page".
    if not token_matches(token, services.settings.secret_values("thaibulksms_webhook_token")):
        return error(404, "not found")
    params = {**request.args.to_dict(), **request.form.to_dict()}
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "body is not a delivery report")
        params.update({str(k): str(v) for k, v in body.items()})
    try:
        report = parse_thaibulksms_dr(params)
    except InvalidDeliveryReport:
        return error(400, "delivery report needs Transaction")
    matched = record_delivery(services.redis, "thaibulksms", report.transaction, report.status,
                              prefix=services.hospital.prefix)
    return jsonify(status="ok", matched=matched)
