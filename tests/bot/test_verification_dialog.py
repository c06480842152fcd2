"""The pure verification dialog: transitions and what the patient is told."""

import pytest

from bot.verification import (
    ASK_PHONE,
    AWAIT_CODE,
    CANCEL,
    RESEND,
    START,
    CheckCode,
    OtpRules,
    SendCode,
    VerificationDialog,
    VerificationState,
    postback_params,
)

RULES = OtpRules(ttl_seconds=300, max_attempts=3, resend_seconds=60)
MENU = {"items": [{"type": "action", "action": {"type": "postback", "label": "เมนู", "data": "action=topic&id=hours"}}]}
dialog = VerificationDialog(RULES, staff_data="action=handoff", menu=MENU)


def buttons(message):
    return [item["action"]["data"] for item in message.get("quickReply", {}).get("items", [])]


def awaiting_code(now=1000.0, attempts=0):
    return VerificationState(AWAIT_CODE, phone="0812345678", request_id="r1", sent_at=now, attempts=attempts)


def test_start_asks_for_the_number_with_a_way_out():
    step = dialog.start(VerificationState())
    assert step.state.step == ASK_PHONE and step.action is None
    [message] = step.messages
    assert "เบอร์มือถือ" in message["text"]
    assert buttons(message) == [CANCEL, "action=handoff"]


def test_start_mentions_an_already_verified_number_by_its_last_digits_only():
    [message] = dialog.start(VerificationState(), verified_phone="0899999999").messages
    assert "9999" in message["text"] and "0899999999" not in message["text"]


@pytest.mark.parametrize("text", ["081-234-5678", "+66 81 234 5678", "๐๘๑๒๓๔๕๖๗๘"])
def test_a_valid_number_sends_a_code(text):
    step = dialog.on_text(VerificationState(ASK_PHONE), text, now=1000)
    assert isinstance(step.action, SendCode)
    assert step.action.phone.local == "0812345678"
    assert step.state == VerificationState(AWAIT_CODE, phone="0812345678", request_id=step.action.request_id,
                                           sent_at=1000)
    assert "5678" in step.messages[0]["text"] and "0812345678" not in step.messages[0]["text"]


@pytest.mark.parametrize("text,words", [("021234567", "บ้าน"), ("08123", "สั้น"), ("hello", "ตัวอักษร")])
def test_a_bad_number_is_explained_and_asked_again(text, words):
    state = VerificationState(ASK_PHONE)
    step = dialog.on_text(state, text, now=1000)
    assert step.action is None and step.state == state
    assert words in step.messages[0]["text"] and "อีกครั้ง" in step.messages[0]["text"]
    assert CANCEL in buttons(step.messages[0])


def test_a_code_is_checked_and_counted():
    step = dialog.on_text(awaiting_code(), " 123 456 ", now=1010)
    assert step.action == CheckCode("r1", "123456", 1)
    assert step.state.attempts == 1 and step.messages == []


def test_thai_digits_are_read_as_a_code():
    assert dialog.on_text(awaiting_code(), "๑๒๓๔๕๖", now=1010).action.code == "123456"


@pytest.mark.parametrize("text", ["ไม่ได้รับ sms", "abc", "12345", "1234567", "12a456"])
def test_anything_but_six_digits_gets_a_hint_and_no_check(text):
    state = awaiting_code()
    step = dialog.on_text(state, text, now=1010)
    assert step.action is None and step.state == state
    assert "6 หลัก" in step.messages[0]["text"]
    assert RESEND in buttons(step.messages[0]) and CANCEL in buttons(step.messages[0])


def test_no_check_after_the_last_attempt():
    step = dialog.on_text(awaiting_code(attempts=3), "123456", now=1010)
    assert step.action is None and "ครบ 3 ครั้ง" in step.messages[0]["text"]


def test_no_check_after_the_code_expired():
    step = dialog.on_text(awaiting_code(now=1000), "123456", now=1300)
    assert step.action is None and "หมดอายุ" in step.messages[0]["text"]


def test_resend_waits_for_the_cooldown_then_makes_a_new_request():
    early = dialog.resend(awaiting_code(now=1000), now=1030)
    assert early.action is None and "30 วินาที" in early.messages[0]["text"]
    later = dialog.resend(awaiting_code(now=1000), now=1060)
    assert isinstance(later.action, SendCode) and later.action.request_id != "r1"
    assert later.state.attempts == 0 and later.state.sent_at == 1060


def test_typed_resend_and_a_new_number_while_waiting_for_the_code():
    assert isinstance(dialog.on_text(awaiting_code(), "ขอรหัสใหม่", now=2000).action, SendCode)
    step = dialog.on_text(awaiting_code(), "0899999999", now=2000)
    assert step.action.phone.local == "0899999999"


def test_cancel_leaves_the_flow_but_keeps_the_cooldown():
    for state in (VerificationState(ASK_PHONE, sent_at=990), awaiting_code(now=990)):
        for step in (dialog.cancel(state), dialog.on_text(state, "ยกเลิก", now=1000)):
            assert not step.state.active and step.state.sent_at == 990
            assert step.messages[0]["quickReply"] == MENU
    restarted = dialog.start(dialog.cancel(awaiting_code(now=990)).state)
    assert "วินาที" in dialog.on_text(restarted.state, "0812345678", now=1000).messages[0]["text"]


def test_send_refused_says_when_to_come_back():
    step = dialog.send_refused(VerificationState(ASK_PHONE), retry_after=601)
    assert not step.state.active and "11 นาที" in step.messages[0]["text"]


def test_wrong_code_counts_down_to_locked():
    assert "เหลือโอกาสอีก 2 ครั้ง" in dialog.wrong_code(1)["text"]
    assert dialog.wrong_code(3) == dialog.locked()


def test_job_messages_carry_reference_and_lifetime():
    message = dialog.code_sent("5678", "AB12")
    assert "AB12" in message["text"] and "5 นาที" in message["text"] and "5678" in message["text"]
    assert buttons(message) == [RESEND, START, CANCEL, "action=handoff"]
    assert dialog.verified("5678")["quickReply"] == MENU


def test_quick_reply_labels_fit_line_limits():
    for message in (dialog.code_hint(), dialog.start(VerificationState()).messages[0]):
        for item in message["quickReply"]["items"]:
            assert 1 <= len(item["action"]["label"].encode("utf-16-le")) // 2 <= 20


def test_state_round_trips_and_ignores_unknown_fields():
    state = awaiting_code()
    assert VerificationState.from_dict(state.to_dict()) == state
    assert VerificationState.from_dict({**state.to_dict(), "later": 1}) == state
    assert not VerificationState.from_dict(None).active
    assert "0812345678" not in repr(state)


def test_postback_params():
    assert postback_params("action=cancel&flow=verify") == {"action": "cancel", "flow": "verify"}
    assert postback_params(None) == {}


@pytest.mark.parametrize("text, intent, other", [
    ("ที่จอดรถอยู่ไหน", "parking", True),          # the knowledge base knows it: not a bad number
    ("ขอบคุณค่ะ", "thanks", True),
    ("ที่จอดรถอยู่ไหน", "unknown", False),         # nobody knows it: the flow hints what to type
    ("รหัสอะไรคะ", "non_text", False),
    ("ขอรหัสใหม่", "verify", False),              # the flow's own topic
    ("จอดรถ 081-234-5678", "parking", False),      # a digit: maybe the number or the code
    ("จอดรถ ๔๘๒๙", "parking", False),              # Thai digits too
    ("ยกเลิก", "parking", False),                  # the flow's own words, whatever matched
    (" Resend ", "parking", False),
    ("ที่จอดรถ", None, False),
])
def test_other_questions_are_told_apart_from_answers_to_the_flow(text, intent, other):
    from bot.verification import is_other_question

    assert is_other_question(text, intent) is other
