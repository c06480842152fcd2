"""Phone verification as a conversation feature: LINE turns move the patient through
``bot.verification`` (pure). A turn that sends or checks a code does it itself and answers
with the outcome (``VerificationService.send_in_turn``): the state, the request and its backstop
job are written first, in one transaction, so a worker dying mid-turn loses nothing."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from bot.dialog import Reply
from bot.intents import Action, Intent
from bot.otp import OtpKeyMissing
from bot.privacy import mask
from bot.turn import Turn
from bot.verification import (
    AWAIT_CODE,
    INTENT,
    CheckCode,
    SendCode,
    Step,
    VerificationState,
    is_other_question,
)
from workers.line.events import TurnReads
from workers.verification.outcome import BACKSTOP_SECONDS
from workers.verification.service import VerificationService
from workers.verification.store import Budgeted, verified_phone

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

MESSAGE_KINDS = frozenset({"image", "video", "audio", "file", "location", "sticker"})
# -- the conversation feature -----------------------------------------------------------------

class VerificationFeature:
    """Drives the verification dialog from LINE turns. ``clock`` is replaceable (tests)."""

    def __init__(self, service: VerificationService, clock=time.time):
        self.service = service
        self.store = service.store
        self.dialog = service.dialog
        self.clock = clock

    def on_turn(self, turn: Turn, proposed: Reply | None, reads: TurnReads) -> Reply | None:
        intent = proposed.intent if proposed else None
        # Verification runs only in a 1:1 chat: a phone number or a code typed in a group is seen by all.
        if turn.user_id and not turn.one_to_one and (intent == INTENT or turn.action == Action.VERIFY):
            return Reply(INTENT, [self.dialog.private_chat_only()])  # numbers and codes stay out of groups
        if not turn.one_to_one or intent == Intent.EMERGENCY or _asks_for_staff(intent, turn):
            return None  # emergencies always reach the patient; staff is the handoff's (see after_send)
        state = self.store.turn_state(turn.user_id, reads)
        if state.event_id == turn.event_id:  # this event was handled before (a retried drain)
            if state.pending:  # ... but its action had not finished: finish it now
                return self._carry_out(turn.user_id, state)
            return Reply(INTENT, state.reply)
        now = self.clock()
        step = self._step(turn, state, intent, now)
        if step is None:
            return None
        return self._apply(turn, state, step, now)

    def after_send(self, turn: Turn, proposed: Reply | None, sent: Reply | None, reads: TurnReads) -> None:
        """Leave the flow when the patient asks for staff, or when another feature answered instead
        of the knowledge base (a handoff opened, e.g. on an emergency): that feature owns the chat now."""
        if not turn.one_to_one:
            return
        intent = proposed.intent if proposed else None
        taken_over = sent is not None and sent.intent != INTENT and sent is not proposed
        if taken_over or _asks_for_staff(intent, turn):
            state = self.store.state(turn.user_id)
            if state.active:
                self.store.save_state(turn.user_id, self.dialog.leave(state))

    def _step(self, turn: Turn, state: VerificationState, intent, now: float) -> Step | None:
        action = turn.action
        if action == Action.VERIFY or (intent == INTENT and (not state.active or turn.kind == "postback")):
            known = verified_phone(self.store.redis, turn.user_id, prefix=self.store.keys.prefix)
            return self.dialog.start(state, known)
        if action == Action.VERIFY_RESEND:
            return self.dialog.resend(state, now)
        if action == Action.CANCEL and (state.active or turn.params.get("flow") == "verify"):
            return self.dialog.cancel(state)
        if not state.active:
            return None
        if turn.kind == "text" and is_other_question(turn.text, intent):
            # The knowledge base knows this question: it answers. A code already on its way
            # still counts (patients say thanks or ask the way while the SMS comes); asked
            # for a number instead, the patient has moved on.
            if state.step != AWAIT_CODE:
                self.store.save_state(turn.user_id, self.dialog.leave(state))
            return None
        if turn.kind == "text":
            return self.dialog.on_text(state, turn.text or "", now)
        if turn.kind == "postback":  # another button: the patient has moved on
            self.store.save_state(turn.user_id, self.dialog.leave(state))
            return None
        if turn.kind in MESSAGE_KINDS:
            return self.dialog.hint(state)
        return None

    def _apply(self, turn: Turn, before: VerificationState, step: Step, now: float) -> Reply:
        user, action, service = turn.user_id, step.action, self.service
        busy = self._still_busy(before, action)
        if busy is not None:  # one code and one check at a time
            step, action = Step(before, [busy]), None
        if isinstance(action, (SendCode, CheckCode)):
            phone = action.phone.local if isinstance(action, SendCode) else before.phone
            who = Budgeted.of(service.key, user, phone or "")
            refusal = self.store.wrong_code_lock(who, now, service.rules)
            if refusal is None and isinstance(action, SendCode):
                refusal = self.store.take_send_slot(who, now, service.rules)
            if refusal is not None:
                log.info("OTP %s refused for %s (%s)", "send" if isinstance(action, SendCode) else "check",
                         mask(user), refusal.why)
                refuse = {"wrong_codes": self.dialog.wrong_codes_locked, "service": self.dialog.sms_busy,
                          "patient": self.dialog.send_refused}[refusal.why]
                step = refuse(before, refusal.wait)
                action = None
        pending = "send" if isinstance(action, SendCode) else "check" if isinstance(action, CheckCode) else None
        state = replace(step.state, event_id=turn.event_id, reply=step.messages, pending=pending)
        # One transaction: the state, the request and its backstop job exist together or not at all.
        with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.multi()  # explicit, so that RQ queues its commands into this transaction too
            self.store.save_state(user, state, pipe)
            if action is not None:
                self._prepare(pipe, user, action)
            pipe.execute()
        if pending is None:
            return Reply(INTENT, step.messages)
        return self._carry_out(user, state)

    def _still_busy(self, before: VerificationState, action) -> dict | None:
        """What to say instead of ``action`` while the patient's code is still on its way (held for
        the provider's pace, or slow), or their last code is still being checked; else None."""
        if not isinstance(action, (SendCode, CheckCode)) or not before.request_id:
            return None
        if isinstance(action, CheckCode) and before.attempts \
                and self.store.pin(before.request_id, before.attempts) is not None:
            return self.dialog.checking()
        request = self.store.request(before.request_id)
        if request is not None and request.in_flight:
            return self.dialog.send_queued(request.last4)
        return None

    def _prepare(self, pipe, user: str, action: SendCode | CheckCode) -> None:
        """The request (or the typed code) and the backstop job that carries ``action`` out if this
        turn cannot (the number and the code stay out of its arguments)."""
        service = self.service
        if isinstance(action, SendCode):
            self.store.create_request(action.request_id, user, action.phone, service.settings.sms_provider, pipe)
            service.backstop.schedule_send(action.request_id, BACKSTOP_SECONDS, pipe=pipe)
        else:
            self.store.save_pin(action.request_id, action.attempt, action.code, service.rules.ttl_seconds, pipe)
            service.backstop.schedule_check(action.request_id, action.attempt, BACKSTOP_SECONDS, pipe=pipe)

    def _carry_out(self, user: str, state: VerificationState) -> Reply:
        """Send or check within the turn's budget and answer with the outcome; a slower provider's
        outcome is pushed when it comes (LINE's loading animation shows meanwhile when the turn
        has nothing to say)."""
        holder = f"turn:{state.event_id}"  # a retry of this turn claims the telling as the same holder
        if state.pending == "send":
            done, outcome = self.service.send_in_turn(state.request_id, holder)
        else:
            done, outcome = self.service.check_in_turn(state.request_id, state.attempts, holder)
        messages = [outcome.message] if outcome is not None else state.reply
        with self.store.redis.pipeline(transaction=True) as pipe:
            self.store.save_state(user, replace(state, reply=messages, pending=None), pipe)
            if outcome is not None:
                self.service.finish_turn(outcome, pipe)
            pipe.execute()
        if not messages:
            self.service.line().show_loading(user, 20)
        log.info("OTP %s for %s %s", state.pending, mask(user), "answered in the turn" if outcome else
                 "goes on after the turn" if not done else "to be retried")
        return Reply(INTENT, messages)


def _asks_for_staff(intent: str | None, turn: Turn) -> bool:
    return intent == Intent.STAFF or turn.action == Action.HANDOFF


def build_verification_feature(settings: Settings, service: Callable[[], VerificationService]):
    """The verification feature, or None when SMS is not configured (the KB then answers ``verify``);
    ``service`` builds the service (it needs the settings this checks first)."""
    missing = settings.missing_for("sms")
    if missing:
        log.info("phone verification is off: %s not set", ", ".join(missing))
        return None
    try:
        return VerificationFeature(service())
    except OtpKeyMissing as exc:
        log.warning("phone verification is off: %s", exc)
        return None
