"""Every patient-facing word of the verification flow, exactly, and the buttons under each message.

The texts are the approved wording (Thai first, English after): a change here is a change the
patients read, so it is made on purpose, in this file too.
"""

from __future__ import annotations

import pytest

from bot.phone import normalize_thai_mobile
from bot.verification import (
    ASK_PHONE,
    AWAIT_CODE,
    CANCEL,
    RESEND,
    START,
    OtpRules,
    VerificationDialog,
    VerificationState,
)

MENU = {"items": [{"type": "action", "action": {"type": "postback", "label": "เมนู", "data": "action=menu"}}]}
dialog = VerificationDialog(OtpRules(ttl_seconds=300, max_attempts=3, resend_seconds=60),
                            staff_data="action=handoff", menu=MENU)
PHONE = normalize_thai_mobile("0812345678")  # made-up

TEXTS = {
    'start': '🔐 ยืนยันตัวตนด้วยเบอร์มือถือ\nกรุณาพิมพ์เบอร์มือถือของท่าน 10 หลัก (เช่น 0812345678) ระบบจะส่งรหัส OTP ทาง SMS ไปที่เบอร์นี้ค่ะ\n\nPlease type your mobile number. We will text you a one-time code.',
    'start_known': '🔐 ยืนยันตัวตนด้วยเบอร์มือถือ\nเบอร์ที่ยืนยันไว้แล้วคือเบอร์ที่ลงท้ายด้วย 1234 หากต้องการเปลี่ยน พิมพ์เบอร์ใหม่ได้เลยค่ะ\n\nกรุณาพิมพ์เบอร์มือถือของท่าน 10 หลัก (เช่น 0812345678) ระบบจะส่งรหัส OTP ทาง SMS ไปที่เบอร์นี้ค่ะ\n\nPlease type your mobile number. We will text you a one-time code.',
    'cancel': 'ยกเลิกการยืนยันตัวตนแล้วค่ะ หากต้องการทำใหม่ กด “ยืนยันตัวตน” ได้ทุกเมื่อ\n\nVerification cancelled.',
    'hint_phone': 'กรุณาพิมพ์เบอร์มือถือ 10 หลัก เช่น 0812345678 ค่ะ',
    'send_refused': 'ขออภัยค่ะ มีการขอรหัส OTP ครบจำนวนที่กำหนดแล้ว (ไม่เกิน 3 ครั้งต่อเบอร์ใน 15 นาที 3 ครั้งต่อชั่วโมง และ 6 ครั้งต่อวัน)\nกรุณาลองใหม่อีกครั้งในอีกประมาณ 11 นาที หรือกด “คุยกับเจ้าหน้าที่” ค่ะ\n\nToo many codes requested. Please try again in about 11 min, or talk to our staff.',
    'sending': 'กำลังส่งรหัส OTP ทาง SMS ไปที่เบอร์ที่ลงท้ายด้วย 5678 ค่ะ ⏳\nSending your code…',
    'code_sent': 'ส่งรหัส OTP ไปที่เบอร์ที่ลงท้ายด้วย 5678 แล้วค่ะ ✅\nรหัสอ้างอิง (Ref): AB12\nกรุณาพิมพ์รหัส 6 หลักจาก SMS ในแชทนี้ รหัสใช้ได้ 5 นาที\n🔒 อย่าบอกรหัสนี้กับผู้อื่น\n\nCode sent (Ref: AB12). Type the 6-digit code here; it is valid for 5 min.',
    'code_hint': 'กรุณาพิมพ์รหัส OTP 6 หลักที่ได้รับทาง SMS (ตัวเลขเท่านั้น) ค่ะ\nไม่ได้รับรหัส? กด “ขอรหัสใหม่”\n\nPlease type the 6-digit code from the SMS.',
    'wrong_code': 'รหัสไม่ถูกต้องค่ะ ❌ เหลือโอกาสอีก 2 ครั้ง\nกรุณาตรวจสอบรหัสใน SMS ล่าสุดแล้วพิมพ์อีกครั้ง\n\nWrong code. 2 attempt(s) left.',
    'locked': 'กรอกรหัสผิดครบ 3 ครั้งแล้ว รหัสนี้ใช้ไม่ได้อีกต่อไปค่ะ 🔒\nกด “ขอรหัสใหม่” เพื่อรับรหัสใหม่ หรือคุยกับเจ้าหน้าที่\n\nToo many wrong codes: this code no longer works. Request a new one.',
    'expired': 'รหัส OTP นี้หมดอายุแล้วค่ะ ⌛ กด “ขอรหัสใหม่” เพื่อรับรหัสใหม่\n\nThis code has expired. Request a new one.',
    'verified': 'ยืนยันเบอร์มือถือที่ลงท้ายด้วย 5678 สำเร็จแล้วค่ะ ✅ ขอบคุณค่ะ\nโรงพยาบาลจะใช้เบอร์นี้ในการติดต่อท่าน\n\nYour mobile number is verified. Thank you!',
    'cooldown': 'กรุณารออีก 30 วินาทีก่อนขอรหัสใหม่ค่ะ ⏱\n\nPlease wait 30 s before requesting a new code.',
    'send_failed': 'ขออภัยค่ะ ระบบส่ง SMS ไม่สำเร็จในขณะนี้ 🙏 กรุณากด “ขอรหัสใหม่” ภายหลัง หรือคุยกับเจ้าหน้าที่\n\nSorry, we could not send the SMS right now.',
    'send_failed_bad_number': 'ไม่สามารถส่ง SMS ไปยังเบอร์นี้ได้ค่ะ กรุณาตรวจสอบเบอร์มือถือ แล้วกด “เปลี่ยนเบอร์”\n\nWe could not text this number. Please check it.',
    'send_uncertain': 'ขออภัยค่ะ ระบบไม่แน่ใจว่าส่ง SMS ออกไปแล้วหรือไม่ หากไม่ได้รับรหัสภายใน 1 นาที กรุณากด “ขอรหัสใหม่” ค่ะ\n\nWe are not sure the SMS went out. If it does not arrive, request a new code.',
    'check_failed': 'ขออภัยค่ะ ตรวจสอบรหัสไม่สำเร็จในขณะนี้ กรุณาพิมพ์รหัสอีกครั้งในอีกสักครู่ค่ะ\n\nSorry, we could not check the code. Please type it again shortly.',
    'undelivered': 'SMS รหัส OTP ส่งไม่ถึงเบอร์ที่ลงท้ายด้วย 5678 ค่ะ 📵\nกรุณาตรวจสอบว่าเบอร์ถูกต้องและเปิดเครื่องอยู่ แล้วกด “ขอรหัสใหม่” หรือ “เปลี่ยนเบอร์”\n\nThe SMS could not be delivered. Request a new code or change the number.',
    'send_queued': 'ขณะนี้มีผู้ขอรหัส OTP จำนวนมาก ระบบจะส่งรหัสไปที่เบอร์ที่ลงท้ายด้วย 5678 ภายในไม่กี่นาทีค่ะ ⏳ เมื่อส่งแล้วจะแจ้งในแชทนี้ กรุณารอสักครู่\n\nMany codes are being requested: yours is on its way within a few minutes; we will tell you here when it is sent.',
    'checking': 'กำลังตรวจสอบรหัสที่ส่งมาก่อนหน้านี้ค่ะ ⏳ กรุณารอสักครู่\n\nStill checking the code you sent. One moment, please.',
    'send_busy': 'ขออภัยค่ะ ขณะนี้ระบบส่ง SMS ยืนยันตัวตนมีผู้ใช้งานจำนวนมาก จึงยังส่งรหัสให้ไม่ได้ 🙏\nกรุณาลองใหม่ในอีกประมาณ 4 นาที หรือกด “คุยกับเจ้าหน้าที่” เพื่อให้เจ้าหน้าที่ช่วยค่ะ\n\nWe cannot send verification codes right now. Please try again in about 4 min, or talk to our staff.',
    'bad_number': 'เบอร์นี้เป็นเบอร์โทรศัพท์บ้านหรือสำนักงาน ไม่ใช่เบอร์มือถือ กรุณาใช้เบอร์มือถือที่ขึ้นต้นด้วย 06, 08 หรือ 09 เช่น 0812345678\nกรุณาพิมพ์เบอร์มือถืออีกครั้งค่ะ',
}

WAY_OUT = [("ยกเลิก", CANCEL), ("คุยกับเจ้าหน้าที่", "action=handoff")]
CODE_REPLIES = [("ขอรหัสใหม่", RESEND), ("เปลี่ยนเบอร์", START), ("ยกเลิก", CANCEL),
                ("คุยกับเจ้าหน้าที่", "action=handoff")]


def messages():
    return {
        "start": (dialog.start(VerificationState()).messages[0], WAY_OUT),
        "start_known": (dialog.start(VerificationState(), verified_phone="0899991234").messages[0], WAY_OUT),
        "cancel": (dialog.cancel(VerificationState(AWAIT_CODE)).messages[0], MENU),
        "hint_phone": (dialog.hint(VerificationState(ASK_PHONE)).messages[0], WAY_OUT),
        "send_refused": (dialog.send_refused(VerificationState(), 601).messages[0], WAY_OUT),
        "sending": (dialog.sending(PHONE), CODE_REPLIES),
        "code_sent": (dialog.code_sent("5678", "AB12"), CODE_REPLIES),
        "code_hint": (dialog.code_hint(), CODE_REPLIES),
        "wrong_code": (dialog.wrong_code(1), CODE_REPLIES),
        "locked": (dialog.locked(), CODE_REPLIES),
        "expired": (dialog.expired(), CODE_REPLIES),
        "verified": (dialog.verified("5678"), MENU),
        "cooldown": (dialog.cooldown(29.2), CODE_REPLIES),
        "send_failed": (dialog.send_failed(), CODE_REPLIES),
        "send_failed_bad_number": (dialog.send_failed(bad_number=True), CODE_REPLIES),
        "send_uncertain": (dialog.send_uncertain(), CODE_REPLIES),
        "check_failed": (dialog.check_failed(), CODE_REPLIES),
        "undelivered": (dialog.undelivered("5678"), CODE_REPLIES),
        "send_queued": (dialog.send_queued("5678"), CODE_REPLIES),
        "send_busy": (dialog.send_busy(200), WAY_OUT),
        "checking": (dialog.checking(), CODE_REPLIES),
        "bad_number": (dialog.on_text(VerificationState(ASK_PHONE), "021234567", 0).messages[0], WAY_OUT),
    }


@pytest.mark.parametrize("name", list(TEXTS))
def test_the_text_and_buttons_of_each_message(name):
    message, buttons = messages()[name]
    assert message["type"] == "text"
    assert message["text"] == TEXTS[name]
    if isinstance(buttons, dict):
        assert message["quickReply"] == buttons
    else:
        assert message["quickReply"] == {"items": [
            {"type": "action", "action": {"type": "postback", "label": label, "displayText": label, "data": data}}
            for label, data in buttons]}


def test_hint_while_waiting_for_the_code_is_the_code_hint():
    step = dialog.hint(VerificationState(AWAIT_CODE))
    assert step.messages == [dialog.code_hint()] and step.action is None


def test_without_a_menu_the_closing_messages_have_no_buttons():
    bare = VerificationDialog()
    assert "quickReply" not in bare.verified("5678")
    assert "quickReply" not in bare.cancel(VerificationState()).messages[0]
    assert bare.staff_data == "action=handoff"
    assert bare.code_hint()["quickReply"]["items"][-1]["action"]["data"] == "action=handoff"
