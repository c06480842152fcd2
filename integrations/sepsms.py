"""SEPSMS REST API v2: SMS, OTP send/verify, delivery status, credit.

SEPSMS makes and checks the OTP itself: ``send_otp`` returns only a
``reference``; ``verify_otp(reference, pin)`` asks SEPSMS whether the pin is right.
Its rate limits (SMS 120/min, OTP 5/min per IP, 2,400/min overall) are kept by
``RedisRateLimiter`` before each call, across every worker, so a busy minute
ends in a ``RateLimitError`` with ``retry_after`` for the job queue, not in 429s.
SEPSMS's own word wins over our count: a 429's ``Retry-After`` and a
``RateLimit-Remaining: 0`` pause the budget for every worker ("Rate limits"
section). ``next_slot_in("otp")`` says when a send may go, without taking it.

``origin`` (the approved sender name) carries no ``?`` in the request tables of
``/message/send`` and ``/otp/send`` (SEPSMS REST API v2, "Endpoints หลัก"), unlike
the optional fields: without it the client raises ``ConfigurationError`` and sends
nothing.

The API has no idempotency key (none is documented), so a send that is retried
after a lost answer can send twice; callers dedupe at the job level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from bot.phone import ThaiMobile
from bot.privacy import mask_numbers
from integrations.credit import CreditLedger
from integrations.errors import (  # noqa: F401  (InsufficientCreditError is part of this client's API)
    AuthenticationError,
    ConfigurationError,
    InsufficientCreditError,
    InvalidRequestError,
    ProviderError,
    RateLimitError,
)
from integrations.http import ErrorEnvelope, HttpClient, retry_after_seconds
from integrations.ratelimit import RateLimit, RedisRateLimiter  # noqa: F401


class OtpInvalidError(InvalidRequestError):
    """The pin is wrong. ``verify_otp`` turns this into ``verified=False``."""


class OtpExpiredError(InvalidRequestError):
    """The reference can no longer be verified (expired, used up or unknown): send a new code."""


class OtpRejectedError(InvalidRequestError):
    """``/otp/verify`` refused with a code we do not know: show "wrong or expired code".

    SEPSMS documents only the success body of ``/otp/verify`` (SEPSMS REST API v2,
    "ตรวจสอบ OTP"), so a wrong, expired or used-up pin may come back as any 4xx
    with any ``error.code``. Not retryable: asking again gives the same answer.
    """


#: SEPSMS REST API v2, "Rate limits". OTP is per IP; all our workers share one, so one key.
#: A hospital of a registry takes at most 1/SHARE_DIVISOR of each shared pace while another calls too
#: (``_shares``); the hospitals (prefixes) that called SEPSMS lately, by when.
SHARE_DIVISOR = 2
CALLERS_KEY = "ratelimit:sepsms:callers"
SEPSMS_LIMITS = {
    "all": RateLimit("sepsms:all", 2400, 60),
    "sms": RateLimit("sepsms:sms", 120, 60),
    "otp": RateLimit("sepsms:otp", 5, 60),
}


@dataclass(frozen=True)
class OtpSent:
    uuid: str
    reference: str
    expires_at: datetime | None
    ttl_seconds: int | None


@dataclass(frozen=True)
class OtpVerification:
    reference: str
    verified: bool


@dataclass(frozen=True)
class SmsSent:
    uuid: str
    ref_no: str | None
    total_msisdn: int
    total_credit: int
    blocked_count: int
    status: str


@dataclass(frozen=True)
class MessageStatus:
    uuid: str
    status: str
    total_msisdn: int
    dr_summary: dict[str, int]  # drStatus → count, e.g. {"success": 2}
    refunded_count: int


class SepsmsClient(HttpClient):
    provider = "sepsms"

    def __init__(self, api_key: str, *, base_url: str = "https://sepsms.com/api/v2", origin: str | None = None,
                 redis=None, limits: Mapping[str, RateLimit] = SEPSMS_LIMITS, low_credit_threshold: int = 0,
                 prefix: str = "", **http):
        """``prefix``: the hospital's, for its credit in Redis. The pace (``ratelimit:sepsms:*``) is
        shared by every hospital: SEPSMS counts it per calling IP address. A hospital of a registry
        (``prefix`` set) also keeps to its share of it (``_shares``), so that one hospital's burst of
        codes never takes the whole pace from the others."""
        super().__init__(base_url, **http)
        self._api_key = api_key
        self.origin = origin or None  # empty = unset
        self.limits = dict(limits)
        self.limiter = RedisRateLimiter(redis, provider=self.provider)
        self.prefix = prefix
        self.credit_ledger = CreditLedger(redis, threshold=low_credit_threshold, prefix=prefix)

    @classmethod
    def from_settings(cls, settings, *, redis=None, prefix: str = "", **http) -> "SepsmsClient":
        """Build from ``Settings``. SEPSMS_ORIGIN may be unset here (``credit_balance`` needs none);
        sends refuse without it, and ``settings.missing_for("sms")`` names it."""
        settings.require("sepsms")
        return cls(settings.sepsms_api_key.get_secret_value(), base_url=settings.sepsms_base_url,
                   origin=settings.sepsms_origin, redis=redis,
                   low_credit_threshold=settings.sms_low_credit_threshold, prefix=prefix, **http)

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    def error_envelope(self, body, response) -> ErrorEnvelope:
        """``{success:false, error:{code, message}}`` → the leaf that ``error.code`` means."""
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "") or None
        return ErrorEnvelope(message=str(error.get("message") or "") or None, code=code, cls=_leaf_for_code(code))

    # -- endpoints -----------------------------------------------------------
    def send_otp(self, msisdn: str | ThaiMobile, *, template: str | None = None, ttl_seconds: int | None = None,
                 code_length: int = 6, origin: str | None = None) -> OtpSent:
        """SEPSMS makes a code and texts it; the answer holds the ``reference``, never the code."""
        if template is not None and "{code}" not in template:
            raise ValueError("template must contain {code} (and may contain {ref})")
        if ttl_seconds is not None and not 60 <= ttl_seconds <= 600:
            raise ValueError("SEPSMS accepts ttl_seconds 60-600")
        if not 4 <= code_length <= 8:
            raise ValueError("SEPSMS accepts code_length 4-8")
        body = _without_none({"destination": self._number(msisdn), "origin": self._origin(origin),
                              "template": template, "ttlSeconds": ttl_seconds, "codeLength": code_length})
        result = self._call("POST", "/otp/send", ("all", "otp"), json=body)
        expires = result.get("expiresAt")
        return OtpSent(uuid=str(result.get("uuid", "")), reference=str(result["reference"]),
                       expires_at=datetime.fromisoformat(expires) if expires else None,
                       ttl_seconds=result.get("ttlSeconds"))

    def verify_otp(self, reference: str, pin: str) -> OtpVerification:
        """``verified=False`` for a wrong pin; ``OtpExpiredError`` when the reference is dead;
        ``OtpRejectedError`` for any other refusal of the pin (an undocumented error code)."""
        try:
            result = self._call("POST", "/otp/verify", ("all",), json={"reference": reference, "pin": pin})
        except OtpInvalidError:
            return OtpVerification(reference, False)
        except (OtpExpiredError, OtpRejectedError):
            raise
        except (AuthenticationError, InsufficientCreditError, RateLimitError, ConfigurationError):
            raise  # about our key or our pace, not about the pin
        except InvalidRequestError as exc:
            cls = OtpExpiredError if exc.status in (404, 410) else OtpRejectedError  # 404/410: reference gone
            raise cls(exc.message, provider=self.provider, status=exc.status, code=exc.code) from None
        except ProviderError as exc:
            if exc.retryable or exc.status is not None or exc.code is None:
                raise  # no answer, 5xx, an unreadable answer: not a verdict on the pin
            # A 2xx saying success: false with a code we do not know: the pin was refused.
            raise OtpRejectedError(exc.message, provider=self.provider, code=exc.code) from None
        return OtpVerification(str(result.get("reference", reference)), result.get("verified") is True)

    def send_sms(self, recipients: Sequence[str | ThaiMobile], message: str, *, origin: str | None = None,
                 scheduled_time: datetime | None = None, variables: Mapping[str, Any] | None = None) -> SmsSent:
        """Send one text to one or more numbers, now or at ``scheduled_time`` (timezone-aware)."""
        if not recipients:
            raise ValueError("no recipients")
        if scheduled_time is not None and scheduled_time.tzinfo is None:
            raise ValueError("scheduled_time must be timezone-aware")
        body = _without_none({"origin": self._origin(origin), "recipients": [self._number(r) for r in recipients],
                              "message": message, "variables": dict(variables) if variables else None})
        body["scheduledTime"] = scheduled_time.isoformat() if scheduled_time else None
        r = self._call("POST", "/message/send", ("all", "sms"), json=body)
        return SmsSent(uuid=str(r["uuid"]), ref_no=r.get("refNo"), total_msisdn=int(r.get("totalMsisdn", 0)),
                       total_credit=int(r.get("totalCredit", 0)), blocked_count=int(r.get("blockedCount", 0)),
                       status=str(r.get("status", "")))

    def get_message(self, uuid: str) -> MessageStatus:
        """Delivery summary of a sent message."""
        r = self._call("GET", f"/message/{quote(uuid, safe='')}", ("all",))
        summary = {str(s.get("drStatus")): int(s.get("count", 0)) for s in r.get("drSummary") or []}
        return MessageStatus(uuid=str(r.get("uuid", uuid)), status=str(r.get("status", "")),
                             total_msisdn=int(r.get("totalMsisdn", 0)), dr_summary=summary,
                             refunded_count=int(r.get("refundedCount", 0)))

    def get_message_recipients(self, uuid: str) -> Any:
        """Per-number status, as SEPSMS returns it (the seed does not show the shape). Holds phone numbers."""
        return self._call("GET", f"/message/{quote(uuid, safe='')}/recipients", ("all",))

    def credit_balance(self) -> int:
        """Credits left on the account (``{"result": {"balance": 18420}}``); recorded for ``/readyz``."""
        result = self._call("GET", "/message/credit/balance", ("all",))
        try:
            balance = int(result["balance"])
        except (KeyError, TypeError, ValueError):
            raise self.error(None, "credit answer has no balance") from None
        self.credit_ledger.record(self.provider, balance)
        return balance

    def next_slot_in(self, kind: str = "otp") -> float:
        """Seconds until a ``kind`` call (``otp``, ``sms``, ``all``) may go (0.0: now), across every
        worker, counting pauses SEPSMS asked for. Takes no slot: queue the send that far ahead."""
        limits = self._budgets(("all", kind))
        return self.limiter.wait_seconds(*limits, *self._shares(limits))

    # -- helpers ---------------------------------------------------------------
    def _origin(self, origin: str | None) -> str:
        origin = origin or self.origin
        if not origin:
            raise ConfigurationError("SEPSMS_ORIGIN (the approved sender name) is not set; nothing sent",
                                     provider=self.provider, code="configuration")
        return origin

    def _budgets(self, names: tuple[str, ...]) -> list[RateLimit]:
        return [self.limits[b] for b in dict.fromkeys(names) if b in self.limits]

    def _shares(self, limits: list[RateLimit]) -> list[RateLimit]:
        """This hospital's share of each shared budget while another hospital of the deployment called
        SEPSMS within a minute (none for a deployment of one, or a hospital calling alone): half, rounded
        up (the OTP pace of 5 a minute: 3), counted under the hospital's prefix."""
        if not self.prefix or self.limiter.redis is None:
            return []
        recent = self.limiter.redis.zrangebyscore(CALLERS_KEY, time.time() - 60, "+inf")
        if not any(caller.decode() != self.prefix for caller in recent):
            return []
        return [RateLimit(f"{limit.name} (this hospital's share)", -(-limit.limit // SHARE_DIVISOR), limit.per_seconds,
                          key=f"{self.prefix}ratelimit:{limit.name}") for limit in limits]

    def _called(self) -> None:
        if self.prefix and self.limiter.redis is not None:
            with self.limiter.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(CALLERS_KEY, {self.prefix: time.time()}).expire(CALLERS_KEY, 120).execute()

    def _call(self, method: str, path: str, budgets: tuple[str, ...], **kwargs) -> Any:
        limits = self._budgets(budgets)
        self.limiter.acquire(*limits, *self._shares(limits))
        self._called()
        try:
            response = self.request(method, path, **kwargs)
        except RateLimitError as exc:
            # 429: refused, so nothing was sent. Without Retry-After, wait out the window.
            if limits:
                self.limiter.pause(limits[-1], exc.retry_after or limits[-1].per_seconds)
            raise
        self._honour_limit_headers(response.headers, limits)
        try:
            body = response.json() if response.content else None
        except ValueError:
            raise self.error(response.status_code, "answer is not JSON") from None
        if isinstance(body, dict) and body.get("success") is False:  # an error envelope with a 2xx
            error = body.get("error") or {}
            code = str(error.get("code") or "") or "unknown"
            message = mask_numbers(str(error.get("message") or "success: false"))[:300]
            raise self.error(None, message, code=code, cls=_leaf_for_code(code) or ProviderError)
        if not isinstance(body, dict) or "result" not in body:
            raise self.error(None, "answer has no result")
        return body["result"]

    def _number(self, number: str | ThaiMobile) -> str:
        return number.for_provider(self.provider) if isinstance(number, ThaiMobile) else str(number)

    def _honour_limit_headers(self, headers: Mapping[str, str], limits: list[RateLimit]) -> None:
        """``RateLimit-Remaining: 0`` on an accepted call: the next one would be refused, so pause the
        call's narrowest budget until ``Retry-After`` (or for its whole window when SEPSMS names no time)."""
        remaining = headers.get("RateLimit-Remaining")
        if not limits or remaining is None:
            return
        try:
            left = int(remaining.split(",")[0].split(";")[0].strip())
        except ValueError:
            return
        if left <= 0:
            self.limiter.pause(limits[-1], retry_after_seconds(headers) or limits[-1].per_seconds)


def _leaf_for_code(code: str | None) -> type[ProviderError] | None:
    """The error class an ``error.code`` means; None = decide by HTTP status.

    The seed documents only ``auth.invalid_credentials``; SEPSMS publishes no code
    list, so the rest is matched by the words its dotted codes are made of.
    """
    if not code:
        return None
    if code.startswith("auth."):
        return AuthenticationError
    if "insufficient" in code or "credit" in code:
        return InsufficientCreditError
    if code.startswith("otp."):
        if any(w in code for w in ("expired", "not_found", "reference", "attempts", "used")):
            return OtpExpiredError
        if any(w in code for w in ("invalid", "incorrect", "mismatch", "wrong")):
            return OtpInvalidError
    if "rate_limit" in code or "too_many" in code:
        return RateLimitError
    return None


def _without_none(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


