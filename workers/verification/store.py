"""Phone verification's Redis state: where each patient is, each code sent, the verified number.

Redis (keys never hold a phone number or a code; values may hold the number; the budgets, which an
erasure keeps, name the number and the user by keyed digests, ``Budgeted``):
  verify:state:<user>            JSON VerificationState (where the patient is)       1 h
  verify:request:<id>            hash: one code sent (user, phone, provider, ref, who tells, …)  24 h
  verify:code:<id>               HMAC of a locally made code (ThaiBulkSMS)            OTP_TTL_SECONDS
  verify:pin:<id>:<attempt>      the code the patient typed, until the patient was told  OTP_TTL_SECONDS
  verify:verdict:<id>:<attempt>  what that check found (the message), for a retry      OTP_TTL_SECONDS
  verify:message:<provider>:<id> provider message id → request id (delivery reports)  24 h
  verify:sends:{number:<hmac>|user:<hmac>}[:day]  the patient's send budgets (15 min / 1 h, and 24 h)
  verify:sends:all:{hour|day}    the whole service's send budget (toll fraud stops here)
  verify:wrong:{number:<hmac>|user:<hmac>}  wrong codes, across codes                24 h
  verify:alerted:<what>          "the operator was told" (one WARNING per 5 minutes)   5 min
  verify:phone:<user>            JSON {phone, verified_at, provider}: the verified number
                                                                VERIFIED_PHONE_RETENTION_DAYS

Every key starts with the hospital's prefix (``VerifyKeys``): two hospitals' patients, codes and budgets
never meet, even for one LINE user id; but for a number's send budgets (``verify:sends:number:*``),
which every hospital of a deployment counts into, so that one number cannot be pumped through each.

Delivery reports (``record_delivery``) touch Redis only: they run inside the webhook request.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import redis as redis_lib

from bot.otp import number_digest, user_digest
from bot.phone import ThaiMobile
from bot.privacy import mask
from bot.verification import OtpRules, VerificationState
from integrations.errors import RateLimitError
from integrations.ratelimit import RateLimit, RedisRateLimiter
from workers import job_names, lua
from workers.queues import DEFAULT_QUEUE, enqueue

if TYPE_CHECKING:
    from workers.line.events import TurnReads

log = logging.getLogger(__name__)

STATE_TTL = 3600
NUMBER_BUDGETS = "verify:sends"     # a number's send budgets: no hospital prefix (see the docstring)
REQUEST_TTL = 24 * 3600            # delivery reports can come late
NUMBER_WINDOW, USER_WINDOW, DAY = 15 * 60, 3600, 24 * 3600
ALERT_EVERY = 300
PACED = 5.0                        # a send later than this after the request was held for the provider's pace


@dataclass(frozen=True)
class Budgeted:
    """Whose budgets a send or a check counts against: the number and the LINE user, named in Redis
    by keyed digests (the budgets outlive an unfollow or an erasure, their names say nobody's)."""

    user: str = field(repr=False)  # the LINE user id, for log lines (masked)
    number: str                    # ``number_digest`` of the local number
    line_user: str                 # ``user_digest`` of the LINE user id

    @classmethod
    def of(cls, key: bytes, user: str, local_number: str) -> "Budgeted":
        return cls(user, number_digest(key, local_number), user_digest(key, user))


@dataclass(frozen=True)
class Refusal:
    """A send or a check refused here: ``why`` is ``patient`` (this number's or user's budget),
    ``service`` (the whole service's budget) or ``wrong_codes`` (the lockout); ``wait`` in seconds."""

    why: str
    wait: float
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
    created_at: float | None = None
    sent_at: float | None = None    # when the provider took it (later than created_at when paced)
    told: bool = False              # the patient has this send's outcome (a reply or a push)
    failure: str | None = None      # failed | bad_number | busy (status "failed")

    @property
    def in_flight(self) -> bool:
        """Asked for, not yet sent, and nothing told: the code is on its way (held for its slot, or slow)."""
        return self.status == "queued" and not self.reference and not self.told

    @property
    def last4(self) -> str:
        return self.phone[-4:]


@dataclass(frozen=True)
class VerifyKeys:
    """The keys of the table above, of the hospital whose keys start with ``prefix``."""

    prefix: str = ""

    def state(self, user: str) -> str:
        return f"{self.prefix}verify:state:{user}"

    def request(self, request_id: str) -> str:
        return f"{self.prefix}verify:request:{request_id}"

    def code(self, request_id: str) -> str:
        return f"{self.prefix}verify:code:{request_id}"

    def pin(self, request_id: str, attempt: int | str) -> str:
        return f"{self.prefix}verify:pin:{request_id}:{attempt}"

    def verdict(self, request_id: str, attempt: int) -> str:
        return f"{self.prefix}verify:verdict:{request_id}:{attempt}"

    def message(self, provider: str, message_id: str) -> str:
        return f"{self.prefix}verify:message:{provider}:{message_id}"

    @property
    def sends(self) -> str:
        """The send budgets' ``RedisRateLimiter`` prefix."""
        return f"{self.prefix}verify:sends"

    @property
    def wrong(self) -> str:
        """The wrong-code counts' ``RedisRateLimiter`` prefix."""
        return f"{self.prefix}verify:wrong"

    def alerted(self, what: str) -> str:
        return f"{self.prefix}verify:alerted:{what}"

    def phone(self, user: str) -> str:
        return f"{self.prefix}verify:phone:{user}"


class VerificationStore:
    def __init__(self, connection: redis_lib.Redis, *, prefix: str):
        """``prefix``: the hospital's."""
        self.redis = connection
        self.keys = VerifyKeys(prefix)

    # state
    def state(self, user: str) -> VerificationState:
        raw = self.redis.get(self.keys.state(user))
        return VerificationState.from_dict(json.loads(raw) if raw else None)

    def current_state(self, user: str) -> VerificationState:
        """The state, out of the flow once its code has been verified (jobs never write the state)."""
        state = self.state(user)
        if state.active and state.request_id:
            request = self.request(state.request_id)
            if request is not None and request.verified_at:  # the request is kept: a retried turn finishes
                return VerificationState(sent_at=state.sent_at, request_id=state.request_id, attempts=state.attempts,
                                         event_id=state.event_id, reply=state.reply, pending=state.pending)
            paced = request.sent_at - request.created_at if request and request.sent_at and request.created_at else 0
            if paced > PACED and paced > state.paced and state.sent_at is not None:
                # The code's clock starts when it went out (once: the shift is kept in the state).
                return replace(state, sent_at=state.sent_at + paced - state.paced, paced=paced)
        return state

    def turn_state(self, user: str, reads: TurnReads) -> VerificationState:
        """``current_state``, read once per turn and kept in ``reads`` (``TurnReads``: the handoff
        feature reads it first, to hide a number or a code from LiveDesk; this feature then moves
        the patient on)."""
        if reads.verification is None:
            reads.verification = self.current_state(user)
        return reads.verification

    def save_state(self, user: str, state: VerificationState, pipe=None) -> None:
        (pipe or self.redis).set(self.keys.state(user), json.dumps(state.to_dict(), ensure_ascii=False),
                                 ex=STATE_TTL)

    # requests
    def create_request(self, request_id: str, user: str, phone: ThaiMobile, provider: str, pipe) -> None:
        key = self.keys.request(request_id)
        pipe.hset(key, mapping={"user": user, "phone": phone.local, "provider": provider,
                                "status": "queued", "created_at": str(time.time())})
        pipe.expire(key, REQUEST_TTL)

    def request(self, request_id: str) -> SendRequest | None:
        data = {k.decode(): v.decode() for k, v in self.redis.hgetall(self.keys.request(request_id)).items()}
        if not data.get("user"):
            return None
        return SendRequest(request_id, data["user"], data["phone"], data["provider"], data.get("reference"),
                           data.get("message_id"), data.get("status", "queued"), data.get("delivery"),
                           data.get("verified_at"), _number(data.get("created_at")), _number(data.get("sent_at")),
                           bool(data.get("told")), data.get("failure"))

    def claim_send(self, request_id: str) -> bool:
        """True for the one attempt allowed to call the provider (the claim holds its time)."""
        return bool(self.redis.hsetnx(self.keys.request(request_id), "claimed", f"{time.time():.3f}"))

    def claimed_at(self, request_id: str) -> float:
        return _number((self.redis.hget(self.keys.request(request_id), "claimed") or b"").decode()) or 0.0

    def release_send(self, request_id: str) -> None:
        """The provider answered that it sent nothing: a later attempt may try again."""
        self.redis.hdel(self.keys.request(request_id), "claimed")

    def record_sent(self, request: SendRequest, reference: str, message_id: str | None) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.request(request.id), mapping={"reference": reference, "status": "sent",
                                                           "message_id": message_id or "",
                                                           "sent_at": str(time.time())})
        if message_id:
            pipe.set(self.keys.message(request.provider, message_id), request.id, ex=REQUEST_TTL)
        pipe.execute()

    def claim_telling(self, request_id: str, what: str, holder: str, lease: float) -> bool:
        """Whether ``holder`` (a turn or a job) may tell the patient ``what`` (``send``, or
        ``check:<attempt>``) of this request: no one else took it within ``lease`` seconds. The same
        holder may take it again (a retried job, a retried turn), and after the lease anyone may (its
        holder died). The hash field keeps its old name ``teller:<what>`` (requests live 24 h)."""
        return bool(lua.run(self.redis, "verification_claim_telling", keys=[self.keys.request(request_id)],
                            args=[f"teller:{what}", holder, f"{time.time():.3f}", lease]))

    def mark_told(self, request_id: str, pipe=None) -> None:
        """The patient has the outcome of this send: a later job for it (the backstop) stays silent."""
        (pipe or self.redis).hset(self.keys.request(request_id), "told", "1")

    def mark_failed(self, request_id: str, failure: str) -> None:
        """No code went out: ``failure`` (``failed``, ``bad_number``, ``busy``) says what the patient is told."""
        self.redis.hset(self.keys.request(request_id), mapping={"status": "failed", "failure": failure})

    # what a check found: kept until the patient has it, so a retry tells it again instead of asking again
    def save_verdict(self, request_id: str, attempt: int, message: dict, ttl: int) -> None:
        self.redis.set(self.keys.verdict(request_id, attempt), json.dumps(message, ensure_ascii=False), ex=ttl)

    def verdict(self, request_id: str, attempt: int) -> dict | None:
        raw = self.redis.get(self.keys.verdict(request_id, attempt))
        return json.loads(raw) if raw else None

    def mark_verified(self, request_id: str, when: str) -> str:
        """Mark the request verified at ``when``; returns the time of the first mark (retries keep it)."""
        key = self.keys.request(request_id)
        self.redis.hsetnx(key, "verified_at", when)
        return (self.redis.hget(key, "verified_at") or when.encode()).decode()

    # typed codes
    def save_pin(self, request_id: str, attempt: int, code: str, ttl: int, pipe) -> None:
        pipe.set(self.keys.pin(request_id, attempt), code, ex=ttl)

    def pin(self, request_id: str, attempt: int) -> str | None:
        raw = self.redis.get(self.keys.pin(request_id, attempt))
        return raw.decode() if raw else None

    def drop_pin(self, request_id: str, attempt: int, pipe=None) -> None:
        (pipe or self.redis).delete(self.keys.pin(request_id, attempt))

    # send budgets
    def take_send_slot(self, who: Budgeted, now: float, rules: OtpRules) -> Refusal | None:
        """Count one send against the number's, the user's and the service's budgets (all or none);
        or why not and how long to wait. A tripped daily or service budget is logged at WARNING."""
        limiter = RedisRateLimiter(self.redis, prefix=self.keys.sends, provider="verification", clock=lambda: now)
        service = (RateLimit("all:hour", rules.sends_per_hour, USER_WINDOW),
                   RateLimit("all:day", rules.sends_per_day, DAY))
        # A number's budgets are every hospital's (no prefix): one number cannot be sent codes through
        # each hospital of a deployment in turn. OTP_SECRET is deployment-wide, so its digest is the same.
        number = f"{NUMBER_BUDGETS}:number:{who.number}"
        daily = (RateLimit(f"number:{who.number}:day", rules.sends_per_number_per_day, DAY, key=f"{number}:day"),
                 RateLimit(f"user:{who.line_user}:day", rules.sends_per_user_per_day, DAY))
        try:
            limiter.acquire(RateLimit(f"number:{who.number}", rules.sends_per_number, NUMBER_WINDOW, key=number),
                            RateLimit(f"user:{who.line_user}", rules.sends_per_user, USER_WINDOW), *daily, *service)
        except RateLimitError as exc:
            wait = exc.retry_after or 60.0
            if limiter.wait_seconds(*service) > 0:
                used = [self.redis.zcard(f"{self.keys.sends}:{limit.name}") for limit in service]
                self.alert("service", "OTP SMS budget of the whole service used up: %d of %d this hour, %d of %d "
                           "in 24 h (OTP_SENDS_PER_HOUR / OTP_SENDS_PER_DAY); codes are refused for %.0f s",
                           used[0], rules.sends_per_hour, used[1], rules.sends_per_day, wait)
                return Refusal("service", wait)
            if limiter.wait_seconds(*daily) > 0:
                self.alert(f"daily:{who.number}", "OTP SMS daily cap reached for a number or LINE user %s "
                           "(%d per number, %d per user in 24 h): a pumping or harassment attempt?",
                           mask(who.user), rules.sends_per_number_per_day, rules.sends_per_user_per_day)
            return Refusal("patient", wait)
        return None

    # wrong codes, across codes
    def _wrong_limits(self, who: Budgeted, rules: OtpRules) -> tuple[RateLimit, RateLimit]:
        return (RateLimit(f"number:{who.number}", rules.wrong_codes_per_day, DAY),
                RateLimit(f"user:{who.line_user}", rules.wrong_codes_per_day, DAY))

    def wrong_code_lock(self, who: Budgeted, now: float, rules: OtpRules) -> Refusal | None:
        """Refused while the number or the user has had ``wrong_codes_per_day`` wrong codes in 24 h."""
        limiter = RedisRateLimiter(self.redis, prefix=self.keys.wrong, provider="verification", clock=lambda: now)
        wait = limiter.wait_seconds(*self._wrong_limits(who, rules))
        return Refusal("wrong_codes", wait) if wait > 0 else None

    def count_wrong_code(self, who: Budgeted, now: float, rules: OtpRules) -> bool:
        """Count a wrong code for the number and the user; True if that locks them now."""
        limiter = RedisRateLimiter(self.redis, prefix=self.keys.wrong, provider="verification", clock=lambda: now)
        try:
            limiter.acquire(*self._wrong_limits(who, rules))
        except RateLimitError:
            pass  # already locked: the count stays at the cap
        locked = self.wrong_code_lock(who, now, rules) is not None
        if locked:
            self.alert(f"wrong:{who.number}", "OTP wrong-code lockout for LINE user %s: %d wrong codes in 24 h "
                       "(OTP_WRONG_CODES_PER_DAY) for the number or the user: a guessing attempt?",
                       mask(who.user), rules.wrong_codes_per_day)
        return locked

    def alert(self, what: str, message: str, *args) -> None:
        """A WARNING for the operator, at most once per ``ALERT_EVERY`` for the same ``what``."""
        if self.redis.set(self.keys.alerted(what), 1, nx=True, ex=ALERT_EVERY):
            log.warning(message, *args)

    # the result
    def save_verified(self, user: str, phone: str, when: str, provider: str, *, keep_days: int) -> None:
        """The verified number, kept ``keep_days`` (VERIFIED_PHONE_RETENTION_DAYS) from this verification."""
        record = {"phone": phone, "verified_at": when, "provider": provider}
        self.redis.set(self.keys.phone(user), json.dumps(record), ex=keep_days * 24 * 3600)


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def verification_record(connection: redis_lib.Redis, user_id: str, *, prefix: str = "") -> dict | None:
    """``{phone, verified_at, provider}`` of the LINE user's verified number at the hospital, or None."""
    raw = connection.get(VerifyKeys(prefix).phone(user_id))
    return json.loads(raw) if raw else None


def verified_phone(connection: redis_lib.Redis, user_id: str, *, prefix: str = "") -> str | None:
    """The LINE user's verified mobile number (``0812345678``), or None. Never log it."""
    record = verification_record(connection, user_id, prefix=prefix)
    return record["phone"] if record else None


def verification_in_progress(connection: redis_lib.Redis, user_id: str, *, prefix: str = "") -> bool:
    """Whether the user is typing a phone number or a code to the bot right now (e.g. not to mirror it)."""
    return VerificationStore(connection, prefix=prefix).current_state(user_id).active


def record_delivery(connection: redis_lib.Redis, provider: str, message_id: str, status: str, *,
                    prefix: str = "") -> bool:
    """Note a delivery report against the code it is about; False if it is not one of ours (the
    hospital's, ``prefix``).

    The first "failed" report of a code that is not yet verified enqueues the job
    that tells the patient. Redis only: this runs inside the webhook request.
    """
    keys = VerifyKeys(prefix)
    raw = connection.get(keys.message(provider, message_id))
    if raw is None:
        return False
    request_id = raw.decode()
    key = keys.request(request_id)
    current = connection.hget(key, "delivery")
    if status != "pending" or current is None:  # a late "pending" never hides a final outcome
        connection.hset(key, "delivery", status)
    if status == "failed" and connection.hsetnx(key, "undelivered_told", "1") \
            and not connection.hexists(key, "verified_at"):
        enqueue(connection, job_names.VERIFICATION_TELL_UNDELIVERED, request_id, queue=DEFAULT_QUEUE,
                job_id=f"otp-undelivered-{request_id}", description="tell a patient an OTP SMS did not arrive",
                prefix=prefix)
    log.info("%s delivery report for OTP request %s: %s", provider, mask(request_id), status)
    return True
