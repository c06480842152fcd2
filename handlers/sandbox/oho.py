"""Oho Chat developer API, simulated (Oho Chat developer API: Authorization, Response, Contact API, Chat API).

``x-oho-api-key``; every answer is the envelope ``{ok, status_code, message, data}``.
A contact is the triple ``line`` / bot user id / patient's user id (a wrong triple is
"not found"). Update REPLACES ``attributes``, ``tags`` and ``labels`` wholesale; limits
20 tags, 10 labels. Chat rooms switch bot → agent (request-agent) and back (close-chat),
409 when already there. Close-chat is POST (the document's method line; its curl says GET).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from handlers.sandbox.common import bot_info, same, secret, serve_as, store
from handlers.sandbox.people import BY_USER

bp = Blueprint("sandbox_oho", __name__, url_prefix="/sandbox/oho")

# Field limits from the Create / Update Contact tables.
TEXT_LIMITS = {"profile_picture_url": 2000, "platform_display_name": 255, "display_name": 255, "first_name": 100,
               "last_name": 100, "phone": 20, "email": 254, "birth_date": 24}
UPDATE_LIMITS = {**TEXT_LIMITS, "display_name": 1000}
SOCIAL_LIMITS = {"id": 40, "platform_id": 40, "platform_name": 255, "line_basic_id": 255}
REQUIRED = ("social_profile", "profile_picture_url", "platform_display_name", "display_name", "first_name")
LISTS = {"tags": 20, "labels": 10}
UPDATABLE = set(UPDATE_LIMITS) - {"profile_picture_url", "platform_display_name"} | {
    "country", "city", "gender", "age", "attributes", "tags", "labels"}


def envelope(status: int, message: str, data=None):
    body = {"ok": status < 400, "status_code": status, "message": message}
    if data is not None:
        body["data"] = data
    return jsonify(body), status


@bp.before_request
def _authenticate():
    if not serve_as(lambda s: same(request.headers.get("x-oho-api-key"), secret(s.oho_api_key))):
        return envelope(401, "You do not have valid permission")
    return None


def _known(platform: str, platform_id: str, user_id: str) -> bool:
    return platform == "line" and platform_id == bot_info()["userId"] and user_id in BY_USER


def _problems(body: dict, limits: dict, *, create: bool) -> list[str]:
    allowed = (UPDATABLE | {"social_profile", "profile_picture_url", "platform_display_name"}) if create else UPDATABLE
    bad = [f"{name} is not allowed" for name in sorted(set(body) - allowed)]
    if create:
        bad += [f"{name} is required" for name in REQUIRED if body.get(name) in (None, "")]
        profile = body.get("social_profile") if isinstance(body.get("social_profile"), dict) else {}
        if profile.get("platform") not in ("line", "facebook", "instagram"):
            bad.append("social_profile.platform must be line, facebook or instagram")
        bad += [f"social_profile.{name} is required, max {limit}" for name, limit in SOCIAL_LIMITS.items()
                if not (isinstance(profile.get(name), str) and 0 < len(profile[name]) <= limit)]
    bad += [f"{name} max {limit}" for name, limit in limits.items()
            if name in body and not (isinstance(body[name], str) and len(body[name]) <= limit)]
    for name, limit in LISTS.items():
        value = body.get(name, [])
        if not isinstance(value, list) or len(value) > limit or not all(isinstance(v, str) for v in value):
            bad.append(f"{name} must be a list of at most {limit} strings")
    for attribute in body.get("attributes") or []:
        if not (isinstance(attribute, dict) and isinstance(attribute.get("display_name"), str)
                and len(attribute["display_name"]) <= 100
                and isinstance((attribute.get("value") or {}).get("text"), str)
                and len(attribute["value"]["text"]) <= 2000):
            bad.append("attributes need display_name (max 100) and value.text (max 2000)")
            break
    if "gender" in body and body["gender"] not in ("male", "female", "not_say"):
        bad.append("gender must be male, female or not_say")
    if "age" in body and not (type(body["age"]) is int and 1 <= body["age"] <= 99):
        bad.append("age must be 1-99")
    return bad


@bp.get("/contact/<platform>/<platform_id>/user/<user_id>")
def get_contact(platform: str, platform_id: str, user_id: str):
    contact = store().get(f"oho:contact:{user_id}") if _known(platform, platform_id, user_id) else None
    if contact is None:
        return envelope(404, "Not found contact")
    return envelope(200, "Get contact successfully", contact)


@bp.post("/contact")
def create_contact():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return envelope(400, "Bad request")
    problems = _problems(body, TEXT_LIMITS, create=True)
    if problems:
        return envelope(400, "Bad request: " + "; ".join(problems))
    profile = body["social_profile"]
    if not _known(profile["platform"], profile["platform_id"], profile["id"]):
        return envelope(404, "Not found chat room")
    if store().exists(f"oho:contact:{profile['id']}"):
        return envelope(409, "The contact already exists")
    contact = {"tags": [], "labels": [], "attributes": [], "gender": "not_say", **body}
    store().put(f"oho:contact:{profile['id']}", contact)
    store().log("oho", "create contact", 201)
    return envelope(201, "Created contact successfully")


@bp.patch("/contact/<platform>/<platform_id>/user/<user_id>")
def update_contact(platform: str, platform_id: str, user_id: str):
    contact = store().get(f"oho:contact:{user_id}") if _known(platform, platform_id, user_id) else None
    if contact is None:
        return envelope(404, "The contact not found")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return envelope(400, "Bad request")
    problems = _problems(body, UPDATE_LIMITS, create=False)
    if problems:
        return envelope(400, "Bad request: " + "; ".join(problems))
    contact.update(body)  # wholesale: a list sent replaces the list kept
    store().put(f"oho:contact:{user_id}", contact)
    store().log("oho", "update contact (" + ", ".join(sorted(body)) + ")", 200)
    return envelope(200, "Update contact successfully")


@bp.post("/chat/<platform>/<platform_id>/user/<user_id>/request-agent")
def request_agent(platform: str, platform_id: str, user_id: str):
    return _switch(platform, platform_id, user_id, "agent")


@bp.post("/chat/<platform>/<platform_id>/user/<user_id>/close-chat")
def close_chat(platform: str, platform_id: str, user_id: str):
    return _switch(platform, platform_id, user_id, "bot")


def _switch(platform: str, platform_id: str, user_id: str, to: str):
    if not _known(platform, platform_id, user_id):
        return envelope(404, "Not found chat room")
    room = store().text(f"oho:room:{user_id}") or "bot"
    if room == to:
        store().log("oho", f"chat room already {to}", 409)
        return envelope(409, "Chat room cannot be changed to agent requested" if to == "agent"
                        else "Chat room session cannot be closed")
    store().put_text(f"oho:room:{user_id}", to)
    store().log("oho", "request-agent" if to == "agent" else "close-chat", 200)
    return envelope(200, "Agent has been requested for the chat room" if to == "agent"
                    else "Chat room session has been closed")


def contact_of(user_id: str) -> dict | None:
    """The patient's contact as Oho keeps it (for the page)."""
    return store().get(f"oho:contact:{user_id}")


def room_of(user_id: str) -> str:
    return store().text(f"oho:room:{user_id}") or "bot"
