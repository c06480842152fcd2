"""One-time codes the service makes itself (ThaiBulkSMS has no OTP endpoint), and keyed digests.

A code is 6 digits from ``secrets``; only its HMAC (bound to the request it
was made for) is ever stored, and it is checked in constant time. The same key
makes the digests that stand in for phone numbers and LINE user ids in Redis keys: a plain
hash of a Thai mobile number is reversed by trying all 10^9 of them, a keyed one is not.

Pure: no I/O. Codes and numbers never go into logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 6
REFERENCE_LENGTH = 4
#: No 0/O or 1/I: patients compare the reference by eye with the SMS.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_KEY_LABEL = b"hospital-line-bot/otp-key/v1"


class OtpKeyMissing(RuntimeError):
    """OTP_SECRET is not set, so codes and keyed names cannot be made safely."""


def otp_key(settings) -> bytes:
    """``OTP_SECRET``: the key of codes, phone-number digests and appointment names. No fallback:
    a key derived from another secret would change (and forget every budget and name) when that
    secret is rotated. ``bot.settings`` requires it once SMS or MOPH is configured."""
    if settings.otp_secret is not None and settings.otp_secret.get_secret_value():
        return settings.otp_secret.get_secret_value().encode()
    raise OtpKeyMissing("set OTP_SECRET to make OTP codes and keyed names")


def echo_key(settings) -> bytes:
    """The key naming LiveDesk posts in flight (markers of 5 minutes, so a change of key loses
    nothing): ``OTP_SECRET`` when set, else derived from the LINE channel secret (a handoff may run
    without SMS or MOPH)."""
    try:
        return otp_key(settings)
    except OtpKeyMissing:
        if settings.line_channel_secret is None:
            raise OtpKeyMissing("set OTP_SECRET (or LINE_CHANNEL_SECRET) for the handoff") from None
    return hmac.new(settings.line_channel_secret.get_secret_value().encode(), _KEY_LABEL, hashlib.sha256).digest()


def new_code(length: int = CODE_LENGTH) -> str:
    """A code of ``length`` random digits (leading zeros included)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def new_reference(length: int = REFERENCE_LENGTH) -> str:
    """A short reference printed in the SMS and in LINE, so the patient knows which code is meant."""
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(length))


def code_digest(key: bytes, request_id: str, code: str) -> str:
    """What is stored instead of the code; bound to the request, so it is useless for any other."""
    return hmac.new(key, f"code:{request_id}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(key: bytes, request_id: str, code: str, digest: str) -> bool:
    """Whether ``code`` is the one behind ``digest`` (constant time)."""
    return hmac.compare_digest(code_digest(key, request_id, code), digest)


def number_digest(key: bytes, local_number: str) -> str:
    """A stable stand-in for a phone number in Redis keys (keyed, so it cannot be reversed)."""
    return hmac.new(key, f"phone:{local_number}".encode(), hashlib.sha256).hexdigest()[:32]


def user_digest(key: bytes, line_user_id: str) -> str:
    """A stable stand-in for a LINE user id in the names of budget keys, which outlive an erasure of
    the user (keyed: without the key the name says nobody's)."""
    return hmac.new(key, f"line-user:{line_user_id}".encode(), hashlib.sha256).hexdigest()[:32]
