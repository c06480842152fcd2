"""Delivery reports from the SMS providers: verify and read them, nothing else.

Pure functions (no Flask, no I/O) so the HTTP edge stays thin and tests need no app.
SEPSMS signs its webhooks (``X-Webhook-Signature: t=<unix>,v1=<hex>``, HMAC-SHA256
of ``"{t}.{raw body}"``, the Stripe scheme); ThaiBulkSMS does not, so its callback
URL must carry a secret token that the edge checks before calling the parser here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping, Sequence

from bot.privacy import mask
from bot.thai_dates import BANGKOK
from integrations.webhook_auth import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookSignatureError,
    check_timestamp,
    verify_timestamped_hmac,
)

#: ThaiBulkSMS DR ``Status`` → outcome. The seed shows only ``delivery``; the
#: others are the usual DR words. Anything unknown stays "pending" (not final).
THAIBULKSMS_STATUSES = {
    "delivery": "delivered", "delivered": "delivered", "success": "delivered",
    "failed": "failed", "fail": "failed", "undelivered": "failed", "undeliverable": "failed",
    "expired": "failed", "rejected": "failed", "reject": "failed", "error": "failed",
}
#: SEPSMS ``X-Webhook-Event`` → outcome; other events are not about delivery (outcome None).
SEPSMS_EVENT_OUTCOMES = {"dr.success": "delivered", "dr.failed": "failed", "sms.failed": "failed",
                         "sms.sent": "pending"}
SEPSMS_STATUSES = {"success": "delivered", "delivered": "delivered", "failed": "failed", "fail": "failed",
                   "pending": "pending", "sent": "pending"}




class InvalidDeliveryReport(ValueError):
    """A delivery report without the fields needed to match it to a message."""


@dataclass(frozen=True)
class DeliveryReport:
    transaction: str               # = the message_id ThaiBulkSMS gave when sending
    status: str                    # delivered | failed | pending
    time: datetime | None
    raw_status: str = ""


@dataclass(frozen=True)
class DeliveryEvent:
    event: str | None              # X-Webhook-Event, e.g. dr.success
    sms_uuid: str | None
    msisdn: str | None = field(repr=False)
    tx_id: str | None
    status: str | None             # delivered | failed | pending; None if not a delivery event
    raw_status: str | None = None

    def __repr__(self) -> str:
        return (f"DeliveryEvent(event={self.event!r}, sms_uuid={self.sms_uuid!r}, msisdn={mask(self.msisdn)}, "
                f"tx_id={self.tx_id!r}, status={self.status!r})")


def verify_sepsms_signature(raw_body: bytes, header: str | None, secrets: Sequence[object], now: float,
                            tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise ``WebhookSignatureError`` unless a ``v1`` of ``X-Webhook-Signature: t=…,v1=…`` matches
    one of ``secrets`` and ``t`` is fresh (several of each: rotation)."""
    timestamp, signatures = _parse_signature_header(header)
    verify_timestamped_hmac(raw_body, timestamp, signatures, secrets, now, tolerance=tolerance)


def _parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            check_timestamp(value.strip())  # a t= that is no unix time is a bad request
            timestamp = int(value)
        elif key == "v1" and value.strip() and value.isascii():  # compare_digest refuses non-ASCII text
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise WebhookSignatureError("malformed", "X-Webhook-Signature needs t=<unix> and v1=<hex>")
    return timestamp, signatures


def parse_thaibulksms_dr(params: Mapping[str, str]) -> DeliveryReport:
    """Read ``Transaction=…&Status=…&Time=…`` (query or form) into a ``DeliveryReport``."""
    transaction = _field(params, "Transaction")
    if not transaction:
        raise InvalidDeliveryReport("delivery report has no Transaction")
    raw_status = _field(params, "Status")
    status = THAIBULKSMS_STATUSES.get(raw_status.lower(), "pending")
    return DeliveryReport(transaction, status, _parse_time(_field(params, "Time")), raw_status)


def parse_sepsms_event(payload: Mapping, event: str | None = None) -> DeliveryEvent:
    """Read a SEPSMS webhook body; ``event`` is the ``X-Webhook-Event`` header (not in the body)."""
    if not isinstance(payload, Mapping):
        raise InvalidDeliveryReport("SEPSMS webhook body is not a JSON object")
    event = event or payload.get("event")
    event = None if event is None else str(event)  # a number or a list in the body must not crash the edge
    raw = payload.get("status")
    raw = None if raw is None else str(raw)
    status = SEPSMS_EVENT_OUTCOMES.get(event or "")
    if status is None and raw is not None and (event is None or event.startswith("dr.")):
        status = SEPSMS_STATUSES.get(raw.lower(), "pending")
    return DeliveryEvent(event=event, sms_uuid=_opt(payload.get("smsUuid")), msisdn=_opt(payload.get("msisdn")),
                         tx_id=_opt(payload.get("txId")), status=status, raw_status=raw)


def _field(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        value = params.get(name.lower())
    return "" if value is None else str(value).strip()


def _parse_time(text: str) -> datetime | None:
    """Unix seconds (the seed shows 10 digits) or milliseconds; ISO text as a fallback (Bangkok if naive).

    A time that cannot be read is None, like a missing one: the report still
    names its message, and the time is only informative.
    """
    if not text:
        return None
    try:
        if text.isascii() and text.isdigit():
            seconds = int(text) / 1000 if len(text) >= 13 else int(text)
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):  # junk, or a year past 9999
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BANGKOK)


def _opt(value) -> str | None:
    return None if value is None else str(value)
