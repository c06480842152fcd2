"""LINE Messaging API, simulated: what the bot calls, and the patient's side that sends webhooks.

Behaves as LINE's reference and the provider notes say: Bearer channel access token;
reply tokens good once and for about a minute; at most 5 messages and 13 quick-reply
items; ``X-Line-Retry-Key`` (a UUID) on push, with 409 for a repeat of an accepted
request and 400 on reply; loading animation 5-60 s in steps of 5; profiles without
``pictureUrl`` for users who have none. Patients' messages, taps, follows, stickers and
images reach ``/callback`` as signed webhooks (``X-Line-Signature``) with fresh reply tokens;
an image's bytes are kept for the bot's ``GET /v2/bot/message/{id}/content`` (api-data).
"""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, jsonify, request

from handlers.sandbox import delivery
from handlers.sandbox.common import (
    bearer,
    bot_info,
    new_id,
    same,
    secret,
    serve_as,
    service_url,
    settings,
    store,
    ulid,
)
from handlers.sandbox.people import BY_USER, Patient
from handlers.sandbox.store import CONTENT_SECONDS, REPLY_TOKEN_SECONDS, RETRY_KEY_SECONDS

bp = Blueprint("sandbox_line", __name__, url_prefix="/sandbox")

MAX_MESSAGES = 5
MAX_QUICK_REPLIES = 13
MESSAGE_TYPES = {"text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex"}


def line_error(status: int, message: str, details: list | None = None):
    body = {"message": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.headers["x-line-request-id"] = str(uuid.uuid4())
    return response, status


@bp.before_request
def _authenticate():
    if request.endpoint and request.endpoint.startswith("sandbox_line."):
        if not serve_as(lambda s: same(bearer(), secret(s.line_channel_access_token))):
            return line_error(401, "Authentication failed. Confirm that the access token in the "
                                   "authorization header is valid.")
    return None


def _check_messages(messages) -> str | None:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return f"Size must be between 1 and {MAX_MESSAGES}"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            return f"messages[{index}].type: must be one of {sorted(MESSAGE_TYPES)}"
        if message["type"] == "text" and not (isinstance(message.get("text"), str) and
                                              0 < len(message["text"]) <= 5000):
            return f"messages[{index}].text: length must be between 1 and 5000"
        if message["type"] == "flex" and not (message.get("altText") and isinstance(message.get("contents"), dict)):
            return f"messages[{index}]: a flex message needs altText and contents"
        items = ((message.get("quickReply") or {}).get("items")) or []
        if len(items) > MAX_QUICK_REPLIES:
            return f"messages[{index}].quickReply.items: size must be between 0 and {MAX_QUICK_REPLIES}"
    return None


def _sent(messages: list) -> dict:
    return {"sentMessages": [{"id": str(uuid.uuid4().int)[:18], "quoteToken": new_id()} for _ in messages]}


@bp.post("/line/v2/bot/message/reply")
def reply():
    if request.headers.get("X-Line-Retry-Key"):
        return line_error(400, "The retry key is not supported for this API")
    body = request.get_json(silent=True) or {}
    problem = _check_messages(body.get("messages"))
    if problem:
        return line_error(400, "The request body has 1 error(s)", [{"message": problem, "property": "messages"}])
    user = store().take(f"line:reply-token:{body.get('replyToken')}")
    if user is None:
        store().log("line", "reply (token expired or used)", 400)
        return line_error(400, "Invalid reply token")
    _show(user, body["messages"], "reply")
    return jsonify(_sent(body["messages"]))


@bp.post("/line/v2/bot/message/push")
def push():
    retry_key = request.headers.get("X-Line-Retry-Key")
    if retry_key is not None:
        try:
            uuid.UUID(retry_key)
        except ValueError:
            return line_error(400, "The value of the X-Line-Retry-Key header is invalid")
    body = request.get_json(silent=True) or {}
    if body.get("to") not in BY_USER:
        return line_error(400, "The property, 'to', in the request body is invalid (line: -, column: -)")
    problem = _check_messages(body.get("messages"))
    if problem:
        return line_error(400, "The request body has 1 error(s)", [{"message": problem, "property": "messages"}])
    request_id = str(uuid.uuid4())
    if retry_key is not None and not store().put_text(f"line:retry-key:{retry_key}", request_id,
                                                      ttl=RETRY_KEY_SECONDS, nx=True):
        store().log("line", "push (retry key seen)", 409)
        response, status = line_error(409, "The retry key is already accepted")
        response.headers["x-line-accepted-request-id"] = store().text(f"line:retry-key:{retry_key}") or ""
        return response, status
    _show(body["to"], body["messages"], "push")
    response = jsonify(_sent(body["messages"]))
    response.headers["x-line-request-id"] = request_id
    return response


@bp.post("/line/v2/bot/chat/loading/start")
def loading():
    body = request.get_json(silent=True) or {}
    seconds = body.get("loadingSeconds", 20)
    if body.get("chatId") not in BY_USER:
        return line_error(400, "The property, 'chatId', in the request body is invalid")
    if type(seconds) is not int or not 5 <= seconds <= 60 or seconds % 5:
        return line_error(400, "The request body has 1 error(s)",
                          [{"message": "must be a multiple of 5 between 5 and 60", "property": "loadingSeconds"}])
    store().put_text(f"line:loading:{body['chatId']}", "1", ttl=seconds)
    return jsonify({}), 202


@bp.get("/line/v2/bot/info")
def info():
    return jsonify(bot_info())


@bp.get("/line/v2/bot/profile/<user_id>")
def profile(user_id: str):
    patient = BY_USER.get(user_id)
    if patient is None:
        return line_error(404, "Not found")
    return jsonify(patient.profile(settings().sandbox_url))


@bp.get("/line-data/v2/bot/message/<message_id>/content")
def content(message_id: str):
    """What a patient sent (an image), while LINE keeps it; then 404, as LINE answers."""
    found = sent_content(message_id)
    if found is None:
        return line_error(404, "Not found")
    data, content_type = found
    return data, 200, {"Content-Type": content_type}


def sent_content(message_id: str) -> tuple[bytes, str] | None:
    raw = store().redis.hmget(store().key(f"line:content:{message_id}"), "type", "data")
    return (raw[1], raw[0].decode()) if raw[0] and raw[1] is not None else None


def _show(user: str, messages: list, via: str) -> None:
    """What the patient's LINE shows: the bot's messages, marked reply or push."""
    store().delete(f"line:loading:{user}")  # LINE hides the animation when a message arrives
    store().append(f"line:chat:{user}", {"id": new_id(), "from": "bot", "via": via, "messages": messages})
    store().log("line", via, 200)


# -- the patient's side ---------------------------------------------------------------------------

def patient_sends(patient: Patient, *, text: str | None = None, postback: str | None = None,
                  display_text: str | None = None) -> None:
    """The patient types ``text`` or taps a postback: show it, and post LINE's signed webhook to /callback."""
    if postback is None:
        message = {"type": "text", "id": _message_id(), "text": text, "quoteToken": new_id()}
        _send_event(patient, {"type": "message", "message": message}, {"text": text})
    else:
        _send_event(patient, {"type": "postback", "postback": {"data": postback}},
                    {"text": display_text} if display_text else None)


def patient_follows(patient: Patient) -> None:
    """The patient adds the account as a friend: LINE's follow event (with a reply token)."""
    _send_event(patient, {"type": "follow", "follow": {"isUnblocked": False}}, {"kind": "follow"})


#: The sticker of the Messaging API reference's own example of a sticker message event.
STICKER = {"packageId": "11537", "stickerId": "52002738", "stickerResourceType": "ANIMATION",
           "keywords": ["cony", "sally", "Staring", "hi", "whatsup", "line", "howdy", "HEY", "Peeking", "wave",
                        "peek", "Hello", "yo", "greetings"]}


def patient_sends_sticker(patient: Patient) -> None:
    message = {"type": "sticker", "id": _message_id(), "quoteToken": new_id(), **STICKER}
    _send_event(patient, {"type": "message", "message": message},
                {"kind": "sticker", "packageId": STICKER["packageId"], "stickerId": STICKER["stickerId"]})


def patient_sends_image(patient: Patient, data: bytes, content_type: str) -> None:
    """An image: the event names it only; the bot downloads it from the content route while it is kept."""
    message_id = _message_id()
    key = store().key(f"line:content:{message_id}")
    with store().redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"type": content_type, "data": data})
        pipe.expire(key, CONTENT_SECONDS)
        pipe.execute()
    message = {"type": "image", "id": message_id, "quoteToken": new_id(), "contentProvider": {"type": "line"}}
    _send_event(patient, {"type": "message", "message": message}, {"kind": "image", "message_id": message_id})


def _message_id() -> str:
    return str(uuid.uuid4().int)[:18]


def _send_event(patient: Patient, fields: dict, shown: dict | None) -> None:
    """Show ``shown`` on the patient's screen, and post the event as LINE's signed webhook to /callback."""
    token = new_id()
    store().put_text(f"line:reply-token:{token}", patient.user_id, ttl=REPLY_TOKEN_SECONDS)
    event = {
        "type": fields["type"],
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "webhookEventId": ulid(),
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": patient.user_id},
        "replyToken": token,
        **fields,
    }
    if shown:
        store().append(f"line:chat:{patient.user_id}", {"id": new_id(), "from": "patient", **shown})
    body = delivery.json_body({"destination": bot_info()["userId"], "events": [event]})
    signature = delivery.line_signature(secret(settings().line_channel_secret), body)
    kind = (event.get("message") or {}).get("type", "text")
    label = event["type"] if kind == "text" else f"{event['type']} {kind}"  # never the text itself
    delivery.post_later(store(), "line", f"webhook {label}", service_url("/callback"), body=body,
                        headers={"Content-Type": "application/json", "X-Line-Signature": signature,
                                 "User-Agent": "LineBotWebhook/2.0"})
