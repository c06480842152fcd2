"""What the verification jobs run: send a code at most once, check a typed code, tell the patient.

At most one SMS per request: a request id is made per code; the send job claims it
(``HSETNX claimed``) before calling the provider and records the reference after,
so a retried job never sends again: it re-pushes the same LINE message (same
retry key) or, if the earlier attempt got no answer, tells the patient it is unsure.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from bot.otp import number_digest, otp_key
from bot.phone import normalize_thai_mobile
from bot.privacy import mask
from bot.thai_dates import BANGKOK
from bot.verification import OtpRules, VerificationDialog
from integrations.errors import NotFoundError, ProviderError, outcome_unknown
from integrations.line import retry_key_for
from integrations.metrics import OTP
from integrations.thaibulksms import InvalidMsisdnError
from workers.queues import enqueue
from workers.verification import jobs
from workers.verification.senders import CodeExpired, LocalCodes, SepsmsCodes
from workers.verification.store import SendRequest, VerificationStore, verification_record

log = logging.getLogger(__name__)

VERIFIED_TAG = "verified"
VERIFIED_AT_ATTRIBUTE = "phone_verified_at"
# -- what the jobs run ----------------------------------------------------------------------

class VerificationService:
    def __init__(self, services, *, staff_notes=None):
        """``staff_notes(user, item_id, text)`` puts a private note in front of staff (None: no desk)."""
        self.services = services
        self.staff_notes = staff_notes
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
        OTP.labels("sent").inc()
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
        OTP.labels("send_failed").inc()
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
        OTP.labels("wrong_code").inc()
        if attempt >= self.rules.max_attempts:
            codes.discard(request.id)
            OTP.labels("locked").inc()
        log.info("wrong OTP for request %s (attempt %d)", mask(request.id), attempt)
        digest = number_digest(self.key, request.phone)
        if self.store.count_wrong_code(request.user, digest, time.time(), self.rules):
            codes.discard(request.id)  # across codes: this one is done too
            lock = self.store.wrong_code_lock(request.user, digest, time.time(), self.rules)
            step = self.dialog.wrong_codes_locked(self.store.state(request.user), lock.wait if lock else 3600)
            self.push(request.user, step.messages[0], "otp-check", request.id, str(attempt))
            return
        self.push(request.user, self.dialog.wrong_code(attempt), "otp-check", request.id, str(attempt))

    def _verified(self, request: SendRequest) -> None:
        """Record the number and tell everyone. Each step is idempotent, so a retried job redoes them all."""
        first = not request.verified_at
        when = self.store.mark_verified(request.id, datetime.now(BANGKOK).replace(microsecond=0).isoformat())
        if first:
            OTP.labels("verified").inc()
        self.store.save_verified(request.user, request.phone, when, request.provider,
                                 keep_days=self.settings.verified_phone_retention_days)
        log.info("phone %s verified for %s", mask(request.phone), mask(request.user))
        if self.settings.configured("oho"):
            enqueue(self.redis, jobs.update_contact, request.user, job_id=f"otp-oho-{request.id}",
                    description="update the Oho contact of a verified patient")
        self._note_for_staff(request, when)
        self.push(request.user, self.dialog.verified(request.last4), "otp-verified", request.id)

    def _note_for_staff(self, request: SendRequest, when: str) -> None:
        """A private note in the patient's LiveDesk conversation, queued in order with the mirrored chat."""
        if self.staff_notes is None:
            return
        text = f"✅ ผู้ป่วยยืนยันเบอร์มือถือที่ลงท้ายด้วย {request.last4} ทาง SMS OTP แล้ว ({when})"
        self.staff_notes(request.user, f"verified:{request.id}", text)

    def tell_undelivered(self, request_id: str) -> None:
        request = self.store.request(request_id)
        if request is None or request.verified_at:
            return
        self.push(request.user, self.dialog.undelivered(request.last4), "otp-undelivered", request_id)

    def update_contact(self, user: str) -> None:
        """Oho: the phone, the ``verified`` tag (merged) and the verification time (merged)."""
        record = verification_record(self.redis, user)
        if record is None or not self.settings.configured("oho"):
            return
        oho, contacts = self.services.oho, self.services.oho_contacts
        platform_id = contacts.platform_id()
        try:
            oho.update_contact(platform_id, user, phone=record["phone"])
        except NotFoundError:  # no contact yet (handoff creates them; verification may come first)
            contacts.ensure(user, missing=True)
            oho.update_contact(platform_id, user, phone=record["phone"])
        oho.add_tags(platform_id, user, [VERIFIED_TAG])
        oho.set_attributes(platform_id, user, {VERIFIED_AT_ATTRIBUTE: record["verified_at"]})


def _maybe_sent(exc: ProviderError) -> bool:
    """Whether the SMS may have gone out despite the error (``outcome_unknown``): then no resend."""
    if exc.code == "local_rate_limit":
        return False  # stopped by our own budget, before any call
    return outcome_unknown(exc)

