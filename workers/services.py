"""The composition root: every client and feature service built once per process, from settings.

The web app and the workers each hold one ``Services``; jobs reach the worker's through
``workers.runtime.services()`` (installed at start-up), webhooks the app's through
``handlers.services.get_services()``. Everything is built lazily, so a process only connects to
(and needs settings for) what it uses: the staff CLI runs with no Redis and no credentials at all.
Each feature service is handed exactly what it uses; a provider client as a function that builds
it on first use, for the same reason: a handoff job must not need SMS settings to start.

Isolation by construction: everything built here is handed ``self.hospital.prefix`` (the one parameter
name, ``prefix``), which starts every Redis key, RQ queue name and fixed job id it uses; "" for the
implicit hospital, whose keys are today's.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Callable, Sequence

import redis as redis_lib

from bot.dialog import Dialog, build_dialog
from bot.hospitals import IMPLICIT, Hospital
from bot.knowledge import KnowledgeBase
from bot.knowledge import hospital_name as read_hospital_name
from bot.settings import Settings
from integrations.line import LineClient
from integrations.livedesk import LiveDeskClient
from integrations.moph import MophAlertClient
from integrations.oho import OhoClient
from integrations.sepsms import SepsmsClient
from integrations.thaibulksms import ThaiBulkSmsClient
from workers.appointments.delivery import NoticeDelivery
from workers.appointments.notices import AppointmentNotices
from workers.appointments.records import naming_key
from workers.handoff.feature import build_handoff_feature
from workers.handoff.mirror_drains import queue_staff_note
from workers.handoff.service import HandoffService
from workers.line.events import LineEventHandler
from workers.oho_contacts import OhoContacts
from workers.pdpa import UnfollowErasure
from workers.redis_client import connect_redis
from workers.unanswered import UnansweredQuestions, UnansweredRecorder
from workers.verification.feature import build_verification_feature
from workers.verification.service import VerificationService
from workers.verification.store import VerificationStore
from workers.verification.turn_budget import TurnBudget


class Services:
    def __init__(self, settings: Settings, *, hospital: Hospital | None = None,
                 redis_connection: redis_lib.Redis | None = None, worker: bool = False,
                 other_prefixes: Callable[[], Sequence[str]] = tuple):
        self.settings = settings
        #: Whose services these are; its ``prefix`` starts every key, queue and job id they use.
        self.hospital = hospital or Hospital(IMPLICIT, settings)
        #: The prefixes of the other hospitals the same processes serve (a registry's; none for one).
        self.other_prefixes = other_prefixes
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
    def hospital_name(self) -> str:
        """The knowledge base's ``hospital: name:`` (MOPH notices, OTP SMS, the rich menu), without
        loading the whole knowledge base where no dialog runs (the web, the jobs workers)."""
        return self.knowledge.hospital_name if "knowledge" in self.__dict__ else \
            read_hospital_name(self.settings.bot_knowledge_file)

    @cached_property
    def dialog(self) -> Dialog:
        return build_dialog(self.knowledge, self.settings)

    # -- the conversation engine and its features ------------------------------------------------
    @cached_property
    def line_events(self) -> LineEventHandler:
        return LineEventHandler(self.dialog, self.line, self.redis, self.conversation_features,
                                prefix=self.hospital.prefix)

    @cached_property
    def conversation_features(self) -> list:
        """Consulted in this order on every LINE event (see ``workers.line.events``)."""
        prefix = self.hospital.prefix
        recorder = UnansweredRecorder(self.unanswered) if self.settings.bot_unanswered_days > 0 else None
        verification = build_verification_feature(self.settings, lambda: self.verification)
        handoff = build_handoff_feature(self.handoff, VerificationStore(self.redis, prefix=prefix))
        # Last, the erasure: an unfollow is erased after the others have seen it.
        built = (handoff, verification, recorder, UnfollowErasure(self.redis, prefix=prefix))
        return [feature for feature in built if feature is not None]

    @cached_property
    def unanswered(self) -> UnansweredQuestions:
        """The phrasings the bot could not answer, for the hospital (``flask bot unanswered``)."""
        return UnansweredQuestions(self.redis, self.settings.bot_unanswered_days, prefix=self.hospital.prefix)

    @cached_property
    def handoff(self) -> HandoffService:
        return self.build_handoff()

    def build_handoff(self, clock: Callable[[], float] = time.time) -> HandoffService:
        """A handoff service on ``clock`` (tests run one on their own)."""
        return HandoffService(self.settings, self.redis, line=lambda: self.line, oho=lambda: self.oho,
                              livedesk=lambda: self.livedesk, oho_contacts=self.oho_contacts,
                              menu=lambda: getattr(self.knowledge, "menu", None), prefix=self.hospital.prefix,
                              clock=clock, other_prefixes=self.other_prefixes)

    @cached_property
    def verification(self) -> VerificationService:
        """Phone verification; its notes for staff go into the LiveDesk mirror when there is one."""
        prefix = self.hospital.prefix
        notes = (lambda user, item_id, text: queue_staff_note(self.redis, user, item_id, text, prefix=prefix)) \
            if self.settings.configured("livedesk") else None
        return VerificationService(self.settings, self.redis, line=lambda: self.line, sepsms=lambda: self.sepsms,
                                   thaibulksms=lambda: self.thaibulksms, oho_contacts=self.oho_contacts,
                                   menu=self.knowledge.menu, hospital_name=lambda: self.hospital_name,
                                   turn_budget=TurnBudget(name="otp"), prefix=prefix, staff_notes=notes)

    @cached_property
    def oho_contacts(self) -> OhoContacts:
        return OhoContacts(self.settings, self.redis, line=lambda: self.line, oho=lambda: self.oho,
                           prefix=self.hospital.prefix)

    @cached_property
    def appointment_notices(self) -> AppointmentNotices:
        return self.build_appointment_notices()

    def build_appointment_notices(self, **options) -> AppointmentNotices:
        """Submitting appointment notices on this Redis, with the settings' schedule (tests pass a
        clock: ``now``)."""
        return AppointmentNotices(self.redis, key=naming_key(self.settings),
                                  reminder_schedule=self.settings.reminder_schedule, prefix=self.hospital.prefix,
                                  **options)

    @cached_property
    def appointment_delivery(self) -> NoticeDelivery:
        return self.build_appointment_delivery()

    def build_appointment_delivery(self, **options) -> NoticeDelivery:
        """Delivering appointment notices (jobs), with the MOPH client built when a notice is sent."""
        s = self.settings
        return NoticeDelivery(self.redis, key=naming_key(s), moph=lambda: self.moph,
                              reminder_schedule=s.reminder_schedule, hospital_name=self.hospital_name,
                              hospital_color=s.hospital_color, prefix=self.hospital.prefix, **options)

    # -- provider clients ---------------------------------------------------
    @cached_property
    def line(self) -> LineClient:
        return LineClient.from_settings(self.settings)

    @cached_property
    def oho(self) -> OhoClient:
        return OhoClient.from_settings(self.settings)

    @cached_property
    def livedesk(self) -> LiveDeskClient:
        return LiveDeskClient.from_settings(self.settings)

    @cached_property
    def sepsms(self) -> SepsmsClient:
        return SepsmsClient.from_settings(self.settings, redis=self.redis, prefix=self.hospital.prefix)

    @cached_property
    def thaibulksms(self) -> ThaiBulkSmsClient:
        return ThaiBulkSmsClient.from_settings(self.settings, redis=self.redis, prefix=self.hospital.prefix)

    @cached_property
    def moph(self) -> MophAlertClient:
        return MophAlertClient.from_settings(self.settings, self.redis)
