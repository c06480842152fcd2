"""The two ways a code reaches a phone: SEPSMS makes and checks it, or we make it (ThaiBulkSMS)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

import redis as redis_lib

from bot.otp import code_digest, code_matches, new_code, new_reference
from bot.phone import ThaiMobile
from bot.verification import OtpRules
from integrations.sepsms import OtpExpiredError, OtpRejectedError
from integrations.thaibulksms import InvalidMsisdnError
from workers.verification.store import SendRequest, VerifyKeys

log = logging.getLogger(__name__)

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

    def __init__(self, client, rules: OtpRules, hospital_name: str):
        self.client = client
        self.rules = rules
        self.hospital_name = hospital_name

    def send(self, request_id: str, phone: ThaiMobile) -> SentCode:
        template = sms_text("{code}", "{ref}", self.rules, self.hospital_name)
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

    def __init__(self, client, connection: redis_lib.Redis, key: bytes, rules: OtpRules, hospital_name: str, *,
                 prefix: str = ""):
        self.client = client
        self.redis = connection
        self.keys = VerifyKeys(prefix)
        self.key = key
        self.rules = rules
        self.hospital_name = hospital_name

    def send(self, request_id: str, phone: ThaiMobile) -> SentCode:
        code, reference = new_code(self.rules.code_length), new_reference()
        self.redis.set(self.keys.code(request_id), code_digest(self.key, request_id, code),
                       ex=self.rules.ttl_seconds)
        # ThaiBulkSMS stops retrying delivery after ``expire``: no use after the code died (the client
        # keeps it within what ThaiBulkSMS accepts, 00:06 at least).
        expire = timedelta(seconds=self.rules.ttl_seconds)
        result = self.client.send_sms([phone], sms_text(code, reference, self.rules, self.hospital_name),
                                      expire=expire)
        if result.bad or not result.sent:
            raise InvalidMsisdnError("ThaiBulkSMS refused the number", provider=self.provider,
                                     code="bad_phone_number")
        return SentCode(reference, result.sent[0].message_id or None)

    def check(self, request: SendRequest, code: str) -> bool:
        key = self.keys.code(request.id)
        digest = self.redis.get(key)
        if digest is None:
            raise CodeExpired()
        if not code_matches(self.key, request.id, code, digest.decode()):
            return False
        if not self.redis.delete(key):  # single use: a concurrent check took it first
            raise CodeExpired()
        return True

    def discard(self, request_id: str) -> None:
        self.redis.delete(self.keys.code(request_id))


def sms_text(code: str, reference: str, rules: OtpRules, hospital_name: str) -> str:
    """The SMS: who sends it, then code and reference. Short: a Thai SMS part holds 70 characters,
    so the name is written as Thai SMS write it (รพ. for โรงพยาบาล); the shipped name then fits in one."""
    sender = re.sub(r"^โรงพยาบาล\s*", "รพ.", hospital_name.strip())
    return (f"{sender}: รหัส OTP {code} (Ref: {reference}) ใช้ได้ {max(1, rules.ttl_seconds // 60)} นาที "
            "ห้ามบอกผู้อื่น")

