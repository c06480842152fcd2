"""SEPSMS refusing a pin with an error code nobody documented still reaches the patient as
"wrong code" with the attempts left, and leaves no job in the failed registry."""

from __future__ import annotations

import pytest
from rq.registry import FailedJobRegistry

from tests.verification_support import code_sent, patient, rsps, settings, sms  # noqa: F401  (fixtures used by name)
from workers.queues import get_queue


@pytest.fixture
def provider():
    return "sepsms"


@pytest.mark.parametrize("status, body", [
    (400, {"success": False, "error": {"code": "otp.verification_failed", "message": "Verification failed"}}),
    (422, {"success": False, "error": {"code": "validation.pin", "message": "pin is not valid"}}),
    (200, {"success": False, "error": {"code": "otp.nope", "message": "no"}}),
])
def test_an_undocumented_refusal_is_a_wrong_code_with_attempts_left(patient, sms, redis, status, body):
    code_sent(patient, sms)
    sms.wrong_pin_answer = (status, body)
    wrong = "000000" if sms.code != "000000" else "111111"
    answer = patient.say(wrong)[0]
    assert "เหลือโอกาสอีก 2 ครั้ง" in answer and "attempt(s) left" in answer
    assert len(FailedJobRegistry(queue=get_queue(redis))) == 0
    assert "ยืนยันเบอร์มือถือที่ลงท้ายด้วย 5678 สำเร็จ" in patient.say(sms.code)[0]
