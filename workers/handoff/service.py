"""``HandoffService``: what a handoff does, for the feature (open, escalate, mirror), the LiveDesk
webhook (agents' replies and resolutions) and the jobs in ``workers/handoff/jobs.py`` (the steps that
call Oho, LiveDesk and LINE).

Built once per process by ``workers.services.Services``; the Redis state it works on is in
``workers/handoff/store.py``. The mirror's drain is ``MirrorDrain`` (``mirror_drains.py``), the
switch of the patient's Oho chat ``OhoChat`` (``oho_chat.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Sequence

import redis

from bot.handoff.hours import parse_business_hours
from bot.handoff.messages import agent_took_over_message, handoff_closed_message, no_agent_message, with_end_button
from bot.handoff.render import (
    agent_line_messages,
    attachment_url_allowed,
    closed_note,
    render_line_messages,
    unconfirmed_note,
    undelivered_note,
)
from bot.handoff.state import AgentMessage, HandoffState, idle_deadline
from bot.otp import echo_key
from bot.privacy import mask
from bot.thai_dates import BANGKOK
from integrations.line import retry_key_for
from integrations.metrics import FIRST_AGENT_REPLY_SECONDS
from workers.handoff.enqueue import (
    DRAIN_BUDGET,
    enqueue_close,
    enqueue_drain_to_patient,
    enqueue_oho_contact,
    enqueue_request_agent,
    enqueue_resolve,
    schedule_idle_check,
    schedule_no_agent_check,
)
from workers.handoff.guard import AgentMessageGuard, NotConfirmed
from workers.handoff.mirror import LiveDeskMirror, Mirrored, bot_line
from workers.handoff.mirror_drains import MirrorDrain, TurnDrain, enqueue_drain_mirror
from workers.handoff.oho_chat import OhoChat
from workers.handoff.store import HandoffStore, mirror_outbox, patient_outbox
from workers.oho_contacts import OhoContacts, want_contact
from workers.runtime import stopping

if TYPE_CHECKING:
    from bot.settings import Settings
    from integrations.line import LineClient
    from integrations.livedesk import LiveDeskClient
    from integrations.oho import OhoClient

log = logging.getLogger(__name__)

IDLE_SLACK_SECONDS = 5         # RQ's scheduler counts whole seconds: a check may run a moment early


class HandoffService:
    """What a handoff does: open and escalate (from the feature), take agents' messages and
    resolutions (from the webhook; Redis only), and the job steps that call Oho, LiveDesk and LINE."""

    def __init__(self, settings: Settings, redis: redis.Redis, *, line: Callable[[], LineClient],
                 oho: Callable[[], OhoClient], livedesk: Callable[[], LiveDeskClient], oho_contacts: OhoContacts,
                 menu: Callable[[], dict | None], prefix: str, clock: Callable[[], float] = time.time,
                 other_prefixes: Callable[[], Sequence[str]] = tuple):
        """``line``, ``oho`` and ``livedesk`` give their clients, built on first use (the webhook calls none);
        ``menu`` the knowledge base's topics menu (quick replies), loaded on first use too; ``prefix`` the
        hospital's (its keys, queues and job ids); ``other_prefixes`` the other hospitals', served by
        the same workers (their mirror drains waiting count toward a backlog: ``TurnDrain``)."""
        self.settings = settings
        self.redis = redis
        self.line = line
        self.oho = oho
        self.livedesk = livedesk
        self.oho_contacts = oho_contacts
        self._menu = menu
        self.clock = clock
        self.prefix = prefix
        self.other_prefixes = other_prefixes
        self.hours = parse_business_hours(self.settings.business_hours)
        self.store = HandoffStore(self.redis, echo_key(self.settings), prefix=prefix)
        self.mirror_outbox = mirror_outbox(self.redis, prefix=prefix)
        self.patient_outbox = patient_outbox(self.redis, prefix=prefix)
        self.oho_chat = OhoChat(oho, oho_contacts)
        self.handoff_configured = not self.settings.missing_for("handoff")

    @cached_property
    def livedesk_mirror(self) -> LiveDeskMirror:
        return LiveDeskMirror(self.settings, self.redis, self.store, self.oho_contacts, livedesk=self.livedesk(),
                              line=self.line, oho=self.oho)

    @cached_property
    def mirror_drain(self) -> MirrorDrain:
        return MirrorDrain(self.redis, lambda user, item: self.livedesk_mirror.post(user, item), self.oho_contacts,
                           prefix=self.prefix)

    @cached_property
    def guard(self) -> AgentMessageGuard:
        return AgentMessageGuard(self)

    @property
    def menu(self) -> dict | None:
        """The knowledge base's topics menu (quick replies), offered when the bot takes over again."""
        return self._menu()

    # -- opening, escalating, mirroring (Redis only) ---------------------------------------------
    def open_handoff(self, user: str, state: HandoffState, items: list[Mirrored] = ()) -> bool:
        """Open a handoff with its mirror items, the Oho switch and its timers, all or nothing.
        False if one was open already. (The turn's ``after_send`` starts the mirror's drain.)"""
        def along(pipe) -> None:
            for item in items:
                self.mirror(user, item, pipeline=pipe)
            enqueue_request_agent(self.redis, user, state.session, pipeline=pipe, prefix=self.prefix)
            if not state.agent_answered:
                schedule_no_agent_check(self.redis, user, state, self.hours,
                                        self.settings.handoff_no_agent_minutes, pipeline=pipe, prefix=self.prefix)
            schedule_idle_check(self.redis, user, state, self.hours, self.settings.handoff_idle_minutes,
                                pipeline=pipe, prefix=self.prefix)

        opened = self.store.open(user, state, along)
        if opened:
            log.info("handoff opened for %s (%s)", mask(user), state.reason)
        return opened

    def escalate(self, user: str, session: str, items: list[Mirrored]) -> bool:
        """Flag an open handoff urgent (once): the items, the urgent note and Oho's label, all or nothing."""
        def along(pipe) -> None:
            for item in items:
                self.mirror(user, item, pipeline=pipe)
            enqueue_request_agent(self.redis, user, session, pipeline=pipe, prefix=self.prefix)

        return self.store.mark_urgent(user, session, along)

    def end_by_patient(self, user: str, session: str, reason: str) -> None:
        """The patient ended the chat (or blocked the account): the bot answers from the next message."""
        enqueue_close(self.redis, self.store, user, session, reason, notify=False)
        self.store.close(user, session)  # after the job is queued: if this fails, the job closes it

    def mirror(self, user: str, entry: Mirrored, pipeline=None) -> None:
        """Queue an item for LiveDesk once; patient, bot and agent lines also go to the staff note's transcript."""
        if entry.item.get("kind") == "text" and not entry.item.get("text"):
            return
        self.mirror_outbox.append(user, entry.item_id, entry.item, pipeline=pipeline)
        if entry.who and self.handoff_configured:
            self.store.add_transcript(user, entry.item_id, entry.who, entry.transcript or entry.item["text"],
                                      self.clock(), pipeline=pipeline)

    def finish_turn(self, user: str, entries: list[Mirrored], along: Callable[[Any], None] | None = None, *,
                    oho_contact: bool = False) -> None:
        """A turn's mirror items and transcript lines, ``along``'s commands, the mirror's drain and
        (``oho_contact``, once per user) the Oho contact: one round trip reads what decides them,
        ONE transaction writes it all.

        The drain (``workers/handoff/mirror_drains.py``): none while one is coming (the outbox's
        drain-queued note); else a job of the user's own, or under a backlog (enough mirror drains
        already wait) a place on the outbox's ready list, no job at all. As the inbox does it, a
        drain counted on that started in between (it clears the note first; it leaves the count as
        it starts) may miss the new items, so both are checked again in the transaction and a job
        queued after it if they went. The contact: with mirror items, the user's mirror drain makes
        it after the items (``want_contact``, no job); a turn without items gets the job."""
        drain = TurnDrain(self.redis, user, prefix=self.prefix, other_prefixes=self.other_prefixes()) \
            if entries else None
        with self.redis.pipeline(transaction=False) as reads:
            if drain is not None:
                drain.read(reads)
            if oho_contact:  # a known contact's claim is harmless: it only gates the contact
                self.oho_contacts.known(user, pipeline=reads)
                self.store.claim(f"oho-contact:{user}", ttl=3600, pipeline=reads)
            answers = reads.execute() if len(reads) else []
        if drain is not None:
            drain.take_answers(answers)  # its own answers, taken off the front
        contact = False
        if oho_contact:
            known, claimed = answers
            contact = not known and bool(claimed)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.multi()  # explicit, so that RQ adds its commands to this transaction
            if drain is not None:
                drain.first(pipe)
            for entry in entries:
                self.mirror(user, entry, pipeline=pipe)
            if along is not None:
                along(pipe)
            if contact and drain is not None:
                want_contact(user, pipe, prefix=self.prefix)
            elif contact:
                enqueue_oho_contact(self.redis, user, pipeline=pipe, prefix=self.prefix)
            if drain is not None:
                drain.last(pipe)
            results = pipe.execute() if len(pipe) else []
        if drain is not None:
            drain.settle(results)
        elif self.mirror_outbox.has_pending(user) and self.mirror_outbox.drain_queued_since([user])[0] is None:
            # Items of this turn's on_turn (an opening note) with nothing to mirror after it.
            enqueue_drain_mirror(self.redis, user, prefix=self.prefix)

    # -- the LiveDesk webhook (Redis only) ---------------------------------------------------------
    def on_agent_message(self, message: AgentMessage) -> str:
        """Queue an agent's reply for the patient (read back, and only then acted on, by the drain:
        an agent who writes first takes the chat over there). Returns what was done: queued,
        duplicate, echo or unknown conversation."""
        if self.store.is_echo(message.id, message.conversation_id, message.content):
            return "echo"
        user = self.store.user_of_conversation(message.conversation_id)
        if user is None:
            log.info("LiveDesk message in conversation %d that is no LINE user's", message.conversation_id)
            return "unknown conversation"
        item_id = f"agent:{message.id}"
        if self.patient_outbox.seen(item_id):
            return "duplicate"
        item = {"message_id": str(message.id), "conversation_id": message.conversation_id,
                "content": message.content, "attachments": [dict(a) for a in message.attachments]}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.multi()
            self.patient_outbox.append(user, item_id, item, pipeline=pipe)
            enqueue_drain_to_patient(self.redis, user, pipeline=pipe, prefix=self.prefix)
            appended = pipe.execute()[0]
        if not appended:
            return "duplicate"
        log.info("LiveDesk agent reply queued for %s", mask(user))
        return "queued"

    def on_resolved(self, conversation_id: int) -> str:
        """An agent resolved the conversation: check it with LiveDesk (a job), which closes the open handoff."""
        user = self.store.user_of_conversation(conversation_id)
        state = self.store.state(user) if user else None
        if state is None:
            return "ignored"
        enqueue_resolve(self.redis, user, state.session, conversation_id, prefix=self.prefix)
        return "checking"

    def resolve(self, user: str, session: str, conversation_id: int) -> None:
        """Close ``session`` (once) if LiveDesk reads the conversation back as resolved."""
        state = self.store.state(user)
        if state is None or state.session != session or not self.guard.resolved(user, conversation_id):
            return
        enqueue_close(self.redis, self.store, user, session, "resolved", notify=True)

    def _agent_is_answering(self, user: str, message_id: int | str) -> bool:
        """Note the agent's (confirmed) activity; True if this message opened the handoff (the bot goes
        quiet), on this attempt or an earlier one of the same delivery."""
        now = self.clock()
        state = self.store.state(user)
        if state is not None and state.session == f"agent-{message_id}":
            return True
        if state is not None:
            if not state.agent_answered:
                FIRST_AGENT_REPLY_SECONDS.observe(max(0.0, now - state.since))
            self.store.update(user, state.session, last_agent=now, agent_answered=True)
            return False
        if not self.handoff_configured:
            return False  # mirror-only: the reply is delivered, the bot keeps answering
        state = HandoffState(session=f"agent-{message_id}", reason="agent", since=now, last_agent=now,
                             agent_answered=True)
        if self.open_handoff(user, state):
            return True
        return self._agent_is_answering(user, message_id)  # the patient's turn opened one just now

    # -- job steps ------------------------------------------------------------------------------
    def drain_mirror(self, user: str, job_id: str | None = None) -> int:
        """Post the user's queued items to LiveDesk, then those of users on the mirror's ready list
        (``MirrorDrain.run``); ``job_id``: this drain's RQ job."""
        return self.mirror_drain.run(user, job_id)

    def drain_to_patient(self, user: str) -> int:
        """Push agents' queued replies to the patient on LINE, in order, each at most once."""
        return self.patient_outbox.drain_and_hand_over(
            user, lambda item: self._deliver(user, item),
            lambda u: enqueue_drain_to_patient(self.redis, u, prefix=self.prefix),
            on_set_aside=lambda item, exc: self._not_delivered(user, item, exc), budget_seconds=DRAIN_BUDGET,
            should_stop=stopping)

    def ensure_oho_contact(self, user: str) -> None:
        self.oho_contacts.ensure(user)

    def request_agent(self, user: str, session: str) -> None:
        """Hand the patient's Oho chat to an agent, with the handoff (+ urgent) labels (``OhoChat``)."""
        state = self.store.state(user)
        if state is None or state.session != session or not self.settings.configured("oho"):
            return  # closed before we got here (or mirror-only): nothing to switch
        self.oho_chat.to_agent(user, state.urgent)

    def close(self, user: str, session: str, reason: str, notify: bool) -> None:
        """End a handoff: the bot answers again, the patient is told, Oho closes the chat and drops our labels."""
        state = self.store.state(user)
        if state is not None and state.session != session:
            log.info("handoff of %s was reopened; not closing the new one", mask(user))
            return
        self.store.close(user, session)
        if notify:
            message = handoff_closed_message(reason, self.menu)
            self._push_once(user, [message], f"closed:{session}",
                            retry_key_for("handoff-closed", session, prefix=self.prefix))
            self.mirror(user, bot_line(f"out:closed:{session}", [message]))
        self.mirror(user, Mirrored(f"closed-note:{session}", {"kind": "note", "text": closed_note(reason)}))
        enqueue_drain_mirror(self.redis, user, prefix=self.prefix)
        if self.settings.configured("oho"):
            self.oho_chat.to_bot(user)
        log.info("handoff of %s closed (%s)", mask(user), reason)

    def check_no_agent(self, user: str, session: str) -> None:
        """If no agent has answered yet, tell the patient once that they are in the queue."""
        state = self.store.state(user)
        if state is None or state.session != session or state.agent_answered or state.no_agent_notice_sent:
            return
        now = self.clock()
        message = no_agent_message(dt.datetime.fromtimestamp(now, BANGKOK), self.hours)
        self._push_once(user, [message], f"no-agent:{session}",
                        retry_key_for("handoff-no-agent", session, prefix=self.prefix))
        self.store.update(user, session, no_agent_notice_sent=True, last_notice=now)
        self.mirror(user, bot_line(f"out:no-agent:{session}", [message]))
        enqueue_drain_mirror(self.redis, user, prefix=self.prefix)

    def check_idle(self, user: str, session: str) -> None:
        """Close a handoff no agent has written in for HANDOFF_IDLE_MINUTES of opening time, else look again later."""
        state = self.store.state(user)
        if state is None or state.session != session:
            return
        minutes = self.settings.handoff_idle_minutes
        if self.clock() < idle_deadline(state, self.hours, minutes) - IDLE_SLACK_SECONDS:
            schedule_idle_check(self.redis, user, state, self.hours, minutes, prefix=self.prefix)
            return
        enqueue_close(self.redis, self.store, user, session, "idle", notify=True)

    # -- agents' messages to LINE -------------------------------------------------------------------
    def _deliver(self, user: str, item: dict) -> None:
        message_id = str(item["message_id"])
        if self.store.is_echo(message_id, item.get("conversation_id"), item.get("content") or ""):
            return  # our own post after all: its id was not known yet when the webhook came
        item = self.guard.confirmed(user, item)
        if item is None:
            return  # LiveDesk does not know this message as an agent's: a forgery is never pushed
        took_over = self._agent_is_answering(user, message_id)  # confirmed: now it may change the handoff
        self.guard.take_push_slot(user, item)  # past a cap: ItemMustWait, the message waits its turn
        hosts = self.settings.attachment_hosts()
        messages = agent_line_messages(item.get("content"), item.get("attachments") or [],
                                       lambda url: attachment_url_allowed(url, hosts))
        if not messages:
            return
        if took_over and len(messages) < 5:
            messages.append(agent_took_over_message())
        if self.store.state(user) is not None:
            messages = with_end_button(messages)  # the way back to the bot, one tap away
        self._push_once(user, messages, f"agent:{message_id}",
                        retry_key_for("agent", message_id, prefix=self.prefix))
        self.store.add_transcript(user, f"agent:{message_id}", "agent", render_line_messages(messages), self.clock())

    def _not_delivered(self, user: str, item: dict, exc: Exception | None = None) -> None:
        """An agent's message did not reach the patient (LINE would not take it, or LiveDesk would not
        confirm it): say so to the agents, under the message when it is in the patient's conversation."""
        message_id = str(item.get("message_id") or "?")
        if isinstance(exc, NotConfirmed):
            note = {"kind": "note", "text": unconfirmed_note(message_id, exc.conversation_id)}
        else:
            note = {"kind": "note", "text": undelivered_note(message_id)}
            if message_id.isdigit():
                note["in_reply_to"] = int(message_id)
        self.mirror(user, Mirrored(f"undelivered:{message_id}", note))
        enqueue_drain_mirror(self.redis, user, prefix=self.prefix)

    def _push_once(self, user: str, messages: list[dict], name: str, retry_key: str) -> None:
        """Push unless this logical message was pushed already (the retry key covers a crash in between)."""
        if self.store.done(f"pushed:{name}"):
            return
        self.line().push(user, messages, retry_key)
        self.store.claim(f"pushed:{name}")

