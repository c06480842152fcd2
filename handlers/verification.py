"""Phone verification by SMS OTP (issue 4): the conversation feature, its Redis state, the SMS senders.

``VerificationFeature`` runs inside the LINE drain job: it moves the patient
through ``bot.verification`` (pure) and enqueues the jobs that talk to the SMS
provider (``workers.verification_jobs``); ``VerificationService`` is what those
jobs run. Only the web edge (``handlers.sms_webhooks``) calls
``record_delivery``, which touches Redis and nothing else.

Redis (keys never hold a phone number or a code; values may hold the number):
  verify:state:<user>            JSON VerificationState (where the patient is)       1 h
  verify:request:<id>            hash: one code sent (user, phone, provider, ref, …)  24 h
  verify:code:<id>               HMAC of a locally made code (ThaiBulkSMS)            OTP_TTL_SECONDS
  verify:pin:<id>:<attempt>      the code the patient typed, until the check job ran  OTP_TTL_SECONDS
  verify:message:<provider>:<id> provider message id → request id (delivery reports)  24 h
  verify:sends:{number:<hmac>|user:<user>}  send budgets (3 / 15 min, 3 / h)
  verify:phone:<user>            JSON {phone, verified_at, provider}: the verified number (kept)

At most one SMS per request: a request id is made per code; the send job claims it
(``HSETNX claimed``) before calling the provider and records the reference after,
so a retried job never sends again: it re-pushes the same LINE message (same
retry key) or, if the earlier attempt got no answer, tells the patient it is unsure.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import redis as redis_lib
from rq import Retry

from bot.dialog import Reply
from bot.otp import (OtpKeyMissing, code_digest, code_matches, new_code, new_reference, number_digest,
                     otp_key)
from bot.phone import ThaiMobile, normalize_thai_mobile
from bot.privacy import mask
from bot.thai_dates import BANGKOK
from bot.verification import (AWAIT_CODE, INTENT, CheckCode, OtpRules, SendCode, Step, VerificationDialog,
                              VerificationState, is_other_question, postback_params)
from integrations.errors import NotFoundError, ProviderConnectionError, ProviderError, RateLimitError
from integrations.line import retry_key_for
from integrations.ratelimit import RateLimit, RedisRateLimiter
from integrations.sepsms import OtpExpiredError, OtpRejectedError
from integrations.thaibulksms import InvalidMsisdnError
from workers.queues import DEFAULT_QUEUE, enqueue

log = logging.getLogger(__name__)

STATE_TTL = 3600
REQUEST_TTL = 24 * 3600            # delivery reports can come late
NUMBER_WINDOW, USER_WINDOW = 15 * 60, 3600
VERIFIED_TAG = "verified"
VERIFIED_AT_ATTRIBUTE = "phone_verified_at"
#: A patient is waiting: retry soon, give up (and say so) after a minute or so.
SEND_RETRY = Retry(max=3, interval=[10, 20, 40])  # past SEPSMS's 1-minute OTP window
CHECK_RETRY = Retry(max=2, interval=[3, 10])
MESSAGE_KINDS = frozenset({"image", "video", "audio", "file", "location", "sticker"})
JOBS = "workers.verification_jobs"


# -- Redis -------------------------------------------------------------------------------

@dataclass
class SendRequest:
    """One code sent (or to be sent) to one number for one LINE user."""

    id: str
    user: str
    phone: str = field(repr=False)
    provider: str
    reference: str | None = None
    message_id: str | None = None
    status: str = "queued"          # queued | sent | failed
    delivery: str | None = None     # delivered | failed | pending (from delivery reports)
    verified_at: str | None = None

    @property
    def last4(self) -> str:
        return self.phone[-4:]


class VerificationStore:
    def __init__(self, connection: redis_lib.Redis):
        self.redis = connection

    # state
    def state(self, user: str) -> VerificationState:
        raw = self.redis.get(f"verify:state:{user}")
        return VerificationState.from_dict(json.loads(raw) if raw else None)

    def current_state(self, user: str) -> VerificationState:
        """The state, out of the flow once its code has been verified (jobs never write the state)."""
        state = self.state(user)
        if state.active and state.request_id:
            request = self.request(state.request_id)
            if request is not None and request.verified_at:
                return VerificationState(sent_at=state.sent_at, event_id=state.event_id, reply=state.reply)
        return state

    def save_state(self, user: str, state: VerificationState, pipe=None) -> None:
        (pipe or self.redis).set(f"verify:state:{user}", json.dumps(state.to_dict(), ensure_ascii=False),
                                 ex=STATE_TTL)

    # requests
    def create_request(self, request_id: str, user: str, phone: ThaiMobile, provider: str, pipe) -> None:
        key = f"verify:request:{request_id}"
        pipe.hset(key, mapping={"user": user, "phone": phone.local, "provider": provider,
                                "status": "queued", "created_at": str(time.time())})
        pipe.expire(key, REQUEST_TTL)

    def request(self, request_id: str) -> SendRequest | None:
        data = {k.decode(): v.decode() for k, v in self.redis.hgetall(f"verify:request:{request_id}").items()}
        if not data.get("user"):
            return None
        return SendRequest(request_id, data["user"], data["phone"], data["provider"], data.get("reference"),
                           data.get("message_id"), data.get("status", "queued"), data.get("delivery"),
                           data.get("verified_at"))

    def claim_send(self, request_id: str) -> bool:
        """True for the one attempt allowed to call the provider."""
        return bool(self.redis.hsetnx(f"verify:request:{request_id}", "claimed", "1"))

    def release_send(self, request_id: str) -> None:
        """The provider answered that it sent nothing: a later attempt may try again."""
        self.redis.hdel(f"verify:request:{request_id}", "claimed")

    def record_sent(self, request: SendRequest, reference: str, message_id: str | None) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(f"verify:request:{request.id}", mapping={"reference": reference, "status": "sent",
                                                           "message_id": message_id or ""})
        if message_id:
            pipe.set(f"verify:message:{request.provider}:{message_id}", request.id, ex=REQUEST_TTL)
        pipe.execute()

    def mark_failed(self, request_id: str) -> None:
        self.redis.hset(f"verify:request:{request_id}", "status", "failed")

    def mark_verified(self, request_id: str, when: str) -> str:
        """Mark the request verified at ``when``; returns the time of the first mark (retries keep it)."""
        key = f"verify:request:{request_id}"
        self.redis.hsetnx(key, "verified_at", when)
        return (self.redis.hget(key, "verified_at") or when.encode()).decode()

    # typed codes
    def save_pin(self, request_id: str, attempt: int, code: str, ttl: int, pipe) -> None:
        pipe.set(f"verify:pin:{request_id}:{attempt}", code, ex=ttl)

    def pin(self, request_id: str, attempt: int) -> str | None:
        raw = self.redis.get(f"verify:pin:{request_id}:{attempt}")
        return raw.decode() if raw else None

    def drop_pin(self, request_id: str, attempt: int) -> None:
        self.redis.delete(f"verify:pin:{request_id}:{attempt}")

    # send budgets
    def take_send_slot(self, user: str, digest: str, now: float, rules: OtpRules) -> float | None:
        """Count one send against the number's and the user's budget; or the seconds to wait."""
        limiter = RedisRateLimiter(self.redis, prefix="verify:sends", provider="verification", clock=lambda: now)
        try:
            limiter.acquire(RateLimit(f"number:{digest}", rules.sends_per_number, NUMBER_WINDOW),
                            RateLimit(f"user:{user}", rules.sends_per_user, USER_WINDOW))
        except RateLimitError as exc:
            return exc.retry_after or 60.0
        return None

    # the result
    def save_verified(self, user: str, phone: str, when: str, provider: str) -> None:
        record = {"phone": phone, "verified_at": when, "provider": provider}
        self.redis.set(f"verify:phone:{user}", json.dumps(record))


def verification_record(connection: redis_lib.Redis, user_id: str) -> dict | None:
    """``{phone, verified_at, provider}`` of the LINE user's verified number, or None."""
    raw = connection.get(f"verify:phone:{user_id}")
    return json.loads(raw) if raw else None


def verified_phone(connection: redis_lib.Redis, user_id: str) -> str | None:
    """The LINE user's verified mobile number (``0812345678``), or None. Never log it."""
    record = verification_record(connection, user_id)
    return record["phone"] if record else None


def verification_in_progress(connection: redis_lib.Redis, user_id: str) -> bool:
    """Whether the user is typing a phone number or a code to the bot right now (e.g. not to mirror it)."""
    return VerificationStore(connection).current_state(user_id).active


def record_delivery(connection: redis_lib.Redis, provider: str, message_id: str, status: str) -> bool:
    """Note a delivery report against the code it is about; False if it is not one of ours.

    The first "failed" report of a code that is not yet verified enqueues the job
    that tells the patient. Redis only: this runs inside the webhook request.
    """
    raw = connection.get(f"verify:message:{provider}:{message_id}")
    if raw is None:
        return False
    request_id = raw.decode()
    key = f"verify:request:{request_id}"
    current = connection.hget(key, "delivery")
    if status != "pending" or current is None:  # a late "pending" never hides a final outcome
        connection.hset(key, "delivery", status)
    if status == "failed" and connection.hsetnx(key, "undelivered_told", "1") \
            and not connection.hexists(key, "verified_at"):
        enqueue(connection, f"{JOBS}.tell_undelivered", request_id, queue=DEFAULT_QUEUE,
                job_id=f"otp-undelivered-{request_id}", description="tell a patient an OTP SMS did not arrive")
    log.info("%s delivery report for OTP request %s: %s", provider, mask(request_id), status)
    return True


# -- SMS senders ---------------------------------------------------------------------------

class CodeExpired(Exception):
    """The code cannot be checked any more (expired, used, or never sent)."""


@dataclass(frozen=True)
class SentCode:
    reference: str
    message_id: str | None   # what delivery reports name: SEPSMS uuid, ThaiBulkSMS message_id


class SepsmsCodes:
    """SEPSMS makes, texts and checks the code; we keep only its reference."""

    provider = "sepsms"

    def __init__(self, client, rules: OtpRules):
        self.client = client
        self.rules = rules

    def send(self, request_id: str, phone: ThaiMobile) -> SentCode:
        template = sms_text("{code}", "{ref}", self.rules)
        sent = self.client.send_otp(phone, template=template, ttl_seconds=self.rules.ttl_seconds,
                                    code_length=self.rules.code_length)
        return SentCode(sent.reference, sent.uuid or None)

    def check(self, request: SendRequest, code: str) -> bool:
        if not request.reference:  # never sent, or sent without an answer: SEPSMS cannot tell
            raise CodeExpired()
        try:
            return self.client.verify_otp(request.reference, code).verified
        except OtpExpiredError:
            raise CodeExpired() from None
        except OtpRejectedError:  # an undocumented refusal of the pin: "wrong code", attempts left
            return False

    def discard(self, request_id: str) -> None:
        """Nothing to do: after OTP_MAX_ATTEMPTS the flow never asks SEPSMS about this reference again."""


class LocalCodes:
    """ThaiBulkSMS only texts: we make the code, keep its HMAC for OTP_TTL_SECONDS, check it once."""

    provider = "thaibulksms"

    def __init__(self, client, connection: redis_lib.Redis, key: bytes, rules: OtpRules):
        self.client = client
        self.redis = connection
        self.key = key
        self.rules = rules

    def send(self, request_id: str, phone: ThaiMobile) -> SentCode:
        code, reference = new_code(self.rules.code_length), new_reference()
        self.redis.set(f"verify:code:{request_id}", code_digest(self.key, request_id, code),
                       ex=self.rules.ttl_seconds)
        # ThaiBulkSMS stops retrying delivery after ``expire``: no use after the code died (the client
        # keeps it within what ThaiBulkSMS accepts, 00:06 at least).
        expire = timedelta(seconds=self.rules.ttl_seconds)
        result = self.client.send_sms([phone], sms_text(code, reference, self.rules), expire=expire)
        if result.bad or not result.sent:
            raise InvalidMsisdnError("ThaiBulkSMS refused the number", provider=self.provider,
                                     code="bad_phone_number")
        return SentCode(reference, result.sent[0].message_id or None)

    def check(self, request: SendRequest, code: str) -> bool:
        key = f"verify:code:{request.id}"
        digest = self.redis.get(key)
        if digest is None:
            raise CodeExpired()
        if not code_matches(self.key, request.id, code, digest.decode()):
            return False
        if not self.redis.delete(key):  # single use: a concurrent check took it first
            raise CodeExpired()
        return True

    def discard(self, request_id: str) -> None:
        self.redis.delete(f"verify:code:{request_id}")


def sms_text(code: str, reference: str, rules: OtpRules) -> str:
    """The SMS: short (Thai SMS parts are 70 characters), code and reference first."""
    return f"รหัส OTP {code} (Ref: {reference}) ใช้ได้ {max(1, rules.ttl_seconds // 60)} นาที ห้ามบอกผู้อื่น"


# -- what the jobs run ----------------------------------------------------------------------

class VerificationService:
    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.redis = services.redis
        self.store = VerificationStore(self.redis)
        self.rules = OtpRules.from_settings(self.settings)
        staff = "action=handoff" if not self.settings.missing_for("handoff") else "action=topic&id=staff"
        self.dialog = VerificationDialog(self.rules, staff_data=staff, menu=services.knowledge.menu)
        self.key = otp_key(self.settings)

    def codes(self, provider: str):
        if provider == "thaibulksms":
            return LocalCodes(self.services.thaibulksms, self.redis, self.key, self.rules)
        return SepsmsCodes(self.services.sepsms, self.rules)

    def push(self, user: str, message: dict, *key_parts: str) -> None:
        self.services.line.push(user, [message], retry_key_for(*key_parts))

    def send_code(self, request_id: str, *, final: bool) -> None:
        """Text the code of one request at most once, then tell the patient the reference."""
        request = self.store.request(request_id)
        if request is None:
            log.warning("OTP request %s is gone; nothing sent", mask(request_id))
            return
        if request.reference:  # an earlier attempt sent it: only the LINE message may be missing
            self.push(request.user, self.dialog.code_sent(request.last4, request.reference), "otp-sent", request_id)
            return
        if not self.store.claim_send(request_id):
            log.warning("OTP request %s: an earlier attempt got no answer; not sending twice", mask(request_id))
            self.push(request.user, self.dialog.send_uncertain(), "otp-uncertain", request_id)
            return
        phone = normalize_thai_mobile(request.phone)
        try:
            sent = self.codes(request.provider).send(request_id, phone)
        except ProviderError as exc:
            self._send_failed(request, exc, final)
            return
        self.store.record_sent(request, sent.reference, sent.message_id)
        log.info("OTP sent to %s via %s (request %s)", phone.masked, request.provider, mask(request_id))
        self.push(request.user, self.dialog.code_sent(request.last4, sent.reference), "otp-sent", request_id)

    def _send_failed(self, request: SendRequest, exc: ProviderError, final: bool) -> None:
        if _maybe_sent(exc):
            log.warning("OTP send for request %s got no answer (%s); not retrying", mask(request.id), exc)
            self.push(request.user, self.dialog.send_uncertain(), "otp-uncertain", request.id)
            return
        self.store.release_send(request.id)
        if exc.retryable and not final:
            raise exc
        self.store.mark_failed(request.id)
        bad_number = isinstance(exc, InvalidMsisdnError)
        log.warning("OTP send for request %s failed: %s", mask(request.id), exc)
        self.push(request.user, self.dialog.send_failed(bad_number), "otp-send-failed", request.id)
        if not exc.retryable and not bad_number:
            raise exc  # credentials, credit, a rejected request: someone has to look (failed registry)

    def check_code(self, request_id: str, attempt: int, *, final: bool) -> None:
        """Check the code typed for ``attempt`` and tell the patient the outcome.

        The typed code is dropped only after the patient has been told, so a retry
        (LINE down) tells them again: by the same retry key, so at most once.
        """
        request, code = self.store.request(request_id), self.store.pin(request_id, attempt)
        if request is None or code is None:
            return  # already checked and told, or expired
        self._check(request, code, attempt, final)
        self.store.drop_pin(request_id, attempt)

    def _check(self, request: SendRequest, code: str, attempt: int, final: bool) -> None:
        if request.verified_at:  # a retry, or a second code typed in a hurry
            self._verified(request)
            return
        codes = self.codes(request.provider)
        self.services.line.show_loading(request.user, 5)
        try:
            verified = codes.check(request, code)
        except CodeExpired:
            self.push(request.user, self.dialog.expired(), "otp-expired", request.id, str(attempt))
            return
        except ProviderError as exc:
            if exc.retryable and not final:
                raise
            self.push(request.user, self.dialog.check_failed(), "otp-check-failed", request.id, str(attempt))
            if not exc.retryable:
                self.store.drop_pin(request.id, attempt)
                raise
            return
        if verified:
            self._verified(request)
            return
        if attempt >= self.rules.max_attempts:
            codes.discard(request.id)
        log.info("wrong OTP for request %s (attempt %d)", mask(request.id), attempt)
        self.push(request.user, self.dialog.wrong_code(attempt), "otp-check", request.id, str(attempt))

    def _verified(self, request: SendRequest) -> None:
        """Record the number and tell everyone. Each step is idempotent, so a retried job redoes them all."""
        when = self.store.mark_verified(request.id, datetime.now(BANGKOK).replace(microsecond=0).isoformat())
        self.store.save_verified(request.user, request.phone, when, request.provider)
        log.info("phone %s verified for %s", mask(request.phone), mask(request.user))
        if self.settings.oho_api_key is not None:
            enqueue(self.redis, f"{JOBS}.update_contact", request.user, job_id=f"otp-oho-{request.id}",
                    description="update the Oho contact of a verified patient")
        self._note_for_staff(request, when)
        self.push(request.user, self.dialog.verified(request.last4), "otp-verified", request.id)

    def _note_for_staff(self, request: SendRequest, when: str) -> None:
        """A private note in the patient's LiveDesk conversation, queued in order with the mirrored chat."""
        from handlers.handoff_store import enqueue_drain_mirror, livedesk_configured, mirror_outbox

        if not livedesk_configured(self.settings):
            return
        text = f"✅ ผู้ป่วยยืนยันเบอร์มือถือที่ลงท้ายด้วย {request.last4} ทาง SMS OTP แล้ว ({when})"
        if mirror_outbox(self.redis).append(request.user, f"verified:{request.id}", {"kind": "note", "text": text}):
            enqueue_drain_mirror(self.redis, request.user)

    def tell_undelivered(self, request_id: str) -> None:
        request = self.store.request(request_id)
        if request is None or request.verified_at:
            return
        self.push(request.user, self.dialog.undelivered(request.last4), "otp-undelivered", request_id)

    def update_contact(self, user: str) -> None:
        """Oho: the phone, the ``verified`` tag (merged) and the verification time (merged)."""
        record = verification_record(self.redis, user)
        if record is None or self.settings.oho_api_key is None:
            return
        from handlers.oho_contacts import OhoContacts

        oho, contacts = self.services.oho, OhoContacts(self.services)
        platform_id = contacts.platform_id()
        try:
            oho.update_contact(platform_id, user, phone=record["phone"])
        except NotFoundError:  # no contact yet (handoff creates them; verification may come first)
            contacts.ensure(user, missing=True)
            oho.update_contact(platform_id, user, phone=record["phone"])
        oho.add_tags(platform_id, user, [VERIFIED_TAG])
        oho.set_attributes(platform_id, user, {VERIFIED_AT_ATTRIBUTE: record["verified_at"]})


def _maybe_sent(exc: ProviderError) -> bool:
    """Whether the SMS may have gone out despite the error: no answer, or a 2xx we could not read."""
    if exc.code == "local_rate_limit":
        return False  # stopped by our own budget, before any call
    if isinstance(exc, ProviderConnectionError):
        return True
    return exc.code is None and (exc.status is None or exc.status < 400)


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
        if not turn.user_id or intent == "emergency" or _asks_for_staff(intent, params):
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
        if not turn.user_id:
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
        if action == "verify" or (intent == INTENT and (not state.active or turn.kind == "postback")):
            return self.dialog.start(state, verified_phone(self.store.redis, turn.user_id))
        if action == "verify-resend":
            return self.dialog.resend(state, now)
        if action == "cancel" and (state.active or params.get("flow") == "verify"):
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
        if isinstance(action, SendCode):
            digest = number_digest(service.key, action.phone.local)
            wait = self.store.take_send_slot(user, digest, now, service.rules)
            if wait is not None:
                log.info("OTP send refused for %s: budget used up", mask(user))
                step = self.dialog.send_refused(before, wait)
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
            enqueue(connection, f"{JOBS}.send_code", action.request_id, pipeline=pipe, retry=SEND_RETRY,
                    job_id=f"otp-send-{action.request_id}", description="send an OTP SMS")
        else:
            self.store.save_pin(action.request_id, action.attempt, action.code, rules.ttl_seconds, pipe)
            enqueue(connection, f"{JOBS}.check_code", action.request_id, action.attempt, pipeline=pipe,
                    retry=CHECK_RETRY, job_id=f"otp-check-{action.request_id}-{action.attempt}",
                    description="check an OTP code")


def _asks_for_staff(intent: str | None, params: dict) -> bool:
    return intent == "staff" or params.get("action") == "handoff"


def build_verification_feature(services):
    """The verification feature, or None when SMS is not configured (the KB then answers ``verify``)."""
    settings = services.settings
    missing = settings.missing_for("sms")
    if missing:
        log.info("phone verification is off: %s not set", ", ".join(missing))
        return None
    try:
        return VerificationFeature(VerificationService(services))
    except OtpKeyMissing as exc:
        log.warning("phone verification is off: %s", exc)
        return None
