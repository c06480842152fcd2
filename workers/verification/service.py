"""What verification does with a code: send it at most once, check a typed code, tell the patient.

Reply first: the worker answering the patient's turn calls the SMS provider itself and answers
with that turn's reply token (free), when the provider answers within the turn's budget
(``TurnBudget``, handed in). A slower provider finishes in a background thread, and its outcome is
pushed. Each turn's work also has a backstop job, should the worker die before the patient is told
(``Backstop``, in ``backstop.py``). SEPSMS's pace (5 OTP sends a minute) is kept by queueing the send
for its next slot and telling the patient the code is on its way.

At most one SMS per request: a request id is made per code; the send claims it (``HSETNX
claimed``) before calling the provider and records the reference after, so a retry never sends
again: it tells the same outcome again (a push with the same retry key) or, if the earlier
attempt got no answer, tells the patient it is unsure.

One attempt tells each outcome: a retried turn, the backstop and a late push can reach the same
outcome at the same moment, and a reply is no push that LINE would drop as a repeat. The one that claims
its telling (``VerificationStore.claim_telling``: a lease of ``TELLING_LEASE`` seconds, taken again
by the same turn or job when it is retried, and by anyone once it lapsed) tells it; the others
stay silent.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Callable

import redis as redis_lib

from bot.otp import otp_key
from bot.phone import normalize_thai_mobile
from bot.privacy import mask
from bot.thai_dates import BANGKOK
from bot.verification import AWAIT_CODE, OtpRules, VerificationDialog
from integrations.errors import ProviderError, RateLimitError
from integrations.line import retry_key_for
from integrations.metrics import OTP
from integrations.thaibulksms import InvalidMsisdnError
from workers import job_names
from workers.queues import enqueue
from workers.verification.backstop import Backstop
from workers.verification.outcome import (
    CALL_SECONDS,
    CHECK_RETRY,
    MAX_PACED_WAIT,
    SEND_RETRY,
    TELLING_LEASE,
    Outcome,
    SendLater,
    maybe_sent,
)
from workers.verification.senders import CodeExpired, LocalCodes, SepsmsCodes
from workers.verification.store import Budgeted, SendRequest, VerificationStore, verification_record
from workers.verification.turn_budget import TurnBudget

if TYPE_CHECKING:
    from bot.settings import Settings
    from integrations.line import LineClient
    from integrations.sepsms import SepsmsClient
    from integrations.thaibulksms import ThaiBulkSmsClient
    from workers.oho_contacts import OhoContacts

log = logging.getLogger(__name__)


class VerificationService:
    def __init__(self, settings: Settings, redis: redis_lib.Redis, *, line: Callable[[], LineClient],
                 sepsms: Callable[[], SepsmsClient], thaibulksms: Callable[[], ThaiBulkSmsClient],
                 oho_contacts: OhoContacts, menu: dict | None, hospital_name: Callable[[], str],
                 turn_budget: TurnBudget, prefix: str, staff_notes=None):
        """``line`` and the SMS providers give their clients, built on first use (the settings' provider
        only); ``hospital_name`` the name the SMS is signed with; ``turn_budget`` how long a turn waits for
        the provider. ``staff_notes(user, item_id, text)`` puts a private note in front of staff (None: no desk).
        ``prefix``: the hospital's (its keys, queue and job ids)."""
        self.line = line
        self.sepsms = sepsms
        self.thaibulksms = thaibulksms
        self.oho_contacts = oho_contacts
        self.staff_notes = staff_notes
        self.hospital_name = hospital_name
        self.settings = settings
        self.redis = redis
        self.prefix = prefix
        self.store = VerificationStore(self.redis, prefix=prefix)
        self.backstop = Backstop(self.redis, prefix=prefix)
        self.rules = OtpRules.from_settings(self.settings)
        staff = "action=handoff" if not self.settings.missing_for("handoff") else "action=topic&id=staff"
        self.dialog = VerificationDialog(self.rules, staff_data=staff, menu=menu)
        self.key = otp_key(self.settings)
        self.turn_budget = turn_budget

    def codes(self, provider: str):
        name = self.hospital_name()  # the SMS says who sends it
        if provider == "thaibulksms":
            return LocalCodes(self.thaibulksms(), self.redis, self.key, self.rules, name, prefix=self.prefix)
        return SepsmsCodes(self.sepsms(), self.rules, name)

    def tell(self, outcome: Outcome) -> None:
        """Push ``outcome`` (at most once: its retry key), then record that the patient has it."""
        self.line().push(outcome.user, [outcome.message], retry_key_for(*outcome.key, prefix=self.prefix))
        if outcome.attempt is not None:
            self.store.drop_pin(outcome.request_id, outcome.attempt)
        elif outcome.final:
            self.store.mark_told(outcome.request_id)

    # -- in the patient's turn ----------------------------------------------------------------
    def send_in_turn(self, request_id: str, holder: str) -> tuple[bool, Outcome | None]:
        """Send the request's code for the turn's reply: ``(True, outcome)`` when done within the
        turn's budget (``outcome`` None: nothing to add, a retry is scheduled, or another attempt is
        telling it), ``(False, None)`` when the provider is slower (its outcome is pushed when it
        comes). ``holder``: the turn's name for ``claim_telling`` (the same for a retry of the turn)."""
        return self.turn_budget.run(lambda: self._send_step(request_id, holder),
                                    lambda: self.backstop.schedule_send(request_id, 0), self.tell_late)

    def check_in_turn(self, request_id: str, attempt: int, holder: str) -> tuple[bool, Outcome | None]:
        """Check a typed code for the turn's reply; as ``send_in_turn``."""
        return self.turn_budget.run(lambda: self._check_step(request_id, attempt, holder),
                                    lambda: self.backstop.schedule_check(request_id, attempt, 0), self.tell_late)

    def finish_turn(self, outcome: Outcome, pipe) -> None:
        """The turn's reply carries ``outcome``: record it and cancel the backstop, in ``pipe``."""
        if outcome.attempt is not None:
            self.store.drop_pin(outcome.request_id, outcome.attempt, pipe)
        elif outcome.final:
            self.store.mark_told(outcome.request_id, pipe)
        self.backstop.cancel(outcome, pipe)

    def tell_late(self, outcome: Outcome | None) -> None:
        """On a thread of the turn's budget, after the turn: the provider answered late; push what it said. Should
        the push fail, the backstop tells it, or (the backstop may have let this thread tell it) a job
        that looks again once this thread's hold on the telling has lapsed."""
        if outcome is None:
            return
        try:
            self.tell(outcome)
            with self.redis.pipeline(transaction=True) as pipe:
                self.backstop.cancel(outcome, pipe)
                pipe.execute()
        except Exception:
            log.exception("OTP outcome after the turn not told; a job will")
            if outcome.final:
                self.backstop.tell_after_lease(outcome)  # should this fail too, the backstop still will

    def _send_step(self, request_id: str, holder: str) -> Outcome | None:
        try:
            return self.send_outcome(request_id, final=False, holder=holder)
        except SendLater as later:
            return self._send_later(request_id, later.wait, tell=True)
        except ProviderError as exc:  # retryable: the backstop tries again soon, with RQ's retries
            log.info("OTP send for request %s will be retried: %s", mask(request_id), exc)
            self.backstop.schedule_send(request_id, SEND_RETRY.intervals[0])
            return None

    def _check_step(self, request_id: str, attempt: int, holder: str) -> Outcome | None:
        try:
            return self.check_outcome(request_id, attempt, final=False, holder=holder)
        except ProviderError as exc:
            log.info("OTP check for request %s will be retried: %s", mask(request_id), exc)
            self.backstop.schedule_check(request_id, attempt, CHECK_RETRY.intervals[0])
            return None

    # -- the jobs (the backstop, a send held for its slot, a retry) ------------------------------
    def send_code(self, request_id: str, *, final: bool, holder: str | None = None) -> None:
        """The job: send the code (at most once) and push the outcome, unless the patient has it.
        ``holder``: the job's name for ``claim_telling`` (None: this call's own)."""
        try:
            outcome = self.send_outcome(request_id, final=final, holder=holder)
        except SendLater as later:
            outcome = self._send_later(request_id, later.wait, tell=False,
                                       beside=f"paced-{math.ceil(time.time() + later.wait)}")
        if outcome is not None:
            self.tell(outcome)

    def check_code(self, request_id: str, attempt: int, *, final: bool, holder: str | None = None) -> None:
        """The job: check the code typed for ``attempt`` and push the outcome.

        The typed code is dropped only after the patient has been told, so a retry
        (LINE down) tells them again: by the same retry key, so at most once.
        """
        if self.store.pin(request_id, attempt) is None:
            return  # checked and told already (in the turn), or expired
        request = self.store.request(request_id)
        if request is not None:
            self.line().show_loading(request.user, 5)
        outcome = self.check_outcome(request_id, attempt, final=final, holder=holder)
        if outcome is not None:
            self.tell(outcome)

    # -- sending ----------------------------------------------------------------------------------
    def send_outcome(self, request_id: str, *, final: bool, holder: str | None = None) -> Outcome | None:
        """Text the code of one request at most once; what to tell the patient (None: nothing, or
        another attempt is telling it: ``_ours_to_tell``).

        Raises ``SendLater`` when the provider's pace holds it, and a retryable ``ProviderError``
        when the provider said it sent nothing and ``final`` is False."""
        return self._ours_to_tell(self._send_outcome(request_id, final=final), "send", holder)

    def _ours_to_tell(self, outcome: Outcome | None, what: str, holder: str | None) -> Outcome | None:
        """``outcome`` if ``holder`` takes its telling, else None. A retried turn and the backstop (or a
        late push) can reach the same outcome at the same moment; only one of them tells it."""
        if outcome is None or not outcome.final:
            return outcome  # "on its way" is no outcome: the send that follows tells one
        if self.store.claim_telling(outcome.request_id, what, holder or uuid.uuid4().hex, TELLING_LEASE):
            return outcome
        log.info("OTP %s of request %s is being told by another attempt", what.split(":")[0],
                 mask(outcome.request_id))
        self.backstop.tell_after_lease(outcome)  # should that attempt fail for good
        return None

    def _send_outcome(self, request_id: str, *, final: bool) -> Outcome | None:
        request = self.store.request(request_id)
        if request is None:
            log.warning("OTP request %s is gone; nothing sent", mask(request_id))
            return None
        if request.told:
            return None  # the patient has the outcome: a backstop after all
        state = self.store.state(request.user)
        if state.request_id != request.id or state.step != AWAIT_CODE:  # cancelled, a new code, staff…
            log.info("OTP request %s is no longer wanted; nothing %s", mask(request_id),
                     "more told" if request.reference else "sent")
            self.store.mark_told(request.id)
            return None
        if request.reference:  # an earlier attempt sent it: only the patient's message may be missing
            return self._code_sent(request, request.reference)
        if request.status == "failed":  # told before, but the patient may not have it yet
            return self._failed(request, request.failure or "failed", MAX_PACED_WAIT)
        if not self.store.claim_send(request_id):
            age = time.time() - self.store.claimed_at(request_id)
            if age < CALL_SECONDS:  # another attempt is calling the provider right now: look again later
                self.backstop.schedule_send(request_id, CALL_SECONDS - age,
                                   beside=f"after-{int(self.store.claimed_at(request_id))}")
                return None
            log.warning("OTP request %s: an earlier attempt got no answer; not sending twice", mask(request_id))
            return Outcome(request.user, request.id, self.dialog.send_uncertain(), ("otp-uncertain", request.id))
        phone = normalize_thai_mobile(request.phone)
        try:
            sent = self.codes(request.provider).send(request_id, phone)
        except ProviderError as exc:
            return self._send_failed(request, exc, final)
        self.store.record_sent(request, sent.reference, sent.message_id)
        OTP.labels("sent").inc()
        log.info("OTP sent to %s via %s (request %s)", phone.masked, request.provider, mask(request_id))
        return self._code_sent(request, sent.reference)

    def _code_sent(self, request: SendRequest, reference: str) -> Outcome:
        return Outcome(request.user, request.id, self.dialog.code_sent(request.last4, reference), ("otp-sent", request.id))

    def _send_failed(self, request: SendRequest, exc: ProviderError, final: bool) -> Outcome:
        if maybe_sent(exc):
            log.warning("OTP send for request %s got no answer (%s); not retrying", mask(request.id), exc)
            return Outcome(request.user, request.id, self.dialog.send_uncertain(), ("otp-uncertain", request.id))
        self.store.release_send(request.id)
        if isinstance(exc, RateLimitError):  # refused before anything went out: wait for the slot
            raise SendLater(exc.retry_after or 60.0) from None
        if exc.retryable and not final:
            raise exc
        bad_number = isinstance(exc, InvalidMsisdnError)
        self.store.mark_failed(request.id, "bad_number" if bad_number else "failed")
        OTP.labels("send_failed").inc()
        if exc.retryable or bad_number:
            log.warning("OTP send for request %s failed: %s", mask(request.id), exc)
        else:  # credentials, credit, a rejected request: someone has to look
            log.error("OTP send for request %s refused by %s: %s; codes cannot go out until this is fixed",
                      mask(request.id), request.provider, exc)
        return self._failed(request, "bad_number" if bad_number else "failed", 0)

    def _failed(self, request: SendRequest, failure: str, wait: float) -> Outcome:
        if failure == "busy":
            return Outcome(request.user, request.id, self.dialog.send_busy(wait), ("otp-busy", request.id))
        return Outcome(request.user, request.id, self.dialog.send_failed(failure == "bad_number"),
                    ("otp-send-failed", request.id))

    def _send_later(self, request_id: str, wait: float, *, tell: bool, beside: str = "") -> Outcome | None:
        """Hold the send for its slot (``wait`` seconds), or give up past ``MAX_PACED_WAIT``."""
        request = self.store.request(request_id)
        if request is None:
            return None
        asked = request.created_at or time.time()
        if time.time() + wait > asked + MAX_PACED_WAIT:
            self.store.mark_failed(request_id, "busy")
            OTP.labels("busy").inc()
            log.warning("OTP send for request %s given up: the provider's next slot is %.0f s away",
                        mask(request_id), wait)
            return self._failed(request, "busy", wait)
        self.backstop.schedule_send(request_id, wait, beside=beside)
        OTP.labels("paced").inc()
        log.info("OTP send for request %s held %.0f s for the provider's pace", mask(request_id), wait)
        if not tell:
            return None
        return Outcome(request.user, request.id, self.dialog.send_queued(request.last4), ("otp-queued", request.id),
                    final=False)

    # -- checking ---------------------------------------------------------------------------------
    def check_outcome(self, request_id: str, attempt: int, *, final: bool, holder: str | None = None) -> Outcome | None:
        """Check the code typed for ``attempt``; what to tell the patient (None: already told, or
        another attempt is telling it)."""
        request, code = self.store.request(request_id), self.store.pin(request_id, attempt)
        if request is None or code is None:
            return None  # already checked and told, or expired
        message = self.store.verdict(request_id, attempt)  # checked before, not yet outcome: not checked again
        if message is None:
            message = self._check(request, code, attempt, final)
            self.store.save_verdict(request_id, attempt, message, self.rules.ttl_seconds)
        outcome = Outcome(request.user, request.id, message, ("otp-check", request.id, str(attempt)), attempt=attempt)
        return self._ours_to_tell(outcome, f"check:{attempt}", holder)

    def _check(self, request: SendRequest, code: str, attempt: int, final: bool) -> dict:
        if request.verified_at:  # a retry, or a second code typed in a hurry
            return self._verified(request)
        codes = self.codes(request.provider)
        try:
            verified = codes.check(request, code)
        except CodeExpired:
            return self.dialog.expired()
        except ProviderError as exc:
            if exc.retryable and not final:
                raise
            log.log(logging.WARNING if exc.retryable else logging.ERROR,
                    "OTP check for request %s failed: %s", mask(request.id), exc)
            return self.dialog.check_failed()
        if verified:
            return self._verified(request)
        OTP.labels("wrong_code").inc()
        if attempt >= self.rules.max_attempts:
            codes.discard(request.id)
            OTP.labels("locked").inc()
        log.info("wrong OTP for request %s (attempt %d)", mask(request.id), attempt)
        who = Budgeted.of(self.key, request.user, request.phone)
        if self.store.count_wrong_code(who, time.time(), self.rules):
            codes.discard(request.id)  # across codes: this one is done too
            lock = self.store.wrong_code_lock(who, time.time(), self.rules)
            step = self.dialog.wrong_codes_locked(self.store.state(request.user), lock.wait if lock else 3600)
            return step.messages[0]
        return self.dialog.wrong_code(attempt)

    def _verified(self, request: SendRequest) -> dict:
        """Record the number and tell everyone. Each step is idempotent, so a retry redoes them all."""
        first = not request.verified_at
        when = self.store.mark_verified(request.id, datetime.now(BANGKOK).replace(microsecond=0).isoformat())
        if first:
            OTP.labels("verified").inc()
        self.store.save_verified(request.user, request.phone, when, request.provider,
                                 keep_days=self.settings.verified_phone_retention_days)
        log.info("phone %s verified for %s", mask(request.phone), mask(request.user))
        if self.settings.configured("oho"):
            enqueue(self.redis, job_names.VERIFICATION_UPDATE_CONTACT, request.user, job_id=f"otp-oho-{request.id}",
                    description="update the Oho contact of a verified patient", prefix=self.prefix)
        self._note_for_staff(request, when)
        return self.dialog.verified(request.last4)

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
        self.line().push(request.user, [self.dialog.undelivered(request.last4)],
                         retry_key_for("otp-undelivered", request_id, prefix=self.prefix))

    def update_contact(self, user: str) -> None:
        """Oho: the verified phone, the ``verified`` tag and the verification time."""
        record = verification_record(self.redis, user, prefix=self.prefix)
        if record is not None and self.settings.configured("oho"):
            self.oho_contacts.record_verified_phone(user, record["phone"], record["verified_at"])

