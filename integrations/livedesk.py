"""EngageLab LiveDesk: the API channel that carries a handoff to agents.

LiveDesk is built on Chatwoot. An API-channel conversation takes three calls: create a contact
(``payload.contact.id``), create a conversation for it (``id``), then post messages to it. The
patient's own words go in as ``incoming``; what the API posts is ``outgoing`` by default (shown as
if an agent wrote it). Every post also comes back through the webhook, so callers keep the ids.

A post can be answered 2xx with ``status: "failed"`` and ``content_attributes.external_error``
(EngageLab LiveDesk "ส่งข้อความ", "การตอบกลับเมื่อล้มเหลว"): LiveDesk made the message but could
not deliver it. That is ``LiveDeskMessageFailed`` (retryable, with the message id): repeat it
with ``retry_message`` ("ส่งข้อความที่ล้มเหลวใหม่อีกครั้ง"), not by posting it again.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Sequence

import requests

from bot.privacy import mask_numbers
from integrations.errors import ProviderError
from integrations.http import ErrorEnvelope, HttpClient

DEFAULT_BASE_URL = "https://livedesk-api.engagelab.com"
MESSAGE_TYPES = ("outgoing", "incoming")
# Chatwoot validates contact phone numbers as E.164 and answers 422 otherwise.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class LiveDeskMessageFailed(ProviderError):
    """LiveDesk made the message (``message_id``) but marked it ``failed``.

    ``external_error`` is the channel's reason, masked (it may quote a number). Retryable:
    call ``retry_message(conversation_id, message_id)`` with backoff; a new post would
    duplicate the message. ``answer`` is LiveDesk's message, for its id's webhook echo.
    """

    retryable = True

    def __init__(self, message: str, *, conversation_id: int, message_id: int, external_error: str,
                 answer: dict, **kwargs):
        super().__init__(message, **kwargs)
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.external_error = external_error
        self.answer = answer


class LiveDeskClient(HttpClient):
    """LiveDesk API client (Basic auth with the API key and secret)."""

    provider = "livedesk"

    def __init__(self, api_key: str, api_secret: str, *, base_url: str = DEFAULT_BASE_URL,
                 **http_options):
        super().__init__(base_url, **http_options)
        token = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"

    @classmethod
    def from_settings(cls, settings, **http_options) -> "LiveDeskClient":
        """Build from ``Settings`` (LIVEDESK_API_KEY, LIVEDESK_API_SECRET, LIVEDESK_BASE_URL)."""
        settings.require("livedesk_api")
        return cls(settings.livedesk_api_key.get_secret_value(),
                   settings.livedesk_api_secret.get_secret_value(),
                   base_url=settings.livedesk_base_url, **http_options)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._authorization}

    def error_envelope(self, body, response: requests.Response) -> ErrorEnvelope:
        """Chatwoot-style error bodies: ``{error}``, ``{message}``, ``{errors: [...]}``, or EngageLab's
        ``{code, message}``; the HTTP status picks the error class."""
        if not isinstance(body, dict):
            return ErrorEnvelope()
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            errors = "; ".join(str(e.get("message", e) if isinstance(e, dict) else e) for e in errors)
        code = body.get("code")
        return ErrorEnvelope(message=str(body.get("error") or body.get("message") or errors or "") or None,
                             code=None if code is None else str(code))

    # -- endpoints ---------------------------------------------------------------
    def create_contact(self, inbox_id: int, name: str, identifier: str | None = None,
                       phone_number: str | None = None, avatar_url: str | None = None) -> int:
        """Create a contact in the API inbox; returns its id (``payload.contact.id``)."""
        if phone_number is not None and not _E164.match(phone_number):
            raise ValueError("LiveDesk phone_number must be E.164, e.g. +66812345678")
        body = {"inbox_id": inbox_id, "name": name, "identifier": identifier,
                "phone_number": phone_number, "avatar_url": avatar_url}
        answer = self.json("POST", "/api/v2/accounts/contacts",
                           json={k: v for k, v in body.items() if v is not None})
        return self._id(answer, "payload", "contact", "id")

    def create_conversation(self, inbox_id: int, contact_id: int | None = None,
                            source_id: str | None = None) -> int:
        """Open a conversation for a contact (by ``contact_id`` or ``source_id``); returns its id."""
        if contact_id is None and source_id is None:
            raise ValueError("create_conversation needs contact_id or source_id")
        body = {"inbox_id": inbox_id, "contact_id": contact_id, "source_id": source_id}
        answer = self.json("POST", "/api/v2/accounts/conversations",
                           json={k: v for k, v in body.items() if v is not None})
        return self._id(answer, "id")

    def send_message(self, conversation_id: int, content: str, *, message_type: str = "outgoing",
                     private: bool = False, in_reply_to: int | None = None,
                     content_attributes: dict | None = None) -> dict:
        """Post a text message; returns LiveDesk's message (with ``id``).

        NotFoundError means the conversation is gone (the caller opens a new one). A 2xx
        carrying ``status: "failed"`` raises ``LiveDeskMessageFailed``.
        """
        _check_message_type(message_type)
        body: dict[str, Any] = {"content": content, "message_type": message_type, "private": private}
        attributes = dict(content_attributes or {})
        if in_reply_to is not None:
            attributes["in_reply_to"] = in_reply_to
        if attributes:
            body["content_attributes"] = attributes
        return self._message(conversation_id, self.json("POST", self._messages(conversation_id), json=body))

    def send_attachments(self, conversation_id: int, files: Sequence[tuple[str, bytes, str]],
                         content: str = "", *, message_type: str = "outgoing",
                         private: bool = False) -> dict:
        """Post files ``(filename, bytes, content_type)`` as one message (multipart ``attachments[]``)."""
        _check_message_type(message_type)
        if not files:
            raise ValueError("send_attachments needs at least one file")
        parts = [("attachments[]", (name, data, content_type)) for name, data, content_type in files]
        # The seed's curl shows only content and attachments[]; the rest are Chatwoot's form fields.
        form = {"content": content, "message_type": message_type,
                "private": "true" if private else "false"}
        return self._message(conversation_id,
                             self.json("POST", self._messages(conversation_id), data=form, files=parts))

    def retry_message(self, conversation_id: int, message_id: int) -> dict:
        """Re-send a message whose status is ``failed``; returns LiveDesk's answer (the document
        shows none: often empty). ``LiveDeskMessageFailed`` again if that answer still says failed."""
        answer = self.json("POST", f"{self._messages(conversation_id)}/{int(message_id)}/retry")
        answer = answer if isinstance(answer, dict) else {}
        if answer.get("status") == "failed":
            raise self._failed(conversation_id, {**answer, "id": int(message_id)})
        return answer

    def conversation_messages(self, conversation_id: int, *, before: int | None = None) -> list[dict]:
        """The conversation's messages, newest last (up to Chatwoot's page of 20 older than ``before``).

        The seed documents no read endpoint; this is Chatwoot's ``GET …/conversations/:id/messages``
        (``{meta, payload: [...]}``) on LiveDesk's v2 paths, used to confirm an agent's message
        before it is pushed to a patient (``LIVEDESK_READ_BACK``).
        """
        params = {"before": int(before)} if before is not None else None
        answer = self.json("GET", self._messages(conversation_id), params=params)
        found = answer.get("payload") if isinstance(answer, dict) else answer
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []

    def conversation(self, conversation_id: int) -> dict:
        """The conversation as LiveDesk has it (``status``: ``open`` | ``pending`` | ``resolved`` | …).

        Not in the seed either: Chatwoot's ``GET …/conversations/:id`` on LiveDesk's v2 paths, used to
        confirm a ``conversation_status_changed`` before a handoff is closed (``LIVEDESK_READ_BACK``).
        """
        answer = self.json("GET", f"/api/v2/accounts/conversations/{int(conversation_id)}")
        return answer if isinstance(answer, dict) else {}

    # -- internals ---------------------------------------------------------------
    @staticmethod
    def _messages(conversation_id: int) -> str:
        # int(): an id is a number; this also keeps anything else out of the path.
        return f"/api/v2/accounts/conversations/{int(conversation_id)}/messages"

    def _message(self, conversation_id: int, answer: Any) -> dict:
        self._id(answer, "id")  # the caller needs the id to recognise the webhook echo
        if failed := self.failure(conversation_id, answer):
            raise failed
        return answer

    def failure(self, conversation_id: int, message: dict) -> LiveDeskMessageFailed | None:
        """The ``LiveDeskMessageFailed`` of a message (answered or read back) marked ``failed``, else None."""
        return self._failed(conversation_id, message) if message.get("status") == "failed" else None

    def _failed(self, conversation_id: int, answer: dict) -> LiveDeskMessageFailed:
        attributes = answer.get("content_attributes")
        reason = attributes.get("external_error") if isinstance(attributes, dict) else None
        external_error = mask_numbers(str(reason or "no reason given"))[:300]
        message_id = self._id(answer, "id")
        return LiveDeskMessageFailed(f"message {message_id} failed: {external_error}", provider=self.provider,
                                     code="message_failed", conversation_id=int(conversation_id),
                                     message_id=message_id, external_error=external_error, answer=answer)

    def _id(self, answer: Any, *keys: str) -> int:
        value = answer
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(200, f"answer has no {'.'.join(keys)}", cls=ProviderError)
        return value


def _check_message_type(message_type: str) -> None:
    if message_type not in MESSAGE_TYPES:
        raise ValueError(f"message_type must be one of {MESSAGE_TYPES}")
