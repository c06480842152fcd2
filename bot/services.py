"""The composition root: every client and service built once per process, from settings.

The web app and the workers each hold one ``Services``. Everything is built
lazily, so a process only connects to (and needs settings for) what it uses:
the staff CLI runs with no Redis and no credentials at all.
"""

from __future__ import annotations

from functools import cached_property

import redis as redis_lib

from bot.dialog import Dialog
from bot.knowledge import KnowledgeBase
from bot.redis_client import connect_redis
from bot.settings import Settings


class Services:
    def __init__(self, settings: Settings, *, redis_connection: redis_lib.Redis | None = None,
                 worker: bool = False):
        self.settings = settings
        self._worker = worker
        if redis_connection is not None:
            self.__dict__["redis"] = redis_connection

    @cached_property
    def redis(self) -> redis_lib.Redis:
        return connect_redis(self.settings, socket_timeout=None if self._worker else 5.0)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        return KnowledgeBase.load(self.settings.bot_knowledge_file)

    @cached_property
    def dialog(self) -> Dialog:
        return Dialog(self.knowledge)

    @cached_property
    def line(self):
        from integrations.line import LineClient

        return LineClient.from_settings(self.settings)

    @cached_property
    def line_events(self):
        from handlers.line_events import LineEventHandler

        return LineEventHandler(self.dialog, self.line, self.redis, self.conversation_features)

    @cached_property
    def conversation_features(self) -> list:
        """Consulted in this order on every LINE event (see ``handlers.line_events``)."""
        from handlers.handoff import build_handoff_feature
        from handlers.verification import build_verification_feature

        built = (build_handoff_feature(self), build_verification_feature(self))
        return [feature for feature in built if feature is not None]

    # -- provider clients ---------------------------------------------------
    @cached_property
    def oho(self):
        from integrations.oho import OhoClient

        return OhoClient.from_settings(self.settings)

    @cached_property
    def livedesk(self):
        from integrations.livedesk import LiveDeskClient

        return LiveDeskClient.from_settings(self.settings)

    @cached_property
    def sepsms(self):
        from integrations.sepsms import SepsmsClient

        return SepsmsClient.from_settings(self.settings, redis=self.redis)

    @cached_property
    def thaibulksms(self):
        from integrations.thaibulksms import ThaiBulkSmsClient

        return ThaiBulkSmsClient.from_settings(self.settings, redis=self.redis)

    @cached_property
    def moph(self):
        from integrations.moph import MophAlertClient

        return MophAlertClient.from_settings(self.settings, self.redis)
