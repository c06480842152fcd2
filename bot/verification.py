"""The phone-verification conversation: steps, Thai messages and transitions.

Pure: no Redis, HTTP or clock. The caller loads a ``VerificationState``, calls
one method with the patient's input and ``now``, stores ``Step.state``, sends
``Step.messages`` and carries out ``Step.action`` (send a code, check a code).
The messages that tell the outcome of an action (code sent, wrong code, verified, …)
are built here too, so every patient-facing word of the flow is in one file.

Steps: ``phone`` (waiting for the mobile number) → ``code`` (waiting for the
OTP) → done. A state with ``step=None`` is not verifying; it is kept only to
remember when the last code was requested (the resend cooldown outlives a cancel).
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import parse_qs

from bot.intents import Action, Intent
from bot.phone import InvalidPhoneNumber, ThaiMobile, normalize_thai_mobile

ASK_PHONE = "phone"
AWAIT_CODE = "code"
INTENT = Intent.VERIFY

#: Postback data of the flow's buttons (``action=handoff`` belongs to the handoff feature).
START = f"action={Action.VERIFY}"
RESEND = f"action={Action.VERIFY_RESEND}"
CANCEL = f"action={Action.CANCEL}&flow=verify"

CANCEL_WORDS = frozenset({"ยกเลิก", "ยกเลิกค่ะ", "ยกเลิกครับ", "ไม่เอาแล้ว", "ไม่ทำแล้ว", "cancel", "stop"})
RESEND_WORDS = frozenset({"ขอรหัสใหม่", "ส่งรหัสใหม่", "ส่งใหม่", "ขอใหม่", "ไม่ได้รับรหัส", "ไม่ได้รับ",
                          "resend", "send again"})
#: Knowledge-base intents that are no topic of their own (``verify`` is the flow's).
NOT_A_TOPIC = frozenset({Intent.UNKNOWN, Intent.NON_TEXT, INTENT})
_SEPARATORS = frozenset(" \t\n\r\u00a0\u200b-.")
_ANY_DIGIT = re.compile(r"\d")  # Unicode-aware: Thai digits too


@dataclass(frozen=True)
class OtpRules:
    ttl_seconds: int = 300
    max_attempts: int = 5
    resend_seconds: int = 60
    code_length: int = 6
    # Budgets, enforced by the caller against Redis:
    sends_per_number: int = 3      # per 15 minutes
    sends_per_user: int = 3        # per hour
    sends_per_number_per_day: int = 6
    sends_per_user_per_day: int = 6
    sends_per_hour: int = 60       # the whole service's (toll fraud stops here)
    sends_per_day: int = 300
    wrong_codes_per_day: int = 10  # per number and per LINE user, across codes

    @classmethod
    def from_settings(cls, settings) -> "OtpRules":
        return cls(ttl_seconds=settings.otp_ttl_seconds, max_attempts=settings.otp_max_attempts,
                   resend_seconds=settings.otp_resend_seconds,
                   sends_per_number_per_day=settings.otp_sends_per_number_per_day,
                   sends_per_user_per_day=settings.otp_sends_per_user_per_day,
                   sends_per_hour=settings.otp_sends_per_hour, sends_per_day=settings.otp_sends_per_day,
                   wrong_codes_per_day=settings.otp_wrong_codes_per_day)


@dataclass
class VerificationState:
    """One LINE user's place in the flow. ``phone`` is the local form; it is data, never logged."""

    step: str | None = None
    phone: str | None = field(default=None, repr=False)
    request_id: str | None = None
    sent_at: float | None = None          # when the current code was requested
    attempts: int = 0                     # codes checked against the current request
    event_id: str | None = None           # the last event handled, and what was answered:
    reply: list = field(default_factory=list, repr=False)  # a re-run of that event answers the same
    pending: str | None = None            # "send" / "check": that event's action had not finished
    paced: float = 0.0                    # how much later than asked the code went out (already in sent_at)

    @property
    def active(self) -> bool:
        return self.step is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "VerificationState":
        if not isinstance(data, dict):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class SendCode:
    request_id: str
    phone: ThaiMobile


@dataclass(frozen=True)
class CheckCode:
    request_id: str
    code: str = field(repr=False)
    attempt: int


@dataclass
class Step:
    state: VerificationState
    messages: list[dict]
    action: SendCode | CheckCode | None = None


def postback_params(data: str | None) -> dict[str, str]:
    """``action=verify&x=1`` → ``{"action": "verify", "x": "1"}`` (first value of each)."""
    return {k: v[0] for k, v in parse_qs(data or "").items() if v}


class VerificationDialog:
    """Transitions and messages. ``staff_data`` is the postback of the "talk to staff" button."""

    def __init__(self, rules: OtpRules = OtpRules(), *, staff_data: str = "action=handoff",
                 menu: dict | None = None):
        self.rules = rules
        self.staff_data = staff_data
        self.menu = menu

    # -- transitions --------------------------------------------------------
    def start(self, state: VerificationState, verified_phone: str | None = None) -> Step:
        """Ask for the mobile number (a restart keeps the cooldown clock)."""
        known = (f"เบอร์ที่ยืนยันไว้แล้วคือเบอร์ที่ลงท้ายด้วย {verified_phone[-4:]} "
                 "หากต้องการเปลี่ยน พิมพ์เบอร์ใหม่ได้เลยค่ะ\n\n") if verified_phone else ""
        text = (f"🔐 ยืนยันตัวตนด้วยเบอร์มือถือ\n{known}กรุณาพิมพ์เบอร์มือถือของท่าน 10 หลัก "
                "(เช่น 0812345678) ระบบจะส่งรหัส OTP ทาง SMS ไปที่เบอร์นี้ค่ะ\n\n"
                "Please type your mobile number. We will text you a one-time code.")
        return Step(VerificationState(ASK_PHONE, sent_at=state.sent_at), [self._text(text, self._way_out())])

    def on_text(self, state: VerificationState, text: str, now: float) -> Step:
        """The patient typed something while verifying."""
        word = _word(text)
        if word in CANCEL_WORDS:
            return self.cancel(state)
        if state.step == AWAIT_CODE and word in RESEND_WORDS:
            return self.resend(state, now)
        if state.step == ASK_PHONE:
            return self._on_number(state, text, now)
        code = _digits_only(text)
        if code is None or len(code) != self.rules.code_length:
            if code is not None and len(code) >= 9:  # a phone number: the patient wants another one
                return self._on_number(state, text, now)
            return Step(state, [self.code_hint()])
        if state.attempts >= self.rules.max_attempts:
            return Step(state, [self.locked()])
        if state.sent_at is None or now >= state.sent_at + self.rules.ttl_seconds:
            return Step(state, [self.expired()])
        attempts = state.attempts + 1
        return Step(replace(state, attempts=attempts), [], CheckCode(state.request_id, code, attempts))

    def resend(self, state: VerificationState, now: float) -> Step:
        """A new code to the same number, once the cooldown has passed."""
        if state.step != AWAIT_CODE or not state.phone:
            return self.start(state)
        return self._send(state, normalize_thai_mobile(state.phone), now)

    def cancel(self, state: VerificationState) -> Step:
        text = ("ยกเลิกการยืนยันตัวตนแล้วค่ะ หากต้องการทำใหม่ กด “ยืนยันตัวตน” ได้ทุกเมื่อ\n\n"
                "Verification cancelled.")
        return Step(self.leave(state), [self._text(text, self.menu)])

    def leave(self, state: VerificationState) -> VerificationState:
        """Out of the flow (cancel, staff, another topic); the cooldown clock is kept."""
        return VerificationState(sent_at=state.sent_at)

    def hint(self, state: VerificationState) -> Step:
        """What to type now (for stickers, images, …)."""
        if state.step == AWAIT_CODE:
            return Step(state, [self.code_hint()])
        return Step(state, [self._text("กรุณาพิมพ์เบอร์มือถือ 10 หลัก เช่น 0812345678 ค่ะ", self._way_out())])

    def send_refused(self, state: VerificationState, retry_after: float) -> Step:
        """Too many codes for this number or this LINE user: come back later, or talk to staff."""
        thai, english = _wait_words(retry_after)
        text = (f"ขออภัยค่ะ มีการขอรหัส OTP ครบจำนวนที่กำหนดแล้ว (ไม่เกิน {self.rules.sends_per_number} ครั้ง"
                f"ต่อเบอร์ใน 15 นาที {self.rules.sends_per_user} ครั้งต่อชั่วโมง และ "
                f"{self.rules.sends_per_number_per_day} ครั้งต่อวัน)\n"
                f"กรุณาลองใหม่อีกครั้งในอีกประมาณ {thai} หรือกด “คุยกับเจ้าหน้าที่” ค่ะ\n\n"
                f"Too many codes requested. Please try again in about {english}, or talk to our staff.")
        return Step(self.leave(state), [self._text(text, self._way_out())])

    def sms_busy(self, state: VerificationState, retry_after: float) -> Step:
        """The service's own SMS budget is used up (not the patient's doing): later, or staff."""
        return Step(self.leave(state), [self.send_busy(retry_after)])

    def wrong_codes_locked(self, state: VerificationState, retry_after: float) -> Step:
        """Too many wrong codes for this number or this LINE user, across codes: stop for a while."""
        thai, english = _wait_words(retry_after)
        text = (f"กรอกรหัส OTP ผิดหลายครั้งเกินไป ({self.rules.wrong_codes_per_day} ครั้งใน 24 ชั่วโมง) "
                "เพื่อความปลอดภัย ระบบจึงระงับการยืนยันตัวตนของเบอร์นี้ชั่วคราวค่ะ 🔒\n"
                f"กรุณาลองใหม่ในอีกประมาณ {thai} หรือกด “คุยกับเจ้าหน้าที่” ค่ะ\n\n"
                f"Too many wrong codes: verification is paused for about {english}. You can talk to our staff.")
        return Step(self.leave(state), [self._text(text, self._way_out())])

    def private_chat_only(self) -> dict:
        """Asked in a group or room: a number and a code typed there would be seen by everyone."""
        return self._text("การยืนยันตัวตนทำได้เฉพาะในแชทส่วนตัวกับบัญชีของโรงพยาบาลเท่านั้นค่ะ 🔒 "
                          "กรุณาเปิดแชทส่วนตัวกับบัญชีนี้แล้วพิมพ์ “ยืนยันตัวตน” อีกครั้ง\n\n"
                          "Identity verification works only in a 1:1 chat with this account.", None)

    # -- messages that tell an action's outcome -----------------------------------------------------
    def sending(self, phone: ThaiMobile) -> dict:
        return self._text(f"กำลังส่งรหัส OTP ทาง SMS ไปที่เบอร์ที่ลงท้ายด้วย {phone.local[-4:]} ค่ะ ⏳\n"
                          "Sending your code…", self._code_replies())

    def send_queued(self, last4: str) -> dict:
        """Many codes asked for at once: the provider's pace holds this one for a little while."""
        return self._text(f"ขณะนี้มีผู้ขอรหัส OTP จำนวนมาก ระบบจะส่งรหัสไปที่เบอร์ที่ลงท้ายด้วย {last4} "
                          "ภายในไม่กี่นาทีค่ะ ⏳ เมื่อส่งแล้วจะแจ้งในแชทนี้ กรุณารอสักครู่\n\n"
                          "Many codes are being requested: yours is on its way within a few minutes; "
                          "we will tell you here when it is sent.", self._code_replies())

    def checking(self) -> dict:
        """A code typed while the previous one is still being checked: one check at a time."""
        return self._text("กำลังตรวจสอบรหัสที่ส่งมาก่อนหน้านี้ค่ะ ⏳ กรุณารอสักครู่\n\n"
                          "Still checking the code you sent. One moment, please.", self._code_replies())

    def send_busy(self, retry_after: float) -> dict:
        """No SMS can go out for a while (our budget, or the provider's pace for too long): later, or staff."""
        thai, english = _wait_words(retry_after)
        text = ("ขออภัยค่ะ ขณะนี้ระบบส่ง SMS ยืนยันตัวตนมีผู้ใช้งานจำนวนมาก จึงยังส่งรหัสให้ไม่ได้ 🙏\n"
                f"กรุณาลองใหม่ในอีกประมาณ {thai} หรือกด “คุยกับเจ้าหน้าที่” เพื่อให้เจ้าหน้าที่ช่วยค่ะ\n\n"
                f"We cannot send verification codes right now. Please try again in about {english}, "
                "or talk to our staff.")
        return self._text(text, self._way_out())

    def code_sent(self, last4: str, reference: str) -> dict:
        minutes = max(1, self.rules.ttl_seconds // 60)
        text = (f"ส่งรหัส OTP ไปที่เบอร์ที่ลงท้ายด้วย {last4} แล้วค่ะ ✅\n"
                f"รหัสอ้างอิง (Ref): {reference}\n"
                f"กรุณาพิมพ์รหัส {self.rules.code_length} หลักจาก SMS ในแชทนี้ รหัสใช้ได้ {minutes} นาที\n"
                "🔒 อย่าบอกรหัสนี้กับผู้อื่น\n\n"
                f"Code sent (Ref: {reference}). Type the {self.rules.code_length}-digit code here; "
                f"it is valid for {minutes} min.")
        return self._text(text, self._code_replies())

    def code_hint(self) -> dict:
        n = self.rules.code_length
        return self._text(f"กรุณาพิมพ์รหัส OTP {n} หลักที่ได้รับทาง SMS (ตัวเลขเท่านั้น) ค่ะ\n"
                          "ไม่ได้รับรหัส? กด “ขอรหัสใหม่”\n\n"
                          f"Please type the {n}-digit code from the SMS.", self._code_replies())

    def wrong_code(self, attempt: int) -> dict:
        left = self.rules.max_attempts - attempt
        if left <= 0:
            return self.locked()
        return self._text(f"รหัสไม่ถูกต้องค่ะ ❌ เหลือโอกาสอีก {left} ครั้ง\n"
                          "กรุณาตรวจสอบรหัสใน SMS ล่าสุดแล้วพิมพ์อีกครั้ง\n\n"
                          f"Wrong code. {left} attempt(s) left.", self._code_replies())

    def locked(self) -> dict:
        return self._text(f"กรอกรหัสผิดครบ {self.rules.max_attempts} ครั้งแล้ว รหัสนี้ใช้ไม่ได้อีกต่อไปค่ะ 🔒\n"
                          "กด “ขอรหัสใหม่” เพื่อรับรหัสใหม่ หรือคุยกับเจ้าหน้าที่\n\n"
                          "Too many wrong codes: this code no longer works. Request a new one.",
                          self._code_replies())

    def expired(self) -> dict:
        return self._text("รหัส OTP นี้หมดอายุแล้วค่ะ ⌛ กด “ขอรหัสใหม่” เพื่อรับรหัสใหม่\n\n"
                          "This code has expired. Request a new one.", self._code_replies())

    def verified(self, last4: str) -> dict:
        return self._text(f"ยืนยันเบอร์มือถือที่ลงท้ายด้วย {last4} สำเร็จแล้วค่ะ ✅ ขอบคุณค่ะ\n"
                          "โรงพยาบาลจะใช้เบอร์นี้ในการติดต่อท่าน\n\n"
                          "Your mobile number is verified. Thank you!", self.menu)

    def cooldown(self, seconds: float) -> dict:
        wait = max(1, math.ceil(seconds))
        return self._text(f"กรุณารออีก {wait} วินาทีก่อนขอรหัสใหม่ค่ะ ⏱\n\n"
                          f"Please wait {wait} s before requesting a new code.", self._code_replies())

    def send_failed(self, bad_number: bool = False) -> dict:
        if bad_number:
            text = ("ไม่สามารถส่ง SMS ไปยังเบอร์นี้ได้ค่ะ กรุณาตรวจสอบเบอร์มือถือ แล้วกด “เปลี่ยนเบอร์”\n\n"
                    "We could not text this number. Please check it.")
        else:
            text = ("ขออภัยค่ะ ระบบส่ง SMS ไม่สำเร็จในขณะนี้ 🙏 กรุณากด “ขอรหัสใหม่” ภายหลัง "
                    "หรือคุยกับเจ้าหน้าที่\n\nSorry, we could not send the SMS right now.")
        return self._text(text, self._code_replies())

    def send_uncertain(self) -> dict:
        return self._text("ขออภัยค่ะ ระบบไม่แน่ใจว่าส่ง SMS ออกไปแล้วหรือไม่ "
                          "หากไม่ได้รับรหัสภายใน 1 นาที กรุณากด “ขอรหัสใหม่” ค่ะ\n\n"
                          "We are not sure the SMS went out. If it does not arrive, request a new code.",
                          self._code_replies())

    def check_failed(self) -> dict:
        return self._text("ขออภัยค่ะ ตรวจสอบรหัสไม่สำเร็จในขณะนี้ กรุณาพิมพ์รหัสอีกครั้งในอีกสักครู่ค่ะ\n\n"
                          "Sorry, we could not check the code. Please type it again shortly.",
                          self._code_replies())

    def undelivered(self, last4: str) -> dict:
        return self._text(f"SMS รหัส OTP ส่งไม่ถึงเบอร์ที่ลงท้ายด้วย {last4} ค่ะ 📵\n"
                          "กรุณาตรวจสอบว่าเบอร์ถูกต้องและเปิดเครื่องอยู่ แล้วกด “ขอรหัสใหม่” หรือ “เปลี่ยนเบอร์”\n\n"
                          "The SMS could not be delivered. Request a new code or change the number.",
                          self._code_replies())

    # -- helpers ------------------------------------------------------------
    def _on_number(self, state: VerificationState, text: str, now: float) -> Step:
        try:
            phone = normalize_thai_mobile(text)
        except InvalidPhoneNumber as exc:
            return Step(state, [self._text(f"{exc.message}\nกรุณาพิมพ์เบอร์มือถืออีกครั้งค่ะ", self._way_out())])
        return self._send(state, phone, now)

    def _send(self, state: VerificationState, phone: ThaiMobile, now: float) -> Step:
        if state.sent_at is not None and now < state.sent_at + self.rules.resend_seconds:
            return Step(state, [self.cooldown(state.sent_at + self.rules.resend_seconds - now)])
        request_id = uuid.uuid4().hex
        new = VerificationState(AWAIT_CODE, phone=phone.local, request_id=request_id, sent_at=now)
        return Step(new, [self.sending(phone)], SendCode(request_id, phone))

    def _text(self, text: str, quick_reply: dict | None) -> dict:
        message = {"type": "text", "text": text}
        if quick_reply:
            message["quickReply"] = quick_reply
        return message

    def _way_out(self) -> dict:
        return _quick_reply(("ยกเลิก", CANCEL), ("คุยกับเจ้าหน้าที่", self.staff_data))

    def _code_replies(self) -> dict:
        return _quick_reply(("ขอรหัสใหม่", RESEND), ("เปลี่ยนเบอร์", START), ("ยกเลิก", CANCEL),
                            ("คุยกับเจ้าหน้าที่", self.staff_data))


def is_other_question(text: str | None, intent: str | None) -> bool:
    """Whether text typed during the flow is for the knowledge base rather than for the flow.

    True when the knowledge base recognised a topic (``intent``) and the text has
    no digit (so it is neither a number nor a code) and is none of the flow's own
    words (cancel, resend): "ที่จอดรถอยู่ไหน" gets the parking answer, not
    "the number contains letters".
    """
    if intent is None or intent in NOT_A_TOPIC or _ANY_DIGIT.search(text or ""):
        return False
    return _word(text) not in CANCEL_WORDS | RESEND_WORDS


def _word(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _wait_words(seconds: float) -> tuple[str, str]:
    """A wait as the patient reads it, in Thai and English: minutes, or hours past 90 minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes <= 90:
        return f"{minutes} นาที", f"{minutes} min"
    hours = math.ceil(minutes / 60)
    return f"{hours} ชั่วโมง", f"{hours} h"


def _quick_reply(*buttons: tuple[str, str]) -> dict:
    return {"items": [{"type": "action", "action": {"type": "postback", "label": label,
                                                     "displayText": label, "data": data}}
                      for label, data in buttons]}


def _digits_only(text: str) -> str | None:
    """The ASCII digits of ``text`` (Thai digits too) if it holds nothing but digits and separators."""
    out = []
    for ch in (text or "").strip():
        if ch in _SEPARATORS:
            continue
        if unicodedata.category(ch) != "Nd":
            return None
        out.append(str(unicodedata.decimal(ch)))
    return "".join(out) or None
