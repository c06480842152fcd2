"""Finding a patient for staff (``flask pdpa erase``) by what staff can see: the LINE user id, the
phone number the patient verified (or is verifying), or the short id ``flask handoff list`` prints
(``…5a5a``: the end of the LINE user id).

Redis keeps the number a patient verified in ``verify:phone:<user>`` and the number a code was
sent to in ``verify:request:<id>`` (``workers/verification/store.py``), as the local number
(``0812345678``); the budgets' keyed digests (``bot.otp.number_digest``) name no user, so they
cannot lead to one. A number given here is read as the patient types it (``bot.phone``) and matched
on its local form. Nothing found is ever printed whole: callers show ``mask()``. Only the hospital's
keys (``prefix``) are looked at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import redis as redis_lib

from bot.phone import InvalidPhoneNumber, normalize_thai_mobile
from workers.handoff.store import open_handoffs
from workers.verification.store import VerifyKeys

LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_SHORT_ID = re.compile(r"^[0-9a-f]{4,32}$")
#: Keys named by a LINE user id, where a patient the bot knows leaves a trace.
USER_KEY_PREFIXES = ("verify:phone:", "verify:state:", "handoff:state:", "handoff:transcript:", "livedesk:user:",
                     "oho:contact:")


class NotUnderstood(ValueError):
    """The text is none of the three kinds of id; ``str()`` says what to give."""


@dataclass(frozen=True)
class Found:
    users: list[str]
    by: str  # "LINE user id", "phone number", "short id"


def find_patients(connection: redis_lib.Redis, given: str, *, prefix: str = "") -> Found:
    """The hospital's (``prefix``) LINE users ``given`` names (none, one or several)."""
    text = given.strip()
    if LINE_USER_ID.match(text):
        return Found([text], "LINE user id")
    short = text.lstrip("…").lstrip(".").strip().lower()
    if short == text.lower():  # no "…": a phone number if it reads as one
        try:
            local = normalize_thai_mobile(text).local
        except InvalidPhoneNumber:
            pass
        else:
            return Found(users_with_phone(connection, local, prefix=prefix), "phone number")
    if _SHORT_ID.match(short):
        return Found(users_ending(connection, short, prefix=prefix), "short id")
    raise NotUnderstood("give the LINE user id (U + 32 hex), the phone number (0812345678) or the short id "
                        "`flask handoff list` prints (…5a5a, at least 4 characters)")


def users_with_phone(connection: redis_lib.Redis, local: str, *, prefix: str = "") -> list[str]:
    """Users whose verified number, or a number a code was sent to (24 h), is ``local``."""
    found = []
    keys = VerifyKeys(prefix)
    phones = keys.phone("")
    for key in connection.scan_iter(f"{phones}U*", count=1000):
        raw = connection.get(key)
        if raw and json.loads(raw).get("phone") == local:
            found.append(key.decode().removeprefix(phones))
    for key in connection.scan_iter(keys.request("*"), count=1000):
        user, phone = connection.hmget(key, "user", "phone")
        if user and phone and phone.decode() == local:
            found.append(user.decode())
    return sorted(set(found))


def users_ending(connection: redis_lib.Redis, end: str, *, prefix: str = "") -> list[str]:
    """Users whose LINE user id ends with ``end`` (hex only, and a hospital's prefix has no glob
    character: no pattern characters reach the scan)."""
    found = {user for user, _ in open_handoffs(connection, prefix=prefix) if user.endswith(end)}
    for family in USER_KEY_PREFIXES:
        start = prefix + family
        for key in connection.scan_iter(f"{start}U*{end}", count=1000):
            user = key.decode().removeprefix(start)
            if LINE_USER_ID.match(user):
                found.add(user)
    return sorted(found)
