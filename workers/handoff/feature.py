"""Human handoff as a conversation feature: ``HandoffFeature`` decides, turn by turn, whether the
bot answers or stays silent while staff have the chat.

While a handoff is open the bot stays silent (an emergency still gets its 1669 answer; every
few minutes of silence the patient is reminded how to get back to the bot), every patient
message and bot answer is mirrored into the patient's LiveDesk conversation, and agents'
replies come back through ``handlers/livedesk_webhook.py``. ``HandoffFeature`` and the
webhook only touch Redis; ``HandoffService``'s job steps (run by ``workers/handoff/jobs.py``)
call Oho, LiveDesk and LINE, fed by per-user ordered outboxes (``workers/user_queue.py``).

The parts, all in ``workers/handoff/``: ``store`` (the Redis state, the outboxes, the enqueueing of
jobs), ``service`` (``HandoffService``), ``mirror`` (posting to LiveDesk), ``jobs``, and this module.
The pure rules and texts are in ``bot/handoff/``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from bot.dialog import Reply
from bot.handoff.messages import (
    OFFER_POSTBACK,
    handoff_closed_message,
    handoff_declined_message,
    handoff_offer_message,
    handoff_started_message,
    handoff_waiting_message,
    is_end_phrase,
)
from bot.handoff.render import MEDIA_TYPES, render_patient_turn, urgent_note
from bot.handoff.state import HandoffState
from bot.intents import Action, Intent
from bot.privacy import mask
from bot.thai_dates import BANGKOK
from bot.turn import Turn
from workers.handoff.mirror import Mirrored, bot_line
from workers.handoff.service import HandoffService
from workers.handoff.store import NOTE_TRANSCRIPT
from workers.line.events import TurnReads
from workers.verification.store import VerificationStore

log = logging.getLogger(__name__)

NOTICE_INTERVAL = 10 * 60      # the "staff will answer / how to get back" reminder, at most this often
REDACTED = "[ข้อความระหว่างยืนยันตัวตน (เบอร์โทร/รหัส OTP) ไม่แสดง / hidden: identity verification]"


class HandoffFeature:
    """Decides when to hand a patient to staff, keeps the bot quiet meanwhile, mirrors every turn.

    Built only when LiveDesk is configured; ``handoff`` False means mirror only
    (Oho or the webhook token is missing): the knowledge base then answers "staff" itself.
    """

    def __init__(self, service: HandoffService, verification: VerificationStore, *, handoff: bool):
        self.service = service
        self.store = service.store
        self.verification = verification  # read to hide a phone number or an OTP code from LiveDesk
        self.handoff = handoff

    @property
    def clock(self) -> Callable[[], float]:
        return self.service.clock

    def on_turn(self, turn: Turn, proposed: Reply | None, reads: TurnReads) -> Reply | None:
        if not turn.one_to_one:
            return None
        emergency = proposed is not None and proposed.intent == Intent.EMERGENCY
        try:
            read, state = self._decide_redaction(turn, reads)
            if not self.handoff:
                return None
            return self._answer(turn, proposed, reads, state if read else self.store.state(turn.user_id))
        except Exception as exc:
            if not emergency:
                raise
            # The 1669 answer goes out whatever failed here; the handoff opens on the retried turn.
            log.error("handoff step for an emergency of %s failed (%s); answering 1669 anyway",
                      mask(turn.user_id), type(exc).__name__)
            return proposed

    def after_send(self, turn: Turn, proposed: Reply | None, sent: Reply | None, reads: TurnReads) -> None:
        if not turn.one_to_one:
            return
        user = turn.user_id
        entries = [line for line in (self._patient_line(turn, reads.redacted),
                                     bot_line(f"out:{turn.event_id}", sent.messages) if sent is not None else None)
                   if line is not None]
        note = (lambda pipe: self.store.note_answer(user, turn.event_id, sent.intent, pipeline=pipe)) \
            if self.handoff and sent is not None else None
        self.service.finish_turn(user, entries, note, oho_contact=self.handoff and turn.kind != "unfollow")

    # -- internals -----------------------------------------------------------------------------
    def _decide_redaction(self, turn: Turn, reads: TurnReads) -> tuple[bool, HandoffState | None]:
        """Whether this turn's text is hidden from LiveDesk (a phone number or an OTP code), decided
        from the verification state *before* the turn, once per event and kept with it in Redis:
        the verification feature moves on within the turn, and a retried turn must decide the same.
        Returns (True, the handoff state) when the state was read in the same round trip."""
        if turn.kind != "text":
            return False, None
        decided, state = self.store.decide_redaction_and_state(
            turn.event_id, self.verification.turn_state(turn.user_id, reads).active,
            turn.user_id if self.handoff else None)
        reads.redacted = decided  # for after_send: not read back from Redis
        return self.handoff, state

    def _answer(self, turn: Turn, proposed: Reply | None, reads: TurnReads,
                state: HandoffState | None) -> Reply | None:
        if state is not None:
            return self._while_open(turn, proposed, reads, state)
        intent = proposed.intent if proposed else None
        if turn.action == Action.HANDOFF:
            return self._start(turn, proposed, reads, "unknown" if turn.postback == OFFER_POSTBACK else "button")
        if turn.action in (Action.HANDOFF_DECLINE, Action.HANDOFF_END):
            return Reply(Intent.HANDOFF_DECLINED, [handoff_declined_message(self.service.menu)])
        if intent == Intent.EMERGENCY:
            return self._start(turn, proposed, reads, "emergency", urgent=True)
        if intent == Intent.STAFF:
            return self._start(turn, proposed, reads, "asked")
        if intent == Intent.UNKNOWN and turn.kind == "text" and self.store.unknown_streak(turn.user_id) >= 1:
            return Reply(Intent.HANDOFF_OFFER, [handoff_offer_message()])
        return None

    def _while_open(self, turn: Turn, proposed: Reply | None, reads: TurnReads, state: HandoffState) -> Reply:
        user, action = turn.user_id, turn.action
        if state.session == turn.event_id:  # this very turn opened it: a retried job answers the same
            return self._opening_reply(proposed, state)
        if turn.kind == "unfollow":
            self.service.end_by_patient(user, state.session, "unfollow")
            return Reply(Intent.HANDOFF_CLOSED, [])
        if proposed is not None and proposed.intent == Intent.EMERGENCY:
            if not state.urgent:
                items = [line for line in (self._patient_line(turn, reads.redacted),) if line is not None]
                items.append(Mirrored(f"urgent:{turn.event_id}", {"kind": "note", "text": urgent_note()}))
                self.service.escalate(user, state.session, items)
            return proposed  # 1669 always reaches the patient; no later feature may swallow it
        if state.urgent and state.reason == "emergency" and proposed is not None \
                and proposed.intent == Intent.NOT_EMERGENCY:
            # A false alarm: the urgent handoff it opened closes, and the bot answers from now on.
            self.service.end_by_patient(user, state.session, "not_emergency")
            return proposed
        if is_end_phrase(turn.text) or action == Action.HANDOFF_END:
            self.service.end_by_patient(user, state.session, "patient")
            return Reply(Intent.HANDOFF_CLOSED, [handoff_closed_message("patient", self.service.menu)])
        asked = action == Action.HANDOFF or (proposed is not None and proposed.intent == Intent.STAFF)
        return self._quiet(turn, state, asked)

    def _quiet(self, turn: Turn, state: HandoffState, asked: bool) -> Reply:
        """Silence while staff have the chat, except a reminder of the way back every NOTICE_INTERVAL
        of silence from staff (and at once when the patient presses the staff button again)."""
        now = self.clock()
        if state.notice_event != turn.event_id:  # not a retried turn that already decided to remind
            if not asked and now - state.quiet_since < NOTICE_INTERVAL:
                return Reply(Intent.HANDOFF_OPEN, [])
            if not self.store.update(turn.user_id, state.session, last_notice=now, notice_event=turn.event_id):
                return Reply(Intent.HANDOFF_OPEN, [])  # closed meanwhile
        return Reply(Intent.HANDOFF_WAITING, [handoff_waiting_message(dt.datetime.fromtimestamp(now, BANGKOK),
                                                                 self.service.hours)])

    def _start(self, turn: Turn, proposed: Reply | None, reads: TurnReads, reason: str,
               urgent: bool = False) -> Reply:
        user, now = turn.user_id, self.clock()
        state = HandoffState(session=turn.event_id, reason=reason, since=now, urgent=urgent)
        patient = self._patient_line(turn, reads.redacted)
        items = [patient] if patient is not None else []
        transcript = self.store.transcript(user, NOTE_TRANSCRIPT - len(items))
        if patient is not None:  # in the note although its transcript line is written with the state
            transcript.append({"who": "patient", "text": patient.transcript or patient.item["text"], "at": now})
        # The patient's message first, then the note: LiveDesk shows them in order.
        items.append(Mirrored(f"note:{state.session}", {"kind": "note", "note": {
            "reason": reason, "urgent": urgent, "opened_at": now, "transcript": transcript}}))
        if not self.service.open_handoff(user, state, items):  # an agent opened one a moment ago
            return self._while_open(turn, proposed, reads, self.store.state(user) or state)
        return self._opening_reply(proposed, state)

    def _opening_reply(self, proposed: Reply | None, state: HandoffState) -> Reply:
        notice = handoff_started_message(dt.datetime.fromtimestamp(state.since, BANGKOK), self.service.hours,
                                         urgent=state.urgent)
        if state.reason == "emergency" and proposed is not None:
            first = list(proposed.messages)  # the 1669 answer first, always
            if len(first) >= 5:
                return proposed
            # LINE shows the last message's buttons: "not an emergency" moves under the notice.
            quick = first[-1].get("quickReply")
            if quick:
                first[-1] = {k: v for k, v in first[-1].items() if k != "quickReply"}
                notice = dict(notice, quickReply={"items": [*(notice.get("quickReply") or {}).get("items", []),
                                                            *quick["items"]][-13:]})
            return Reply(Intent.EMERGENCY, first + [notice], kind=proposed.kind)
        return Reply(Intent.HANDOFF_STARTED, [notice])

    def _patient_line(self, turn: Turn, redacted: bool | None = None) -> Mirrored | None:
        """The patient's event as a mirror item (and transcript line), or None if it has no words.
        ``redacted``: the turn's decision if known (else read from Redis)."""
        if turn.kind in MEDIA_TYPES:
            item = {"kind": "media", "direction": "incoming", "message_id": turn.message_id or "",
                    "media": turn.kind, "file_name": turn.file_name}
            return Mirrored(f"in:{turn.event_id}", item, "patient", f"[{turn.kind}]")
        text = render_patient_turn(turn)
        if not text:
            return None
        if turn.kind == "text" and (self.store.redacted(turn.event_id) if redacted is None else redacted):
            text = REDACTED
        return Mirrored(f"in:{turn.event_id}", {"kind": "text", "direction": "incoming", "text": text}, "patient")


def build_handoff_feature(service: HandoffService, verification: VerificationStore):
    """The handoff feature; mirror-only without Oho or the webhook token; None without LiveDesk."""
    settings = service.settings
    if not settings.configured("livedesk"):
        return None
    handoff = not settings.missing_for("handoff")
    if not handoff:
        log.info("handoff not configured (%s): mirroring to LiveDesk only",
                 ", ".join(settings.missing_for("handoff")))
    return HandoffFeature(service, verification, handoff=handoff)
