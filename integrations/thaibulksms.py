"""ThaiBulkSMS API v2: send SMS and read the credit.

ThaiBulkSMS has no OTP in this API: with it the service makes and checks codes
itself and only uses ``send_sms``. A 2xx is not "all sent": numbers it refused
come back in ``bad_phone_number_list``, so ``SendResult.bad`` must be read.

``force`` picks the credit type (``standard`` | ``corporate``). Delivery reports
reach the webhook only on corporate ("วิธีสร้าง API Key": the Webhook URL
"ใช้งานได้เฉพาะแพคเกจ corporate"), so ``/readyz`` says so when THAIBULKSMS_FORCE
is not corporate. Every send's ``remaining_credit`` is recorded (``CreditLedger``).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Sequence

from bot.phone import ThaiMobile
from bot.privacy import mask, mask_numbers
from bot.thai_dates import BANGKOK
from integrations.credit import CreditLedger
from integrations.errors import (  # noqa: F401  (InsufficientCreditError is part of this client's API)
    AuthenticationError,
    InsufficientCreditError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    ServerError,
)
from integrations.http import ErrorEnvelope, HttpClient

#: "เพิ่มเบอร์ได้สูงสุดครั้งละ 500 เบอร์" — more numbers go out in several calls.
MAX_NUMBERS_PER_CALL = 500
#: ``expire`` bounds. ThaiBulkSMS API v2, "รายการ Request" says 5 minutes to 6 hours; its
#: error 138 (ERROR_TTL) says "more than 5 minutes and not more than 11 hours". Read both
#: strictly: at least 00:06 (00:05 is not "more than 5 minutes"), at most 06:00.
MIN_EXPIRE_MINUTES, MAX_EXPIRE_MINUTES = 6, 6 * 60
FORCE_VALUES = ("standard", "corporate")


class InvalidMsisdnError(InvalidRequestError):
    """Code 114/115: a number is malformed, or too many numbers in one call."""


class InvalidSenderError(InvalidRequestError):
    """Code 110/111: the sender name is wrong or not approved (a configuration problem)."""


#: Error code → class, from the seed's "Status Code & Error Code" table. Codes not
#: listed follow their HTTP status (5xx → ServerError, 400 → InvalidRequestError, …).
_SERVER_FAILURES = (1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 50, 51, 52, 53, 54, 55, 125, 131, 132, 133, 135)
ERROR_CLASSES: dict[int, type[ProviderError]] = {
    **{code: ServerError for code in _SERVER_FAILURES},  # HTTP 500: system, DB, queue, cache, connection
    3: NotFoundError,
    100: AuthenticationError,   # 401 authentication failed
    101: AuthenticationError,   # 403 API key suspended
    102: AuthenticationError,   # 403 IP suspended
    104: AuthenticationError,   # 403 IP not allowed
    106: AuthenticationError,   # 403 user blocked
    128: AuthenticationError,   # 403 API key disabled
    # 404 in the table, but they mean "the key's account is missing": retrying or
    # fixing the request cannot help, only new credentials can.
    105: AuthenticationError, 107: AuthenticationError, 134: AuthenticationError,
    # 500 in the table, yet an IP-whitelist failure will not pass on a retry.
    103: AuthenticationError,
    # 403 trial account: may text only its registered number. Not a credential problem.
    108: InvalidRequestError,
    110: InvalidSenderError, 111: InvalidSenderError,
    114: InvalidMsisdnError, 115: InvalidMsisdnError,
    116: InsufficientCreditError,  # HTTP 423
}


@dataclass(frozen=True)
class SentNumber:
    number: str = field(repr=False)
    message_id: str  # ThaiBulkSMS's "Transaction" in delivery reports
    used_credit: int

    def __repr__(self) -> str:
        return f"SentNumber({mask(self.number)}, message_id={self.message_id!r}, used_credit={self.used_credit})"


@dataclass(frozen=True)
class BadNumber:
    number: str = field(repr=False)
    message: str

    def __repr__(self) -> str:
        return f"BadNumber({mask(self.number)}, message={mask_numbers(self.message)!r})"


@dataclass
class SendResult:
    sent: list[SentNumber] = field(default_factory=list)
    bad: list[BadNumber] = field(default_factory=list)
    total_use_credit: int = 0
    remaining_credit: int | None = None
    credit_type: str | None = None

    @property
    def all_sent(self) -> bool:
        return not self.bad


class ThaiBulkSmsClient(HttpClient):
    provider = "thaibulksms"

    def __init__(self, api_key: str, api_secret: str, *, base_url: str = "https://api-v2.thaibulksms.com",
                 sender: str | None = None, force: str | None = None, redis=None,
                 low_credit_threshold: int = 0, prefix: str = "", **http):
        """``prefix``: the hospital's, for its credit in Redis."""
        super().__init__(base_url, **http)
        if force not in (None, *FORCE_VALUES):
            raise ValueError("force must be 'standard' or 'corporate'")
        self._basic = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        self.sender = sender
        self.force = force
        self.credit_ledger = CreditLedger(redis, threshold=low_credit_threshold, prefix=prefix)

    @classmethod
    def from_settings(cls, settings, *, redis=None, prefix: str = "", **http) -> "ThaiBulkSmsClient":
        settings.require("thaibulksms")
        return cls(settings.thaibulksms_api_key.get_secret_value(),
                   settings.thaibulksms_api_secret.get_secret_value(),
                   base_url=settings.thaibulksms_base_url, sender=settings.thaibulksms_sender,
                   force=settings.thaibulksms_force, redis=redis,
                   low_credit_threshold=settings.sms_low_credit_threshold, prefix=prefix, **http)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._basic}

    def error_envelope(self, body, response) -> ErrorEnvelope:
        """``{"error": {code, name, description}}`` → the class the error-code table gives the code."""
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        try:
            code = int(error.get("code"))
        except (TypeError, ValueError):
            code = None
        return ErrorEnvelope(message=str(error.get("description") or error.get("name") or "") or None,
                             code=None if code is None else str(code), cls=ERROR_CLASSES.get(code))

    def send_sms(self, msisdns: Sequence[str | ThaiMobile], message: str, *, sender: str | None = None,
                 scheduled_delivery: datetime | None = None, force: str | None = None,
                 shorten_url: bool | None = None, tracking_url: str | None = None,
                 expire: timedelta | str | None = None) -> SendResult:
        """Send ``message`` to every number, 500 per call; refused numbers are in ``.bad``.

        If a later call fails, the error carries ``sent_before_failure`` (the
        ``SendResult`` of the calls that went through) so a retry can skip them.
        """
        numbers = list(dict.fromkeys(self._number(n) for n in msisdns))  # a duplicate would be charged twice
        if not numbers:
            raise ValueError("no numbers")
        force = force or self.force
        if force not in (None, *FORCE_VALUES):
            raise ValueError("force must be 'standard' or 'corporate'")
        form = {"message": message, "sender": sender or self.sender, "force": force,
                "scheduled_delivery": _bangkok_iso(scheduled_delivery) if scheduled_delivery else None,
                # The notes say shorten_url; the seed's table spells it Shorten_url. Notes win.
                "shorten_url": None if shorten_url is None else str(shorten_url).lower(),
                "tracking_url": tracking_url, "expire": _hh_mm(expire) if expire is not None else None}
        form = {k: v for k, v in form.items() if v is not None}
        result = SendResult()
        for start in range(0, len(numbers), MAX_NUMBERS_PER_CALL):
            chunk = numbers[start:start + MAX_NUMBERS_PER_CALL]
            try:
                body = self.json("POST", "/sms", data={"msisdn": ",".join(chunk), **form})
            except ProviderError as exc:
                if result.sent or result.bad:
                    exc.sent_before_failure = result
                raise
            _add_answer(result, body or {})
        if result.remaining_credit is not None:
            self.credit_ledger.record(self.provider, result.remaining_credit)
        return result

    def credit(self) -> int:
        """Remaining credit (of ``force``'s credit type when the answer is split by type); recorded.

        ThaiBulkSMS API v2, "การเช็คเครดิตคงเหลือ" วิธีที่ 2: ``GET /credit`` with the same Basic
        auth. Its answer is not shown; the page next to it shows the send answer, so
        ``remaining_credit`` is read, as a number or split by credit type.
        """
        body = self.json("GET", "/credit")
        remaining = body.get("remaining_credit") if isinstance(body, dict) else None
        try:
            if isinstance(remaining, dict):
                balance = int(remaining[self.force] if self.force in remaining else sum(remaining.values()))
            else:
                balance = int(remaining)
        except (TypeError, ValueError):
            raise self.error(None, "credit answer has no remaining_credit") from None
        self.credit_ledger.record(self.provider, balance)
        return balance

    def _number(self, number: str | ThaiMobile) -> str:
        return number.for_provider(self.provider) if isinstance(number, ThaiMobile) else str(number).strip()


def _add_answer(result: SendResult, body: dict) -> None:
    for item in body.get("phone_number_list") or []:
        result.sent.append(SentNumber(str(item.get("number", "")), str(item.get("message_id", "")),
                                      int(item.get("used_credit") or 0)))
    for item in body.get("bad_phone_number_list") or []:
        result.bad.append(BadNumber(str(item.get("number", "")), str(item.get("message", ""))))
    result.total_use_credit += int(body.get("total_use_credit") or 0)
    if body.get("remaining_credit") is not None:
        result.remaining_credit = int(body["remaining_credit"])
    result.credit_type = body.get("credit_type") or result.credit_type


def _bangkok_iso(when: datetime) -> str:
    """``2020-12-17T17:12:00+07:00``: the only form and offset the API accepts (codes 120, 122)."""
    if when.tzinfo is None:
        raise ValueError("scheduled_delivery must be timezone-aware")
    return when.astimezone(BANGKOK).replace(microsecond=0).isoformat()


def _hh_mm(expire: timedelta | str) -> str:
    """``expire`` as ``HH:mm`` (ThaiBulkSMS API v2, error 137), whole minutes rounded up and kept
    within 00:06-06:00 (error 138: "more than 5 minutes"; the request table: at most 6 hours),
    whatever the caller's OTP lifetime: a code's own TTL still decides whether it is accepted."""
    if isinstance(expire, timedelta):
        minutes = math.ceil(expire.total_seconds() / 60)
    else:
        hours, sep, mins = expire.partition(":")
        if not (sep and hours.isdigit() and mins.isdigit() and len(mins) == 2 and int(mins) < 60):
            raise ValueError("expire must be HH:mm, e.g. 00:10")
        minutes = int(hours) * 60 + int(mins)
    minutes = min(max(minutes, MIN_EXPIRE_MINUTES), MAX_EXPIRE_MINUTES)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
