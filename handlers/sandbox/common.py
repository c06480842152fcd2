"""What every simulator needs from the app: settings, the store, credential checks, ids."""

from __future__ import annotations

import base64
import hmac
import os
import time
import uuid

from flask import request

from handlers.sandbox.store import SandboxStore
from handlers.services import get_services

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def settings():
    return get_services().settings


def store() -> SandboxStore:
    return SandboxStore(get_services().redis)


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
