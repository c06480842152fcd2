"""EngageLab LiveDesk's API channel, simulated (LiveDesk "send message" + the Chatwoot model under it).

``Authorization: Basic base64(api_key:api_secret)``. Contacts → ``payload.contact.id``,
conversations → ``id``, messages as the document's response (``message_type`` an int,
``sender``, ``status``). Posted messages default to ``outgoing`` and are shown as
written by the API's user; ``"message_type": "incoming"`` is the customer's side.
Every message, ours included, comes back through the webhook (the echo the service
must recognise), private notes too. Agents reply, write notes and resolve from the
page's agent desk; each of those is a webhook event as well. Messages and conversations read
back as Chatwoot's ``GET`` endpoints answer them (the service confirms what a webhook says).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, jsonify, request

from handlers.sandbox import delivery
from handlers.sandbox.common import (
    basic_pair,
    hospital_query,
    new_id,
    same,
    secret,
    self_url,
    serve_as,
    service_url,
    settings,
    store,
)
from handlers.sandbox.store import STATE_TTL

bp = Blueprint("sandbox_livedesk", __name__, url_prefix="/sandbox/livedesk/api/v2/accounts")

ACCOUNT = {"id": 1, "name": "โรงพยาบาลตัวอย่าง (sandbox)"}
API_USER = {"id": 1, "name": "LINE bot (API)", "available_name": "LINE bot (API)", "avatar_url": "",
            "type": "user", "availability_status": "online", "thumbnail": ""}
AGENT = {"id": 7, "name": "พยาบาลสมศรี", "available_name": "พยาบาลสมศรี", "avatar_url": "",
         "type": "user", "availability_status": "online", "thumbnail": ""}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # kept for the desk; a larger one is listed without its bytes
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}
TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}


def ld_error(status: int, message: str):
    return jsonify({"error": message}), status


@bp.before_request
def _authenticate():
    pair = basic_pair()
    if pair is None or not serve_as(lambda s: same(pair[0], secret(s.livedesk_api_key))
                                    and same(pair[1], secret(s.livedesk_api_secret))):
        return ld_error(401, "Invalid API key or secret")
    return None


@bp.post("/contacts")
def create_contact():
    body = request.get_json(silent=True) or {}
    if body.get("inbox_id") != settings().livedesk_inbox_id:
        return ld_error(404, "Inbox not found")
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        return jsonify({"message": "Name can't be blank"}), 422
    phone = body.get("phone_number")
    if phone is not None and not (isinstance(phone, str) and phone.startswith("+") and phone[1:].isdigit()):
        return jsonify({"message": "Phone number should be in e164 format"}), 422
    contact = {"id": store().next_id("contact", 500), "name": body["name"], "identifier": body.get("identifier"),
               "phone_number": phone, "thumbnail": body.get("avatar_url") or "", "type": "contact"}
    store().put(f"livedesk:contact:{contact['id']}", contact)
    store().log("livedesk", "create contact", 200)
    return jsonify({"payload": {"contact": contact, "contact_inbox": {"inbox": {"id": body["inbox_id"]},
                                                                      "source_id": new_id()}}})


@bp.post("/conversations")
def create_conversation():
    body = request.get_json(silent=True) or {}
    if body.get("inbox_id") != settings().livedesk_inbox_id:
        return ld_error(404, "Inbox not found")
    contact = store().get(f"livedesk:contact:{body.get('contact_id')}") if body.get("contact_id") else None
    if contact is None:
        return ld_error(404, "Resource could not be found")
    conversation = {"id": store().next_id("conversation", 140), "inbox_id": body["inbox_id"], "status": "open",
                    "contact_id": contact["id"], "source_id": body.get("source_id") or new_id(),
                    "created_at": int(time.time())}
    save_conversation(conversation)
    store().log("livedesk", "create conversation", 200)
    _webhook({"event": "conversation_created", **push_data(conversation)}, "conversation_created")
    return jsonify(push_data(conversation))


@bp.post("/conversations/<int:conversation_id>/messages")
def create_message(conversation_id: int):
    conversation = conversation_by_id(conversation_id)
    if conversation is None:
        return ld_error(404, "Resource could not be found")
    if request.mimetype == "multipart/form-data":
        form = request.form
        content, message_type, private = form.get("content", ""), form.get("message_type", "outgoing"), \
            form.get("private") == "true"
        attachments = [_keep_attachment(f) for f in request.files.getlist("attachments[]")]
        attributes = {}
    else:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return ld_error(400, "body must be a JSON object")
        content, message_type = body.get("content"), body.get("message_type", "outgoing")
        private, attributes, attachments = bool(body.get("private", False)), body.get("content_attributes") or {}, []
    if message_type not in ("incoming", "outgoing"):
        return jsonify({"message": "message_type must be incoming or outgoing"}), 422
    if not attachments and not (isinstance(content, str) and content.strip()):
        return jsonify({"message": "Content can't be blank"}), 422
    sender = contact_sender(conversation) if message_type == "incoming" else API_USER
    message = add_message(conversation, content or "", message_type, private, sender, attributes, attachments)
    store().log("livedesk", f"{'note' if private else message_type} message", 200)
    return jsonify(message)


@bp.get("/conversations/<int:conversation_id>")
def show_conversation(conversation_id: int):
    """Chatwoot's conversation (its ``status``): the service reads a resolution back before acting on it."""
    conversation = conversation_by_id(conversation_id)
    if conversation is None:
        return ld_error(404, "Resource could not be found")
    return jsonify(push_data(conversation))


@bp.get("/conversations/<int:conversation_id>/messages")
def list_messages(conversation_id: int):
    """Chatwoot's list, newest last, 20 older than ``before``: the service reads agents' messages back."""
    if conversation_by_id(conversation_id) is None:
        return ld_error(404, "Resource could not be found")
    before = request.args.get("before", type=int) or 10**12
    return jsonify({"meta": {}, "payload": [m for m in messages_of(conversation_id) if m["id"] < before][-20:]})


@bp.post("/conversations/<int:conversation_id>/messages/<int:message_id>/retry")
def retry(conversation_id: int, message_id: int):
    message = next((m for m in messages_of(conversation_id) if m["id"] == message_id), None)
    if message is None:
        return ld_error(404, "Resource could not be found")
    if message["status"] != "failed":
        return jsonify({"message": "Only failed messages can be retried"}), 422
    store().replace_item(f"livedesk:messages:{conversation_id}", {"id": message_id}, status="sent")
    return jsonify({**message, "status": "sent"})


# -- the model -------------------------------------------------------------------------------------

def save_conversation(conversation: dict) -> None:
    store().put(f"livedesk:conversation:{conversation['id']}", conversation)
    store().redis.zadd(store().key("livedesk:conversations"), {str(conversation["id"]): time.time()})
    store().redis.expire(store().key("livedesk:conversations"), 24 * 3600)


def conversation_by_id(conversation_id) -> dict | None:
    return store().get(f"livedesk:conversation:{conversation_id}")


def conversations() -> list[dict]:
    """Every conversation, the most recently active first."""
    ids = store().redis.zrevrange(store().key("livedesk:conversations"), 0, 50)
    found = [conversation_by_id(i.decode()) for i in ids]
    return [c for c in found if c is not None]


def messages_of(conversation_id) -> list[dict]:
    return store().items(f"livedesk:messages:{conversation_id}")


def contact_sender(conversation: dict) -> dict:
    contact = store().get(f"livedesk:contact:{conversation['contact_id']}") or {}
    return {"id": contact.get("id"), "name": contact.get("name"), "thumbnail": contact.get("thumbnail", ""),
            "type": "contact", "identifier": contact.get("identifier")}


def push_data(conversation: dict) -> dict:
    """The conversation as Chatwoot's webhooks carry it (``Conversations::EventDataPresenter#push_data``)."""
    contact = store().get(f"livedesk:contact:{conversation['contact_id']}") or {}
    last = messages_of(conversation["id"])[-1:]
    return {"id": conversation["id"], "inbox_id": conversation["inbox_id"], "status": conversation["status"],
            "account_id": ACCOUNT["id"], "contact_inbox": {"source_id": conversation["source_id"]},
            "meta": {"sender": {**contact, "type": "contact"}, "assignee": None},
            "messages": last, "created_at": conversation["created_at"],
            "timestamp": int(time.time()), "unread_count": 0}


def add_message(conversation: dict, content: str, message_type: str, private: bool, sender: dict,
                attributes: dict | None = None, attachments: list | None = None) -> dict:
    """Store a message and send its ``message_created`` webhook; an incoming one reopens a resolved chat."""
    message = {"id": store().next_id("message", 3000), "content": content, "inbox_id": conversation["inbox_id"],
               "conversation_id": conversation["id"], "message_type": MESSAGE_TYPES[message_type],
               "content_type": "text", "status": "sent", "content_attributes": attributes or {},
               "created_at": int(time.time()), "private": private, "source_id": None,
               "sender": sender, "attachments": attachments or []}
    message["sorting_id"] = message["id"]
    store().append(f"livedesk:messages:{conversation['id']}", message)
    if message_type == "incoming" and not private and conversation["status"] == "resolved":
        set_status(conversation, "open")
    else:
        save_conversation(conversation)  # the most recent first in the desk's list
    _webhook({"event": "message_created", **{k: v for k, v in message.items() if k != "message_type"},
              "message_type": message_type, "conversation": push_data(conversation),
              "account": ACCOUNT, "inbox": {"id": conversation["inbox_id"], "name": "LINE (API channel)"}},
             "message_created")
    return message


def set_status(conversation: dict, status: str) -> None:
    conversation["status"] = status
    save_conversation(conversation)
    _webhook({"event": "conversation_status_changed", **push_data(conversation),
              "changed_attributes": [{"status": {"current_value": status}}]}, "conversation_status_changed")


def agent_writes(conversation_id: int, content: str, private: bool) -> dict | None:
    """An agent types in the desk: a reply (outgoing) or a private note."""
    conversation = conversation_by_id(conversation_id)
    if conversation is None:
        return None
    return add_message(conversation, content, "outgoing", private, AGENT)


def agent_resolves(conversation_id: int) -> bool:
    conversation = conversation_by_id(conversation_id)
    if conversation is None or conversation["status"] == "resolved":
        return False
    set_status(conversation, "resolved")
    return True


def _webhook(payload: dict, label: str) -> None:
    token = secret(settings().livedesk_webhook_token)
    body = delivery.json_body(payload)
    headers = {"Content-Type": "application/json"}
    signing = secret(settings().livedesk_webhook_secret)
    if signing:  # Chatwoot's newer signature, when the service expects one
        timestamp = str(int(time.time()))
        digest = hmac.new(signing.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers.update({"X-Chatwoot-Signature": f"sha256={digest}", "X-Chatwoot-Timestamp": timestamp})
    delivery.post_later(store(), "livedesk", label, service_url(f"/webhooks/livedesk/{token}"), body=body,
                        headers=headers)


def _keep_attachment(upload) -> dict:
    """The attachment as the document's response shows it; its bytes kept for the desk to show
    (``data_url``/``thumb_url`` point at the page's own route, as LiveDesk's point at its storage)."""
    data = upload.read(MAX_ATTACHMENT_BYTES + 1)
    attachment_id = store().next_id("attachment", 190)
    url = ""
    if len(data) <= MAX_ATTACHMENT_BYTES:
        key = store().key(f"livedesk:attachment:{attachment_id}")
        with store().redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"type": upload.mimetype or "application/octet-stream", "data": data})
            pipe.expire(key, STATE_TTL)
            pipe.execute()
        url = self_url(f"/sandbox/ui/desk/attachments/{attachment_id}{hospital_query()}")
    return {"id": attachment_id, "file_type": _file_type(upload.mimetype), "account_id": ACCOUNT["id"],
            "extension": None, "data_url": url, "thumb_url": url if _file_type(upload.mimetype) == "image" else "",
            "file_size": len(data), "width": None, "height": None, "file_name": upload.filename}


def attachment(attachment_id: int) -> tuple[bytes, str] | None:
    raw = store().redis.hmget(store().key(f"livedesk:attachment:{attachment_id}"), "type", "data")
    return (raw[1], raw[0].decode()) if raw[0] and raw[1] is not None else None


def _file_type(mimetype: str) -> str:
    kind = mimetype.split("/")[0]
    return kind if kind in ("image", "audio", "video") else "file"
