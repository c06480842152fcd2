"""How callers prove themselves to our endpoints: one timestamped-HMAC check and one token check.

Both take *several* secrets, so that a secret can be rotated without dropping requests:
configure the new value beside the old one, switch the sender, then remove the old value.
Every comparison is constant-time.

- ``verify_timestamped_hmac``: ``HMAC-SHA256(secret, "{timestamp}.{raw body}")`` with a fresh
  timestamp: SEPSMS (``X-Webhook-Signature: t=…,v1=…``) and LiveDesk/Chatwoot
  (``X-Chatwoot-Signature: sha256=…`` with ``X-Chatwoot-Timestamp``).
- ``token_matches``: a secret path token (LiveDesk, ThaiBulkSMS delivery reports) or a
  bearer token (the HIS appointments API).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

DEFAULT_TOLERANCE_SECONDS = 300
#: Unix seconds have 10 digits until the year 2286; more than this is no time at all (and
#: ``int()`` refuses more than 4,300 digits with a ValueError).
MAX_TIMESTAMP_DIGITS = 12


class WebhookSignatureError(Exception):
    """The request's signature is missing, wrong, or too old. ``reason`` is a short code for logs;
    ``bad_timestamp`` (a timestamp that is not unix seconds) is a bad request rather than a refusal."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _values(secrets: Iterable[object | None]) -> list[bytes]:
    """Secret values as bytes: plain strings or pydantic ``SecretStr``; empty ones are ignored."""
    found = []
    for secret in secrets:
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        if value:
            found.append(str(value).encode())
    return found


def token_matches(given: str | None, secrets: Iterable[object | None]) -> bool:
    """Whether ``given`` equals one of the configured ``secrets`` (none configured: never)."""
    if not given:
        return False
    candidate = given.encode()
    # Every value is compared (no early exit), so timing says nothing about which one matched.
    return any([hmac.compare_digest(candidate, value) for value in _values(secrets)])


def check_timestamp(text: str) -> None:
    """Raise ``WebhookSignatureError("bad_timestamp")`` unless ``text`` is unix seconds: ASCII digits
    ("²".isdigit() is True and int("²") fails), at most ``MAX_TIMESTAMP_DIGITS`` of them."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_TIMESTAMP_DIGITS:
        raise WebhookSignatureError("bad_timestamp", "signature timestamp is not unix seconds")


def verify_timestamped_hmac(raw_body: bytes, timestamp: str | int | None, signatures: Iterable[str],
                            secrets: Iterable[object | None], now: float, *,
                            tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise ``WebhookSignatureError`` unless one of ``signatures`` (lower-case hex) is the HMAC of
    ``"{timestamp}.{raw_body}"`` under one of ``secrets`` and ``timestamp`` (unix seconds) is fresh."""
    keys = _values(secrets)
    if not keys:
        raise WebhookSignatureError("no_secret", "no webhook secret configured")
    text = str(timestamp).strip() if timestamp is not None else ""
    if not text:
        raise WebhookSignatureError("malformed", "signature timestamp missing")
    check_timestamp(text)
    signed = text.encode() + b"." + raw_body
    expected = [hmac.new(key, signed, hashlib.sha256).hexdigest().encode() for key in keys]
    given = [s.strip().lower().encode() for s in signatures if s and s.strip().isascii()]
    if not any([hmac.compare_digest(e, g) for e in expected for g in given]):
        raise WebhookSignatureError("mismatch", "signature does not match")
    # Judged after the HMAC, so that only a genuine (signed) timestamp is weighed.
    moment = int(text)
    if moment < now - tolerance:
        raise WebhookSignatureError("too_old", "signature timestamp is too old")
    if moment > now + tolerance:
        raise WebhookSignatureError("in_future", "signature timestamp is in the future")
