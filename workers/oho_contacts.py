"""The patient's contact in Oho, made one way for every feature (handoff, phone verification).

Oho names a contact by the triple ``line`` / ``platform_id`` (our bot's LINE user id) /
the patient's LINE user id. ``platform_id`` is OHO_PLATFORM_ID, or read once from LINE's
``GET /v2/bot/info`` and kept in Redis; the bot info itself is cached for a day, since
creating a contact needs its name and basic id too. Runs in jobs (it calls LINE and Oho).

A contact a turn with mirror items asks for (``want_contact``) is made by the LiveDesk mirror's
drain of that user, after its items (``MirrorDrain`` in ``workers/handoff/mirror_drains.py``), not
by a job of its own: under a backlog that job was one RQ enqueue per answered event. A want that no
drain took care of (its worker was killed) is handed to the ``ensure_oho_contact`` job by the
sweeper once it is ``WANT_LOST_AFTER`` old (``wants_older_than``).

Redis: ``line:bot-info`` (1 day), ``oho:platform-id``, ``oho:contact:<user>`` (the contact exists),
``oho:contacts-wanted`` (sorted set: user -> when a turn asked for the contact; 1 day after the
last want), ``oho:contact-taking:<user>`` (a drain is making the contact now; 2 min); each after the
hospital's prefix: each hospital's bot is its own LINE account, and its own platform id in Oho.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Callable

import redis

from bot.privacy import mask
from integrations.errors import NotFoundError, ProviderError
from integrations.oho import line_contact
from workers import lua

if TYPE_CHECKING:
    from bot.settings import Settings
    from integrations.line import LineClient
    from integrations.oho import OhoClient

log = logging.getLogger(__name__)

BOT_INFO_KEY = "line:bot-info"
BOT_INFO_TTL = 24 * 3600
PLATFORM_ID_KEY = "oho:platform-id"
VERIFIED_TAG = "verified"
VERIFIED_AT_ATTRIBUTE = "phone_verified_at"
WANTED_KEY = "oho:contacts-wanted"
WANTED_TTL = 24 * 3600
TAKING_TTL = 120               # a contact's three calls (bot info, profile, create), with room
#: A want no drain has taken care of after this long (its worker was killed) gets the job instead.
WANT_LOST_AFTER = 300


class OhoContacts:
    """Oho's ``platform_id`` and the creation of a LINE user's contact, each done once."""

    def __init__(self, settings: Settings, redis: redis.Redis, *, line: Callable[[], LineClient],
                 oho: Callable[[], OhoClient], prefix: str):
        """``line`` and ``oho`` give their clients, built on first use (a process may lack Oho's settings);
        ``prefix`` the hospital's."""
        self.settings = settings
        self.redis = redis
        self.line = line
        self.oho = oho
        self.prefix = prefix
        self.platform_id_key, self.bot_info_key = prefix + PLATFORM_ID_KEY, prefix + BOT_INFO_KEY

    def platform_id(self) -> str:
        """OHO_PLATFORM_ID, else the bot's LINE user id (asked of LINE once, then kept)."""
        if self.settings.oho_platform_id:
            return self.settings.oho_platform_id
        cached = self.redis.get(self.platform_id_key)
        if cached:
            return cached.decode()
        platform_id = str(self.bot_info()["userId"])
        self.redis.set(self.platform_id_key, platform_id)
        return platform_id

    def chat_platform_id(self) -> str:
        """For Oho's chat endpoints: OHO_CHAT_PLATFORM_ID (may be the channel id), else ``platform_id()``."""
        return self.settings.oho_chat_platform_id or self.platform_id()

    def bot_info(self) -> dict:
        """LINE's ``GET /v2/bot/info`` (the bot's user id, basic id and name), cached for a day."""
        cached = self.redis.get(self.bot_info_key)
        if cached:
            return json.loads(cached)
        info = self.line().bot_info()
        self.redis.set(self.bot_info_key, json.dumps(info), ex=BOT_INFO_TTL)
        return info

    def known(self, user_id: str, pipeline=None) -> bool | None:
        """Whether the contact is known to exist (created or found by ``ensure``); with ``pipeline``,
        the answer is among its results."""
        if pipeline is not None:
            pipeline.exists(contact_key(user_id, self.prefix))
            return None
        return bool(self.redis.exists(contact_key(user_id, self.prefix)))

    def ensure(self, user_id: str, *, missing: bool = False) -> bool:
        """Create the contact from LINE's bot info and the user's profile unless it is known to exist
        (``missing``: Oho just said it does not, so create it anyway). True if created now."""
        if not missing and self.known(user_id):
            return False
        info = {**self.bot_info(), "userId": self.platform_id()}
        created = self.oho().create_contact(line_contact(info, user_id, self.line_profile(user_id),
                                                         self.settings.oho_default_avatar_url))
        if not created:
            log.info("Oho contact of %s already existed", mask(user_id))
        self.redis.set(contact_key(user_id, self.prefix), 1)
        return created

    def record_verified_phone(self, user_id: str, phone: str, verified_at: str) -> None:
        """The phone the patient verified, the ``verified`` tag (merged with others') and the time
        (merged with other attributes); a contact Oho does not have yet is made first."""
        oho, platform_id = self.oho(), self.platform_id()
        try:
            oho.update_contact(platform_id, user_id, phone=phone)
        except NotFoundError:  # no contact yet (handoff creates them; verification may come first)
            self.ensure(user_id, missing=True)
            oho.update_contact(platform_id, user_id, phone=phone)
        oho.add_tags(platform_id, user_id, [VERIFIED_TAG])
        oho.set_attributes(platform_id, user_id, {VERIFIED_AT_ATTRIBUTE: verified_at})

    def line_profile(self, user_id: str) -> dict:
        """The user's LINE profile, or {} when LINE will not give it (shared with the LiveDesk mirror)."""
        try:
            return self.line().profile(user_id)
        except ProviderError as exc:
            if exc.retryable:
                raise
            return {}  # blocked the account, or LINE will not say: a contact without a name still works


def contact_key(user_id: str, prefix: str = "") -> str:
    return f"{prefix}oho:contact:{user_id}"


def wanted_key(prefix: str = "") -> str:
    return prefix + WANTED_KEY


# -- contacts turns asked for (made by the mirror's drain) -------------------------------------------
def want_contact(user_id: str, pipeline, *, prefix: str = "") -> None:
    """In the caller's transaction (the turn's): the user's mirror drain is to make the contact."""
    pipeline.zadd(wanted_key(prefix), {user_id: time.time()}, nx=True)
    pipeline.expire(wanted_key(prefix), WANTED_TTL)


def claim_wanted_contact(connection: redis.Redis, user_id: str, *, prefix: str = "") -> bool:
    """Whether a turn asked for the contact and no other drain is making it now (then the caller is,
    for ``TAKING_TTL``; it ends with ``forget_want``)."""
    return bool(lua.run(connection, "oho_take_want", keys=[wanted_key(prefix), taking_key(user_id, prefix)],
                        args=[user_id, TAKING_TTL]))


def forget_want(user_id: str, pipeline, *, prefix: str = "") -> None:
    """In the caller's transaction: the want is taken care of (the contact made, or the job queued)."""
    pipeline.zrem(wanted_key(prefix), user_id)
    pipeline.delete(taking_key(user_id, prefix))


def wants_older_than(connection: redis.Redis, moment: float, *, prefix: str = "") -> list[str]:
    """Users whose want is older than ``moment``: no drain took care of it (for the sweeper)."""
    return [u.decode() if isinstance(u, bytes) else u
            for u in connection.zrangebyscore(wanted_key(prefix), "-inf", moment, start=0, num=500)]


def taking_key(user_id: str, prefix: str = "") -> str:
    return f"{prefix}oho:contact-taking:{user_id}"
