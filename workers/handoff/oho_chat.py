"""Oho's side of a handoff: the patient's Oho chat handed to an agent and labelled, then handed back.

The one place that calls Oho's chat and label API, apart from ``service.py``, which decides when
(the handoff's state); the contact these calls need is ``workers/oho_contacts.py``'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from bot.privacy import mask
from integrations.errors import NotFoundError, ProviderError
from integrations.oho import OhoLimitError
from workers.oho_contacts import OhoContacts

if TYPE_CHECKING:
    from integrations.oho import OhoClient

log = logging.getLogger(__name__)

HANDOFF_LABELS = ["handoff"]
URGENT_LABELS = ["handoff", "urgent"]


class OhoChat:
    """Switches a patient's Oho chat between the bot and an agent."""

    def __init__(self, oho: Callable[[], OhoClient], contacts: OhoContacts):
        """``oho`` gives the client, built on first use."""
        self.oho = oho
        self.contacts = contacts

    def to_agent(self, user: str, urgent: bool) -> None:
        """The contact, request-agent, and the handoff (+ urgent) labels, merged with others'."""
        oho, platform_id = self.oho(), self.contacts.platform_id()
        try:
            self.contacts.ensure(user)
        except ProviderError as exc:  # a contact problem must never keep the patient from staff
            if exc.retryable:
                raise
            log.warning("Oho contact of %s not created (%s); requesting an agent anyway", mask(user), exc)
        if not oho.request_agent(self.contacts.chat_platform_id(), user):
            log.info("Oho chat of %s already with an agent", mask(user))
        try:
            oho.add_labels(platform_id, user, URGENT_LABELS if urgent else HANDOFF_LABELS)
        except OhoLimitError:  # the contact has all the labels Oho allows: the switch is what matters
            log.warning("Oho labels of %s full; handoff label not added", mask(user))

    def to_bot(self, user: str) -> None:
        """Close the agent's chat and drop the urgent label."""
        oho, platform_id = self.oho(), self.contacts.platform_id()
        try:
            if not oho.close_chat(self.contacts.chat_platform_id(), user):
                log.info("Oho chat of %s was not with an agent", mask(user))
        except NotFoundError:
            log.warning("Oho has no chat room for %s to close", mask(user))
        oho.remove_labels(platform_id, user, URGENT_LABELS)
