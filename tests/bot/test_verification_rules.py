"""The verification state machine at its edges: every word it knows, exact limits and lifetimes."""

from __future__ import annotations

import re
import types

import pytest

from bot.verification import (
    ASK_PHONE,
    AWAIT_CODE,
    CANCEL,
    CANCEL_WORDS,
    RESEND,
    RESEND_WORDS,
    START,
    CheckCode,
    OtpRules,
    SendCode,
    VerificationDialog,
    VerificationState,
    is_other_question,
    postback_params,
)

RULES = OtpRules(ttl_seconds=300, max_attempts=3, resend_seconds=60)
dialog = VerificationDialog(RULES)


def awaiting_code(sent_at=1000.0, attempts=0):
    return VerificationState(AWAIT_CODE, phone="0812345678", request_id="r1", sent_at=sent_at, attempts=attempts)


def test_rules_and_postbacks_as_documented():
    assert OtpRules() == OtpRules(ttl_seconds=300, max_attempts=5, resend_seconds=60, code_length=6,
                                  sends_per_number=3, sends_per_user=3)
    caps = dict(sends_per_number_per_day=5, sends_per_user_per_day=6, sends_per_hour=70, sends_per_day=300,
                wrong_codes_per_day=9)
    settings = types.SimpleNamespace(otp_ttl_seconds=120, otp_max_attempts=4, otp_resend_seconds=30,
                                     **{f"otp_{name}": value for name, value in caps.items()})
    assert OtpRules.from_settings(settings) == OtpRules(ttl_seconds=120, max_attempts=4, resend_seconds=30, **caps)
    assert (START, RESEND, CANCEL) == ("action=verify", "action=verify-resend", "action=cancel&flow=verify")
    assert (ASK_PHONE, AWAIT_CODE) == ("phone", "code")


@pytest.mark.parametrize("word", sorted(CANCEL_WORDS))
@pytest.mark.parametrize("step", [ASK_PHONE, AWAIT_CODE])
def test_every_cancel_word_leaves_the_flow(word, step):
    state = VerificationState(step, sent_at=990.0)
    result = dialog.on_text(state, f"  {word.upper()} ", now=1000)
    assert result.state == VerificationState(sent_at=990.0) and result.action is None


def test_the_cancel_words():
    assert CANCEL_WORDS == {"ยกเลิก", "ยกเลิกค่ะ", "ยกเลิกครับ", "ไม่เอาแล้ว", "ไม่ทำแล้ว", "cancel", "stop"}
    assert RESEND_WORDS == {"ขอรหัสใหม่", "ส่งรหัสใหม่", "ส่งใหม่", "ขอใหม่", "ไม่ได้รับรหัส", "ไม่ได้รับ",
                            "resend", "send again"}


@pytest.mark.parametrize("word", sorted(RESEND_WORDS))
def test_every_resend_word_sends_a_new_code_while_waiting_for_one(word):
    result = dialog.on_text(awaiting_code(sent_at=1000), word.replace(" ", "   ").title(), now=1060)
    assert isinstance(result.action, SendCode) and result.action.phone.local == "0812345678"


def test_a_resend_word_while_asked_for_the_number_is_no_number():
    result = dialog.on_text(VerificationState(ASK_PHONE), "ขอรหัสใหม่", now=1000)
    assert result.action is None and result.state == VerificationState(ASK_PHONE)
    assert result.messages[0]["text"].endswith("กรุณาพิมพ์เบอร์มือถืออีกครั้งค่ะ")


def test_a_new_code_starts_a_fresh_request():
    result = dialog.on_text(VerificationState(ASK_PHONE, sent_at=100.0, attempts=2), "0812345678", now=1000)
    assert re.fullmatch(r"[0-9a-f]{32}", result.action.request_id)
    assert result.state == VerificationState(AWAIT_CODE, phone="0812345678", request_id=result.action.request_id,
                                             sent_at=1000, attempts=0)
    other = dialog.on_text(VerificationState(ASK_PHONE), "0812345678", now=1000)
    assert other.action.request_id != result.action.request_id


@pytest.mark.parametrize("now, sends", [(1059.9, False), (1060.0, True)])
def test_the_resend_cooldown_ends_exactly_after_resend_seconds(now, sends):
    result = dialog.resend(awaiting_code(sent_at=1000), now=now)
    assert isinstance(result.action, SendCode) is sends
    if not sends:
        assert result.state == awaiting_code(sent_at=1000)
        assert result.messages == [dialog.cooldown(0.1)]


def test_resend_outside_the_code_step_or_without_a_number_starts_over():
    for state in (VerificationState(ASK_PHONE, sent_at=5.0), VerificationState(AWAIT_CODE, sent_at=5.0)):
        result = dialog.resend(state, now=1000)
        assert result.state == VerificationState(ASK_PHONE, sent_at=5.0) and result.action is None


@pytest.mark.parametrize("text, outcome", [
    ("123456", "check"), ("12345", "hint"), ("1234567", "hint"), ("12345678", "hint"),
    ("123456789", "number"), ("", "hint"), ("   ", "hint"), ("12 34\t56", "check"), ("1\u00a02\u200b3-4.5\r\n6", "check"),
    ("12/456", "hint"), ("+123456", "hint"), ("١٢٣٤٥٦", "check"),
])
def test_what_counts_as_a_code(text, outcome):
    result = dialog.on_text(awaiting_code(), text, now=1010)
    if outcome == "check":
        assert result.action == CheckCode("r1", "123456", 1) and result.messages == []
    elif outcome == "hint":
        assert result.action is None and result.messages == [dialog.code_hint()]
    else:  # nine digits or more: a phone number, so the patient wants the code sent elsewhere
        assert result.action is None and "เบอร์" in result.messages[0]["text"] and result.messages != [dialog.code_hint()]


@pytest.mark.parametrize("attempts, checked", [(0, True), (2, True), (3, False), (4, False)])
def test_codes_are_checked_up_to_max_attempts(attempts, checked):
    result = dialog.on_text(awaiting_code(attempts=attempts), "123456", now=1010)
    if checked:
        assert result.action == CheckCode("r1", "123456", attempts + 1)
        assert result.state == awaiting_code(attempts=attempts + 1)
    else:
        assert result.action is None and result.messages == [dialog.locked()]
        assert result.state == awaiting_code(attempts=attempts)


@pytest.mark.parametrize("now, checked", [(1299.9, True), (1300.0, False)])
def test_a_code_expires_exactly_ttl_seconds_after_it_was_requested(now, checked):
    result = dialog.on_text(awaiting_code(sent_at=1000), "123456", now=now)
    assert (result.action is not None) is checked
    if not checked:
        assert result.messages == [dialog.expired()]


def test_a_code_without_a_request_time_is_expired():
    result = dialog.on_text(awaiting_code(sent_at=None), "123456", now=1000)
    assert result.action is None and result.messages == [dialog.expired()]


@pytest.mark.parametrize("retry_after, minutes", [(0, 1), (59, 1), (60, 1), (61, 2), (601, 11)])
def test_send_refused_rounds_the_wait_up_to_minutes(retry_after, minutes):
    result = dialog.send_refused(awaiting_code(sent_at=900.0), retry_after)
    assert f"อีกประมาณ {minutes} นาที" in result.messages[0]["text"]
    assert result.state == VerificationState(sent_at=900.0)


@pytest.mark.parametrize("seconds, shown", [(0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60)])
def test_the_cooldown_rounds_up_to_whole_seconds(seconds, shown):
    assert dialog.cooldown(seconds)["text"].startswith(f"กรุณารออีก {shown} วินาที")


@pytest.mark.parametrize("ttl, minutes", [(30, 1), (60, 1), (119, 1), (120, 2), (600, 10)])
def test_code_sent_says_how_long_the_code_lives(ttl, minutes):
    text = VerificationDialog(OtpRules(ttl_seconds=ttl)).code_sent("5678", "R1")["text"]
    assert f"รหัสใช้ได้ {minutes} นาที" in text and text.endswith(f"valid for {minutes} min.")


@pytest.mark.parametrize("attempt, left", [(1, 2), (2, 1)])
def test_wrong_code_counts_what_is_left_and_then_locks(attempt, left):
    assert dialog.wrong_code(attempt)["text"].startswith(f"รหัสไม่ถูกต้องค่ะ ❌ เหลือโอกาสอีก {left} ครั้ง")
    assert dialog.wrong_code(3) == dialog.locked() == dialog.wrong_code(4)


def test_state_helpers():
    assert VerificationState().active is False and VerificationState(ASK_PHONE).active is True
    assert VerificationState.from_dict(["not", "a", "dict"]) == VerificationState()
    state = awaiting_code()
    assert state.to_dict() == {"step": "code", "phone": "0812345678", "request_id": "r1", "sent_at": 1000.0,
                               "attempts": 0, "event_id": None, "reply": [], "pending": None, "paced": 0.0}
    assert dialog.leave(state) == VerificationState(sent_at=1000.0)
    assert dialog.start(state).state == VerificationState(ASK_PHONE, sent_at=1000.0)


def test_postback_params_take_the_first_value():
    assert postback_params("action=verify&x=1&x=2") == {"action": "verify", "x": "1"}
    assert postback_params("action=&x=1") == {"x": "1"}
    assert postback_params("") == {}


@pytest.mark.parametrize("text, intent, other", [
    (None, "parking", True),
    ("ที่จอดรถ", "non_text", False),
    ("ที่จอดรถ", "unknown", False),
    ("ส่งใหม่", "parking", False),
    ("ยกเลิกครับ", "parking", False),
    ("parking 1", "parking", False),
])
def test_other_question_edges(text, intent, other):
    assert is_other_question(text, intent) is other
