"""SEPSMS REST API v2 and ThaiBulkSMS API v2, simulated; every SMS lands on the page's phone.

SEPSMS (SEPSMS REST API v2): ``X-API-Key``; ``/otp/send`` makes the code and answers
only the ``reference``; ``/otp/verify`` takes ``reference`` + ``pin``; ``/message/send``;
``GET /message/{uuid}``, ``GET /message/credit/balance``; errors
``{success:false, error:{code, message}}``; 429 with ``Retry-After`` past the rate limits
(OTP 5/min, SMS 120/min, 2,400/min overall); delivery webhooks to ``/webhooks/sepsms``
signed ``X-Webhook-Signature: t=<unix>,v1=<hex>``.

ThaiBulkSMS (ThaiBulkSMS API v2): Basic auth with key:secret; ``POST /sms`` (form or
JSON) answering ``phone_number_list`` / ``bad_phone_number_list``; errors
``{"error": {code, name, description}}`` with the document's codes; ``GET /credit``;
delivery reports ``Transaction=…&Status=…&Time=…`` to the key's webhook URL.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import string
import time
import uuid

from flask import Blueprint, jsonify, request

from bot.phone import InvalidPhoneNumber, normalize_thai_mobile
from handlers.sandbox import delivery
from handlers.sandbox.common import basic_pair, same, secret, serve_as, service_url, settings, store

bp = Blueprint("sandbox_sms", __name__, url_prefix="/sandbox")

SEPSMS_LIMITS = {"otp": 5, "sms": 120, "all": 2400}   # per minute ("Rate limits")
CARRIER_SECONDS = (0.4, 1.2)   # sent, then delivered: what a phone network takes, roughly
CREDIT = 10_000


# -- the phone -------------------------------------------------------------------------------------

def _deliver_to_phone(provider: str, number: str, text: str, message_id: str) -> None:
    kept = store()  # the patient's one phone, whichever hospital's account sent it
    kept.everyone().append("sms", kept.mark({"id": message_id, "provider": provider, "to": number, "text": text,
                                             "status": "sent"}))


def phone_messages() -> list[dict]:
    return store().everyone().items("sms", 50)


# -- SEPSMS ----------------------------------------------------------------------------------------

def sep_error(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify({"success": False, "error": {"code": code, "message": message}})
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response, status


@bp.before_request
def _authenticate():
    if request.path.startswith("/sandbox/sepsms/"):
        if not serve_as(lambda s: same(request.headers.get("X-API-Key"), secret(s.sepsms_api_key))):
            return sep_error(401, "auth.invalid_credentials", "API key is missing or invalid")
        return _sepsms_rate(("all", "otp") if request.path.endswith("/otp/send")
                            else ("all", "sms") if request.path.endswith("/message/send") else ("all",))
    if request.path.startswith("/sandbox/thaibulksms/"):
        pair = basic_pair()
        if pair is None or not serve_as(lambda s: same(pair[0], secret(s.thaibulksms_api_key))
                                        and same(pair[1], secret(s.thaibulksms_api_secret))):
            return tbs_error(401, 100, "ERROR_AUTHENTICATION_FAILED", "Authentication failed.")
    return None


def _sepsms_rate(budgets: tuple[str, ...]):
    for budget in budgets:
        count = store().hit(budget)
        if count > SEPSMS_LIMITS[budget]:
            wait = 60 - int(time.time()) % 60
            return sep_error(429, "rate_limit.exceeded", "Too many requests",
                             {"Retry-After": str(wait), "RateLimit-Remaining": "0"})
    return None


def _msisdn(value) -> str | None:
    try:
        return normalize_thai_mobile(str(value)).msisdn
    except InvalidPhoneNumber:
        return None


@bp.post("/sepsms/api/v2/otp/send")
def otp_send():
    body = request.get_json(silent=True) or {}
    number = _msisdn(body.get("destination", ""))
    template = body.get("template") or "รหัสยืนยันของคุณคือ {code} (Ref: {ref})"
    ttl, length = body.get("ttlSeconds", 300), body.get("codeLength", 6)
    if number is None:
        return sep_error(400, "validation.destination", "destination must be 0xxxxxxxxx or 66xxxxxxxxx")
    if not body.get("origin"):
        return sep_error(400, "validation.origin", "origin is required")
    if "{code}" not in template:
        return sep_error(400, "validation.template", "template must contain {code}")
    if type(ttl) is not int or not 60 <= ttl <= 600:
        return sep_error(400, "validation.ttl_seconds", "ttlSeconds must be 60-600")
    if type(length) is not int or not 4 <= length <= 8:
        return sep_error(400, "validation.code_length", "codeLength must be 4-8")
    code = "".join(random.SystemRandom().choice(string.digits) for _ in range(length))
    reference = "".join(random.SystemRandom().choice(string.ascii_uppercase + string.digits) for _ in range(6))
    sms_uuid = str(uuid.uuid4())
    name = store().key(f"sepsms:otp:{reference}")
    store().redis.hset(name, mapping={"code": code, "destination": number, "attempts": 0})
    store().redis.expire(name, ttl)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ttl)
    _sepsms_sent(sms_uuid, number, template.replace("{code}", code).replace("{ref}", reference))
    store().log("sepsms", "otp/send", 200)
    return jsonify({"result": {"uuid": sms_uuid, "reference": reference, "destination": number,
                               "expiresAt": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                               "ttlSeconds": ttl}})


@bp.post("/sepsms/api/v2/otp/verify")
def otp_verify():
    body = request.get_json(silent=True) or {}
    reference, pin = str(body.get("reference") or ""), str(body.get("pin") or "")
    name = store().key(f"sepsms:otp:{reference}")
    record = {k.decode(): v.decode() for k, v in store().redis.hgetall(name).items()}
    if not record:
        store().log("sepsms", "otp/verify (expired or unknown)", 404)
        return sep_error(404, "otp.expired", "OTP reference not found or expired")
    if int(record["attempts"]) >= 5:
        return sep_error(410, "otp.max_attempts", "too many attempts for this reference")
    store().redis.hincrby(name, "attempts", 1)
    if not secrets.compare_digest(pin, record["code"]):
        store().log("sepsms", "otp/verify (wrong pin)", 400)
        return sep_error(400, "otp.invalid_pin", "pin is incorrect")
    store().redis.delete(name)  # single use
    store().log("sepsms", "otp/verify", 200)
    _sepsms_webhook("otp.verified", {"reference": reference, "msisdn": record["destination"], "verified": True})
    return jsonify({"result": {"reference": reference, "verified": True}})


@bp.post("/sepsms/api/v2/message/send")
def message_send():
    body = request.get_json(silent=True) or {}
    recipients = body.get("recipients")
    if not body.get("origin"):
        return sep_error(400, "validation.origin", "origin is required")
    if not isinstance(recipients, list) or not recipients:
        return sep_error(400, "validation.recipients", "recipients must be a non-empty list")
    if not isinstance(body.get("message"), str) or not body["message"]:
        return sep_error(400, "validation.message", "message is required")
    numbers = [_msisdn(r) for r in recipients]
    good = [n for n in numbers if n]
    sms_uuid = str(uuid.uuid4())
    for number in good:
        _sepsms_sent(sms_uuid, number, body["message"])
    store().log("sepsms", "message/send", 200)
    return jsonify({"result": {"uuid": sms_uuid, "refNo": "SP" + sms_uuid[:10].upper(), "totalMsisdn": len(good),
                               "totalCredit": len(good), "blockedCount": len(numbers) - len(good),
                               "status": "pending"}})


@bp.get("/sepsms/api/v2/message/<sms_uuid>")
def message_status(sms_uuid: str):
    sent = store().get(f"sepsms:message:{sms_uuid}")
    if sent is None:
        return sep_error(404, "message.not_found", "message not found")
    status = sent["status"]
    return jsonify({"result": {"uuid": sms_uuid, "origin": settings().sepsms_origin, "status":
                               "completed" if status == "success" else "pending", "totalMsisdn": 1,
                               "drSummary": [{"drStatus": status, "count": 1}], "refundedCount": 0}})


@bp.get("/sepsms/api/v2/message/credit/balance")
def sepsms_credit():
    return jsonify({"result": {"balance": CREDIT}})


def _sepsms_sent(sms_uuid: str, number: str, text: str) -> None:
    local = "0" + number[2:]
    message_id = f"sepsms:{sms_uuid}:{local}"
    store().put(f"sepsms:message:{sms_uuid}", {"status": "pending"})
    _deliver_to_phone("sepsms", local, text, message_id)
    tx_id = uuid.uuid4().hex
    report = {"smsUuid": sms_uuid, "msisdn": number, "txId": tx_id}
    _sepsms_webhook("sms.sent", {**report, "status": "sent"}, delay=CARRIER_SECONDS[0])
    kept = store()

    def delivered() -> None:
        kept.everyone().replace_item("sms", {"id": message_id}, status="delivered")
        kept.put(f"sepsms:message:{sms_uuid}", {"status": "success"})

    _sepsms_webhook("dr.success", {**report, "status": "success"}, delay=CARRIER_SECONDS[1], on_due=delivered)


def _sepsms_webhook(event: str, payload: dict, delay: float = 0.0, on_due=None) -> None:
    body = delivery.json_body(payload)
    timestamp = int(time.time() + delay)
    signing = secret(settings().sepsms_webhook_secret).split(",")[0].strip()
    headers = {"Content-Type": "application/json", "X-Webhook-Event": event,
               "X-Webhook-Timestamp": str(timestamp),
               "X-Webhook-Signature": delivery.sepsms_signature(signing, body, timestamp)}
    delivery.post_later(store(), "sms", f"sepsms {event}", service_url("/webhooks/sepsms"), body=body,
                        headers=headers, delay=delay, on_due=on_due)


# -- ThaiBulkSMS -----------------------------------------------------------------------------------

def tbs_error(status: int, code: int, name: str, description: str):
    return jsonify({"error": {"code": code, "name": name, "description": description}}), status


@bp.post("/thaibulksms/sms")
def tbs_send():
    fields = request.form.to_dict() if not request.is_json else {k: str(v) for k, v in
                                                                 (request.get_json(silent=True) or {}).items()}
    numbers = [n.strip() for n in fields.get("msisdn", "").split(",") if n.strip()]
    if not numbers:
        return tbs_error(400, 114, "ERROR_MSISDN", "MSISDN is invalid.")
    if len(numbers) > 500:
        return tbs_error(400, 115, "ERROR_MSISDN_EXCEEDED_LIMIT", "MSISDN exceeded the limit.")
    if not fields.get("message"):
        return tbs_error(400, 112, "ERROR_MESSAGE", "The message is invalid.")
    if fields.get("sender") != settings().thaibulksms_sender:  # exact, case-sensitive
        return tbs_error(400, 111, "ERROR_SENDER_NOT_FOUND", "Sender not found.")
    if fields.get("force") not in (None, "standard", "corporate"):
        return tbs_error(400, 109, "ERROR_FORCE", "Force is invalid.")
    expire = fields.get("expire")
    if expire is not None:
        hours, sep, minutes = expire.partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            return tbs_error(400, 137, "ERROR_TTL_FORMAT", "ttl expire must be HH:mm format")
        if not 5 < int(hours) * 60 + int(minutes) <= 6 * 60:
            # The parameter table says 5 minutes to 6 hours; error 138's text says up to 11 hours.
            return tbs_error(400, 138, "ERROR_TTL", "Expiration period is invalid, expire time must be more "
                                                    "than 5 minutes and not more than 11 hours.")
    sent, bad = [], []
    for number in dict.fromkeys(numbers):
        msisdn = _msisdn(number)
        if msisdn is None:
            bad.append({"number": number, "message": "MSISDN is invalid."})
            continue
        message_id = secrets.token_urlsafe(16)[:22]
        sent.append({"number": msisdn, "message_id": message_id, "used_credit": 1})
        _deliver_to_phone("thaibulksms", "0" + msisdn[2:], fields["message"], f"thaibulksms:{message_id}")
        _tbs_report(message_id)
    store().log("thaibulksms", "sms", 201)
    return jsonify({"remaining_credit": CREDIT - len(sent), "total_use_credit": len(sent),
                    "credit_type": fields.get("force") or "standard", "phone_number_list": sent,
                    "bad_phone_number_list": bad}), 201


@bp.get("/thaibulksms/credit")
def tbs_credit():
    return jsonify({"remaining_credit": CREDIT})


def _tbs_report(message_id: str) -> None:
    kept = store()
    token = secret(settings().thaibulksms_webhook_token)
    body = f"Transaction={message_id}&Status=delivery&Time={int(time.time())}".encode()
    delivery.post_later(store(), "sms", "thaibulksms DR", service_url(f"/webhooks/thaibulksms/{token}"), body=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                        delay=CARRIER_SECONDS[1],
                        on_due=lambda: kept.everyone().replace_item("sms", {"id": f"thaibulksms:{message_id}"},
                                                                    status="delivered"))
