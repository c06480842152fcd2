"""Phone verification as a conversation feature: LINE turns move the patient through
``bot.verification`` (pure); the jobs that call the SMS provider are enqueued with the state,
in one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from rq import Retry

from bot.dialog import Reply
from bot.intents import Action, Intent
from bot.otp import OtpKeyMissing, number_digest
from bot.privacy import mask
from bot.verification import (
    AWAIT_CODE,
    INTENT,
    CheckCode,
    SendCode,
    Step,
    VerificationState,
    is_other_question,
    postback_params,
)
from workers.queues import enqueue
from workers.verification import jobs
from workers.verification.service import VerificationService
from workers.verification.store import verified_phone

log = logging.getLogger(__name__)

SEND_RETRY = Retry(max=3, interval=[10, 20, 40])  # past SEPSMS's 1-minute OTP window
CHECK_RETRY = Retry(max=2, interval=[3, 10])
MESSAGE_KINDS = frozenset({"image", "video", "audio", "file", "location", "sticker"})
# -- the conversation feature -----------------------------------------------------------------

class VerificationFeature:
    """Drives the verification dialog from LINE turns. ``clock`` is replaceable (tests)."""

    def __init__(self, service: VerificationService, clock=time.time):
        self.service = service
        self.store = service.store
        self.dialog = service.dialog
        self.clock = clock

    def on_turn(self, turn) -> Reply | None:
        intent = turn.proposed.intent if turn.proposed else None
        params = postback_params(turn.postback) if turn.kind == "postback" else {}
        if turn.user_id and not _one_to_one(turn) and (intent == INTENT or params.get("action") == Action.VERIFY):
            return Reply(INTENT, [self.dialog.private_chat_only()])  # numbers and codes stay out of groups
        if not _one_to_one(turn) or intent == Intent.EMERGENCY or _asks_for_staff(intent, params):
            return None  # emergencies always reach the patient; staff is the handoff's (see after_send)
        state = self.store.current_state(turn.user_id)
        if state.event_id == turn.event_id:  # this event was handled before (a retried drain)
            return Reply(INTENT, state.reply)
        now = self.clock()
        step = self._step(turn, state, intent, params, now)
        if step is None:
            return None
        return self._apply(turn, state, step, now)

    def after_send(self, turn, sent: Reply | None) -> None:
        """Leave the flow when the patient asks for staff, or when another feature answered instead
        of the knowledge base (a handoff opened, e.g. on an emergency): that feature owns the chat now."""
        if not _one_to_one(turn):
            return
        intent = turn.proposed.intent if turn.proposed else None
        params = postback_params(turn.postback) if turn.kind == "postback" else {}
        taken_over = sent is not None and sent.intent != INTENT and sent is not turn.proposed
        if taken_over or _asks_for_staff(intent, params):
            state = self.store.state(turn.user_id)
            if state.active:
                self.store.save_state(turn.user_id, self.dialog.leave(state))

    def _step(self, turn, state: VerificationState, intent, params: dict, now: float) -> Step | None:
        action = params.get("action")
        if action == Action.VERIFY or (intent == INTENT and (not state.active or turn.kind == "postback")):
            return self.dialog.start(state, verified_phone(self.store.redis, turn.user_id))
        if action == Action.VERIFY_RESEND:
            return self.dialog.resend(state, now)
        if action == Action.CANCEL and (state.active or params.get("flow") == "verify"):
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

    def _apply(self, turn, before: VerificationState, step: Step, now: float) -> Reply:
        user, action, service = turn.user_id, step.action, self.service
        if isinstance(action, (SendCode, CheckCode)):
            phone = action.phone.local if isinstance(action, SendCode) else before.phone
            digest = number_digest(service.key, phone or "")
            refusal = self.store.wrong_code_lock(user, digest, now, service.rules)
            if refusal is None and isinstance(action, SendCode):
                refusal = self.store.take_send_slot(user, digest, now, service.rules)
            if refusal is not None:
                log.info("OTP %s refused for %s (%s)", "send" if isinstance(action, SendCode) else "check",
                         mask(user), refusal.why)
                refuse = {"wrong_codes": self.dialog.wrong_codes_locked, "service": self.dialog.sms_busy,
                          "patient": self.dialog.send_refused}[refusal.why]
                step = refuse(before, refusal.wait)
                action = None
        state = replace(step.state, event_id=turn.event_id, reply=step.messages)
        # One transaction: the state, the request and its job exist together or not at all.
        with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.multi()  # explicit, so that RQ queues its commands into this transaction too
            self.store.save_state(user, state, pipe)
            if action is not None:
                self._queue(pipe, user, action)
            pipe.execute()
        return Reply(INTENT, step.messages)

    def _queue(self, pipe, user: str, action: SendCode | CheckCode) -> None:
        """The job that carries out ``action`` (the number and the code stay out of its arguments)."""
        rules, connection = self.service.rules, self.store.redis
        if isinstance(action, SendCode):
            self.store.create_request(action.request_id, user, action.phone, self.service.settings.sms_provider,
                                      pipe)
            enqueue(connection, jobs.send_code, action.request_id, pipeline=pipe, retry=SEND_RETRY,
                    job_id=f"otp-send-{action.request_id}", description="send an OTP SMS")
        else:
            self.store.save_pin(action.request_id, action.attempt, action.code, rules.ttl_seconds, pipe)
            enqueue(connection, jobs.check_code, action.request_id, action.attempt, pipeline=pipe,
                    retry=CHECK_RETRY, job_id=f"otp-check-{action.request_id}-{action.attempt}",
                    description="check an OTP code")


def _one_to_one(turn) -> bool:
    """Verification runs only in a 1:1 chat: a phone number or a code typed in a group is seen by all."""
    return bool(turn.user_id) and (turn.event.get("source") or {}).get("type", "user") == "user"


def _asks_for_staff(intent: str | None, params: dict) -> bool:
    return intent == Intent.STAFF or params.get("action") == Action.HANDOFF


def build_verification_feature(services):
    """The verification feature, or None when SMS is not configured (the KB then answers ``verify``)."""
    settings = services.settings
    missing = settings.missing_for("sms")
    if missing:
        log.info("phone verification is off: %s not set", ", ".join(missing))
        return None
    try:
        return VerificationFeature(services.verification)
    except OtpKeyMissing as exc:
        log.warning("phone verification is off: %s", exc)
        return None
