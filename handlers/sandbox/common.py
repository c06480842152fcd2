"""What every simulator needs from the app: settings, the store, credential checks, ids.

Serving several hospitals (``SANDBOX_HOSPITALS``), a simulator tells them apart as its provider does, by
the credential presented (``serve_as``), and the page by its ``?hospital=``: that hospital becomes the
request's (``g.hospital_services``), so ``settings()`` and ``store()`` are its, and the events a simulator
sends go to that hospital's routes (``service_url``).
"""

from __future__ import annotations

import base64
import hmac
import os
import time
import uuid
from collections.abc import Callable

from flask import current_app, g, request

from bot.hospitals import IMPLICIT
from handlers.hospital_routes import HOSPITAL_PREFIX
from handlers.sandbox.people import BOT_INFO
from handlers.sandbox.store import SandboxStore
from handlers.services import get_services

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def settings():
    return get_services().settings


def store() -> SandboxStore:
    services = get_services()
    if services.hospital.id == IMPLICIT:
        return SandboxStore(services.redis)
    return SandboxStore(services.redis, scope=services.hospital.prefix, hospital=services.hospital.id)


def registry():
    """The hospitals served (``workers.hospitals.HospitalServices``); None for the one hospital."""
    return current_app.extensions.get("hospitals")


def serve_as(matches: Callable) -> bool:
    """Make the hospital whose settings ``matches`` this request's; False when none does (one hospital:
    whether its settings match)."""
    hospitals = registry()
    if hospitals is None:
        return matches(settings())
    for services in hospitals.all():
        if matches(services.settings):
            g.hospital_services = services
            return True
    return False


def service_url(path: str) -> str:
    """A route of the service for the request's hospital: ``/h/b/callback``, or ``/callback`` for one."""
    hospital = get_services().hospital
    return self_url(path if hospital.id == IMPLICIT else HOSPITAL_PREFIX.replace("<hospital>", hospital.id) + path)


def hospital_query() -> str:
    """What the page's own URLs add to say which hospital they are about (nothing for one)."""
    hospital = get_services().hospital
    return "" if hospital.id == IMPLICIT else f"?hospital={hospital.id}"


def bot_info() -> dict:
    """``GET /v2/bot/info`` of the request's hospital's LINE account."""
    services = get_services()
    if services.hospital.bot_user_id is None:
        return BOT_INFO
    return {**BOT_INFO, "userId": services.hospital.bot_user_id, "basicId": f"@sandbox-{services.hospital.id}",
            "displayName": f"{services.hospital_name} (sandbox)"}


def secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


def same(given: str | None, expected: str) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())


def bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def basic_pair() -> tuple[str, str] | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def ulid() -> str:
    """A ULID (time-ordered, 26 Crockford base32 characters), as LINE's ``webhookEventId``."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def new_id() -> str:
    return uuid.uuid4().hex


def self_url(path: str) -> str:
    """A URL of this server as its own processes reach it (SANDBOX_URL)."""
    return settings().sandbox_url + path
