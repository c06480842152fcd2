"""One LINE webhook event, parsed once into what the bot and its features use (``Turn``).

Read from LINE's JSON directly rather than through the SDK's webhook models: those reject
events over fields we never use (a sticker without ``quoteToken``), and a rejected event is a
patient left unanswered. Nothing past ``Turn.parse`` reads the raw event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qs

#: Added to each queued event by the webhook: when it was received (epoch seconds), for the answer
#: latency and the backlog's age. Not LINE's: ``event_id`` leaves it out of its digest.
RECEIVED_AT = "_receivedAt"


def event_id(event: Mapping[str, Any]) -> str:
    """``webhookEventId``; for an event without one, a digest of its content. ``deliveryContext``
    is left out of the digest: it is what differs in a redelivered copy (``isRedelivery``)."""
    found = event.get("webhookEventId")
    if isinstance(found, str) and found:
        return found
    content = {key: value for key, value in event.items() if key not in (RECEIVED_AT, "deliveryContext")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:26]


def source_key(event: Mapping[str, Any]) -> str:
    """Whose inbox: the chat the event came from (user, group or room)."""
    source = event.get("source") or {}
    return str(source.get("userId") or source.get("groupId") or source.get("roomId") or "unknown")


def chat_of(event: Mapping[str, Any]) -> str:
    """Where an answer to ``event`` goes: the group or room it came from, else the user's 1:1 chat.
    Never the sender's 1:1 chat for a group message: what was said in a group stays there."""
    source = event.get("source") or {}
    kind = source.get("type")
    if kind in ("group", "room"):
        found = source.get(f"{kind}Id")
        if found:
            return str(found)
    return source_key(event)


@dataclass(frozen=True)
class Location:
    """A location message's place, as the patient shared it."""

    title: str
    address: str
    latitude: Any
    longitude: Any


@dataclass(frozen=True)
class Turn:
    """One incoming LINE event as the bot and the conversation features see it."""

    event_id: str
    event_type: str               # LINE's event type: "message", "postback", "follow", …
    kind: str                     # "text", "postback", "follow", a message type ("image", …) or another event type
    user_id: str | None           # the sender
    chat: str                     # where an answer goes (``chat_of``)
    one_to_one: bool              # a 1:1 chat with the sender (not a group or room)
    reply_token: str | None = None
    text: str | None = None       # for text messages
    postback: str | None = None   # postback data, as sent
    action: str | None = None     # the postback's ``action``
    params: Mapping[str, str] = field(default_factory=dict)  # the postback's fields (first value of each)
    message_id: str | None = None  # for media messages: LINE's id of the content
    file_name: str | None = None
    location: Location | None = None
    received_at: float | None = None  # when the webhook received it (``RECEIVED_AT``)

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> "Turn":
        source = event.get("source") or {}
        message = event.get("message") or {}
        event_type = str(event.get("type") or "unknown")
        kind = str(message.get("type") or "unknown") if event_type == "message" else event_type
        user = source.get("userId")
        postback = str((event.get("postback") or {}).get("data") or "") if kind == "postback" else None
        params = {key: values[0] for key, values in parse_qs(postback or "").items() if values}
        received = event.get(RECEIVED_AT)
        return cls(
            event_id=event_id(event), event_type=str(event.get("type")), kind=kind, user_id=user,
            chat=chat_of(event), one_to_one=bool(user) and source.get("type", "user") == "user",
            reply_token=event.get("replyToken") or None,
            text=str(message.get("text") or "") if kind == "text" else None,
            postback=postback, action=params.get("action"), params=params,
            message_id=str(message.get("id") or "") if event_type == "message" else None,
            file_name=message.get("fileName"),
            location=Location(str(message.get("title") or ""), str(message.get("address") or ""),
                              message.get("latitude"), message.get("longitude")) if kind == "location" else None,
            received_at=received if isinstance(received, (int, float)) else None)
