"""Oho Chat developer API: contacts and the agent/bot switch of a LINE chat room.

A contact is the triple platform ``line`` / ``platform_id`` (the bot's LINE user id, from
``GET /v2/bot/info``) / ``user_id`` (the patient's LINE user id). Every answer is the envelope
``{ok, status_code, message, data}``; a 2xx with ``ok: false`` is an error too.

Two kinds of ``platform_id`` (Oho Chat developer API, "2. Contact API" and "3. Chat API"
path parameters): contact endpoints take the bot's user id only; chat endpoints
(request-agent, close-chat) take the bot's user id or the provider's channel id. The
client keeps them apart: ``platform_id`` for contacts, ``chat_platform_id`` (defaulting
to ``platform_id``) for chats.

Update contact replaces ``tags``, ``labels`` and ``attributes`` wholesale, and the
get-contact answer's body is not documented: a merge writes a field back only when the
read showed it, so a contact whose answer lacks a field never has it erased.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping
from urllib.parse import quote

import requests

from bot.privacy import mask
from integrations.errors import ConflictError, InvalidRequestError, ProviderError, error_class_for_status
from integrations.http import ErrorEnvelope, HttpClient

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.developer.oho.chat"
MAX_TAGS, MAX_LABELS = 20, 10
# Character limits from the seed's field tables.
_TEXT_LIMITS = {"profile_picture_url": 2000, "platform_display_name": 255, "display_name": 255,
                "first_name": 100, "last_name": 100, "phone": 20, "email": 254, "birth_date": 24}
_UPDATE_TEXT_LIMITS = {**_TEXT_LIMITS, "display_name": 1000}  # the update table allows a longer name
_SOCIAL_LIMITS = {"id": 40, "platform_id": 40, "platform_name": 255, "line_basic_id": 255}
_CREATE_REQUIRED = ("social_profile", "profile_picture_url", "platform_display_name", "display_name",
                    "first_name")
_UPDATE_FIELDS = frozenset(_UPDATE_TEXT_LIMITS) - {"profile_picture_url", "platform_display_name"} | {
    "country", "city", "gender", "age", "attributes", "tags", "labels"}
_CREATE_FIELDS = _UPDATE_FIELDS | {"social_profile", "profile_picture_url", "platform_display_name"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class OhoLimitError(InvalidRequestError, ValueError):
    """A contact field breaks one of Oho's documented limits (e.g. 20 tags, 10 labels); raised
    before anything is sent. Permanent: the same request fails the same way, so never retried."""

    def __init__(self, message: str):
        super().__init__(message, provider="oho", code="oho_limit")


def line_contact(bot_info: Mapping[str, Any], user_id: str, profile: Mapping[str, Any],
                 default_picture_url: str | None = None) -> dict:
    """The create-contact body for a LINE user, from LINE's bot info and the user's profile.

    ``profile_picture_url`` is required (Oho Chat developer API, "2.2 Create Contact"), and
    LINE's profile has no ``pictureUrl`` for a user without a picture: ``default_picture_url``
    (OHO_DEFAULT_AVATAR_URL) stands in. Never an empty string: Oho refuses the contact.
    """
    name = str(profile.get("displayName") or "LINE user")
    picture = profile.get("pictureUrl") or default_picture_url
    if not isinstance(picture, str) or not picture.strip():
        raise OhoLimitError("Oho contact: profile_picture_url is required and the user has no LINE picture; "
                            "set OHO_DEFAULT_AVATAR_URL")
    return {
        "social_profile": {"platform": "line", "id": user_id, "platform_id": bot_info["userId"],
                           "platform_name": bot_info["displayName"], "line_basic_id": bot_info["basicId"]},
        "profile_picture_url": picture,
        "platform_display_name": name, "display_name": name[:255], "first_name": name[:100],
    }


class OhoClient(HttpClient):
    """Oho Chat client; methods follow the seed's endpoints."""

    provider = "oho"

    def __init__(self, api_key: str, *, platform_id: str | None = None, chat_platform_id: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, platform: str = "line", **http_options):
        super().__init__(base_url, **http_options)
        self._api_key = api_key
        self.platform_id = platform_id  # contacts: the default when a call passes platform_id=None
        self.chat_platform_id = chat_platform_id  # chats: the default, else platform_id
        self.platform = platform

    @classmethod
    def from_settings(cls, settings, **http_options) -> "OhoClient":
        """Build from ``Settings`` (OHO_API_KEY, OHO_BASE_URL, OHO_PLATFORM_ID, OHO_CHAT_PLATFORM_ID)."""
        settings.require("oho")
        return cls(settings.oho_api_key.get_secret_value(), platform_id=settings.oho_platform_id,
                   chat_platform_id=settings.oho_chat_platform_id, base_url=settings.oho_base_url,
                   **http_options)

    def auth_headers(self) -> dict[str, str]:
        return {"x-oho-api-key": self._api_key}

    def error_envelope(self, body, response: requests.Response) -> ErrorEnvelope:
        """``{ok, status_code, message, data}``: the envelope's ``status_code`` over the HTTP status."""
        body = body if isinstance(body, dict) else {}
        code = body.get("status_code")
        status = code if isinstance(code, int) and code >= 400 else response.status_code
        # ok=false with no error status: nothing says whether a retry helps, so it is not retried.
        cls = error_class_for_status(status) if status >= 400 else ProviderError
        return ErrorEnvelope(message=str(body.get("message") or "") or None, status=status, cls=cls)

    # -- endpoints ---------------------------------------------------------------
    def get_contact(self, platform_id: str | None, user_id: str) -> dict:
        """The contact's ``data``; NotFoundError when the triple matches no contact."""
        data = self._call("GET", self._path("contact", platform_id, user_id))
        if not isinstance(data, dict):
            raise self.error(200, "contact answer carries no data", cls=ProviderError)
        return data

    def create_contact(self, contact: Mapping[str, Any]) -> bool:
        """Create a contact (the seed's body; see ``line_contact``). False if it already existed."""
        _check_fields(contact, _CREATE_FIELDS, _TEXT_LIMITS, required=_CREATE_REQUIRED)
        try:
            self._call("POST", "/contact", json=dict(contact))
        except ConflictError:
            return False  # 409 "The contact already exists": what we wanted
        return True

    def update_contact(self, platform_id: str | None, user_id: str, **fields: Any) -> None:
        """PATCH the given fields. Oho REPLACES tags, labels and attributes wholesale."""
        _check_fields(fields, _UPDATE_FIELDS, _UPDATE_TEXT_LIMITS)
        # Same body, same end state: repeating a failed attempt is safe.
        self._call("PATCH", self._path("contact", platform_id, user_id), json=fields, idempotent=True)

    def request_agent(self, platform_id: str | None, user_id: str) -> bool:
        """Hand the chat room to a human (pauses Oho's bot). False if it already is / cannot move (409).

        ``platform_id``: the bot's user id or the channel id; None = ``chat_platform_id``."""
        return self._switch(self._path("chat", platform_id, user_id) + "/request-agent")

    def close_chat(self, platform_id: str | None, user_id: str) -> bool:
        """Close the agent session (bot back on). False if there was none to close (409)."""
        # Oho Chat developer API, "3.2 Close agent session": the curl example says GET, the
        # method line says POST. POST.
        return self._switch(self._path("chat", platform_id, user_id) + "/close-chat")

    # -- read, merge, write back (update replaces the whole list) -------------------
    # Each returns the field's resulting value, or None when the read did not show the field
    # (nothing is written then: the update would replace what staff set with ours alone).
    def add_tags(self, platform_id: str | None, user_id: str, tags: list[str]) -> list[str] | None:
        """Add contact tags, keeping every tag already there; returns the resulting tags."""
        return self._merge_names(platform_id, user_id, "tags", MAX_TAGS, add=tags)

    def remove_tags(self, platform_id: str | None, user_id: str, tags: list[str]) -> list[str] | None:
        """Remove these contact tags only; returns the resulting tags."""
        return self._merge_names(platform_id, user_id, "tags", MAX_TAGS, remove=tags)

    def add_labels(self, platform_id: str | None, user_id: str, labels: list[str]) -> list[str] | None:
        """Add chat labels, keeping every label already there; returns the resulting labels."""
        return self._merge_names(platform_id, user_id, "labels", MAX_LABELS, add=labels)

    def remove_labels(self, platform_id: str | None, user_id: str, labels: list[str]) -> list[str] | None:
        """Remove these chat labels only; returns the resulting labels."""
        return self._merge_names(platform_id, user_id, "labels", MAX_LABELS, remove=labels)

    def set_attributes(self, platform_id: str | None, user_id: str,
                       attributes: Mapping[str, str]) -> list[dict] | None:
        """Set attributes by name (display_name -> text), keeping all others; returns the result."""
        wanted = {name: str(text) for name, text in attributes.items()}
        _check_fields({"attributes": _attribute_list(wanted)}, _UPDATE_FIELDS, {})  # before any call
        contact = self.get_contact(platform_id, user_id)
        if not _shows(contact, "attributes", user_id):
            return None
        current = _attribute_texts(contact)
        merged = {**current, **wanted}
        if merged != current:
            self.update_contact(platform_id, user_id, attributes=_attribute_list(merged))
        return _attribute_list(merged)

    # -- internals ---------------------------------------------------------------
    def _merge_names(self, platform_id, user_id, field, limit, *, add=(), remove=()) -> list[str]:
        if isinstance(add, str) or isinstance(remove, str):
            raise TypeError(f"{field} must be a list of names, not one string")
        _check_names([*add, *remove], field)
        # Oho has no version check, so a write racing another system's can still lose; keep it short.
        contact = self.get_contact(platform_id, user_id)
        if not _shows(contact, field, user_id):
            return None
        current = list(dict.fromkeys(_names(contact, field)))
        dropped = set(remove)
        merged = list(dict.fromkeys(n for n in [*current, *add] if n not in dropped))
        if merged == current:
            return merged  # nothing changes: no write
        if len(merged) > limit:
            raise OhoLimitError(f"contact would have {len(merged)} {field} (Oho allows {limit}); "
                                f"not dropping {field} that others set")
        self.update_contact(platform_id, user_id, **{field: merged})
        return merged

    def _switch(self, path: str) -> bool:
        try:
            self._call("POST", path)
        except ConflictError:
            return False
        return True

    def _path(self, resource: str, platform_id: str | None, user_id: str) -> str:
        if resource == "chat":
            platform_id = platform_id or self.chat_platform_id
        platform_id = platform_id or self.platform_id
        if not platform_id or not user_id:
            raise ValueError("Oho needs both platform_id (the bot's user id) and user_id")
        return f"/{resource}/{self.platform}/{quote(platform_id, safe='')}/user/{quote(user_id, safe='')}"

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        body = _body(response)
        if body.get("ok") is False:
            raise self.parse_error(response)
        return body.get("data")


def _body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _shows(contact: Mapping[str, Any], field: str, user_id: str) -> bool:
    """Whether the get-contact answer shows ``field`` at all (an empty list counts). If not, the
    update is skipped: writing only our part would erase whatever the field holds in Oho.
    (A field shown in a shape we cannot read raises instead, in ``_names`` / ``_attribute_texts``.)"""
    if contact.get(field) is not None:
        return True
    log.warning("Oho contact of %s: the answer shows no %s; %s not updated (an update replaces them all)",
                mask(user_id), field, field)
    return False


def _names(contact: Mapping[str, Any], field: str) -> list[str]:
    names = contact.get(field)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        # Writing back a list we could not read would wipe what others set.
        raise ProviderError(f"contact {field} has an unexpected shape; not rewriting it", provider="oho")
    return names


def _attribute_list(texts: Mapping[str, str]) -> list[dict]:
    return [{"display_name": name, "value": {"text": text}} for name, text in texts.items()]


def _attribute_texts(contact: Mapping[str, Any]) -> dict[str, str]:
    items = contact.get("attributes")
    if not isinstance(items, list):
        items = None  # "" or {} would read as "no attributes" and erase them
    try:
        texts = {item["display_name"]: item["value"]["text"] for item in items}
    except (KeyError, TypeError):
        texts = None
    if texts is None or not all(isinstance(v, str) for v in texts.values()):
        raise ProviderError("contact attributes have an unexpected shape; not rewriting them", provider="oho")
    return texts


def _check_names(names: list, field: str) -> None:
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise OhoLimitError(f"Oho contact: {field} must be non-empty strings")


def _check_fields(fields: Mapping[str, Any], allowed, text_limits, required=()) -> None:
    """Raise OhoLimitError listing every field that breaks the seed's limits (values never quoted)."""
    bad = [f"unknown field {n}" for n in sorted(set(fields) - allowed)]
    bad += [f"{n} is required" for n in required if fields.get(n) is None or fields.get(n) == ""]
    bad += [f"{n} must be text of at most {limit} characters" for n, limit in text_limits.items()
            if n in fields and not (isinstance(fields[n], str) and len(fields[n]) <= limit)]
    for name in ("country", "city"):  # enums from Oho's country.json / province.json: not checked here
        if name in fields and not isinstance(fields[name], str):
            bad.append(f"{name} must be text")
    if "gender" in fields and fields["gender"] not in ("male", "female", "not_say"):
        bad.append("gender must be male, female or not_say")
    if "age" in fields and not (type(fields["age"]) is int and 1 <= fields["age"] <= 99):
        bad.append("age must be a whole number from 1 to 99")
    if isinstance(fields.get("birth_date"), str) and not _DATE.match(fields["birth_date"]):
        bad.append("birth_date must be YYYY-MM-DD")
    for name, limit in (("tags", MAX_TAGS), ("labels", MAX_LABELS)):
        _check_names(list(fields.get(name) or []), name)
        if len(fields.get(name) or []) > limit:
            bad.append(f"{len(fields[name])} {name} (limit {limit})")
    attributes = fields.get("attributes") or []
    names = [a.get("display_name") for a in attributes]
    if not all(isinstance(n, str) and 0 < len(n) <= 100 for n in names) or len(set(names)) < len(names):
        bad.append("attribute names must be unique, 1-100 characters")
    texts = [(a.get("value") or {}).get("text") for a in attributes]
    if not all(isinstance(t, str) and len(t) <= 2000 for t in texts):
        bad.append("attribute values must be text of at most 2,000 characters")
    profile = fields.get("social_profile")
    if profile is not None:
        if profile.get("platform") not in ("line", "facebook", "instagram"):
            bad.append("social_profile.platform must be line, facebook or instagram")
        bad += [f"social_profile.{n} is required, at most {limit} characters"
                for n, limit in _SOCIAL_LIMITS.items()
                if not (isinstance(profile.get(n), str) and 0 < len(profile[n]) <= limit)]
    if bad:
        raise OhoLimitError("Oho contact: " + "; ".join(bad))
