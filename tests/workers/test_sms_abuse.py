"""SMS pumping, harassment and code guessing, attacked over the LINE webhook with a real worker:
caps per number and per LINE user per day, the service's hourly and daily budget, a wrong-code
lockout across codes, and the operator's alerts (also SEPSMS's ``credit.low``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from tests.conftest import make_settings
from tests.verification_support import (  # noqa: F401  (fixtures used by name)
    PHONE,
    SMS_SETTINGS,
    USER,
    Patient,
    clock,
    code_sent,
    provider,
    rsps,
    sms,
)

STAFF_BUTTON = "คุยกับเจ้าหน้าที่"
CAPS = dict(otp_sends_per_number_per_day=4, otp_sends_per_user_per_day=4, otp_sends_per_hour=50,
            otp_sends_per_day=100, otp_wrong_codes_per_day=4)


@pytest.fixture
def settings(redis_server, line_stub, provider, request):
    extra = getattr(request, "param", {})
    return make_settings(redis_server, line_stub, sms_provider=provider, **{**SMS_SETTINGS, **CAPS, **extra})


def users(n: int) -> list[str]:
    return ["U" + f"{i:02x}" * 16 for i in range(1, n + 1)]


def last_message(patient: Patient) -> dict:
    sent = [r for r, _ in patient.line_stub.log if r.path.startswith("/v2/bot/message/")]
    return sent[-1].get_json()["messages"][-1]


def offers_staff(message: dict) -> bool:
    return any(item["action"]["label"] == STAFF_BUTTON for item in message.get("quickReply", {}).get("items", []))


@pytest.mark.parametrize("provider", ["sepsms"])
def test_pumping_one_number_from_many_line_users_stops_at_the_number_s_caps(webhook, run_worker, line_stub, sms,
                                                                            clock, caplog):
    caplog.set_level(logging.INFO)
    outcomes = []
    for i, user in enumerate(users(6)):
        if i and i % 3 == 0:
            clock.advance(16 * 60)  # past the 15-minute window: only the daily cap is left
        patient = Patient(webhook, run_worker, line_stub, user=user)
        patient.say("ยืนยันตัวตน")
        outcomes.append(patient.say(PHONE)[0])
        assert offers_staff(last_message(patient))
    refused = [text for text in outcomes if "ครบจำนวน" in text]
    assert len(sms.sends) == 4 and len(refused) == 2  # 3 per 15 minutes, then 4 per day
    assert "ชั่วโมง" in refused[-1]                    # tomorrow, in hours: a clear wait
    daily = [r for r in caplog.records if r.levelno == logging.WARNING and "daily cap" in r.getMessage()]
    assert daily and PHONE not in caplog.text and "4 per number" in daily[0].getMessage()


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("settings", [dict(otp_sends_per_hour=2)], indirect=True)
def test_the_service_s_hourly_budget_stops_toll_fraud_across_numbers(webhook, run_worker, line_stub, sms, clock,
                                                                    caplog):
    told = []
    for user, number in zip(users(3), ("0812345678", "0823456789", "0834567890")):
        patient = Patient(webhook, run_worker, line_stub, user=user)
        patient.say("ยืนยันตัวตน")
        told.append(patient.say(number)[0])
    assert len(sms.sends) == 2
    assert "มีผู้ใช้งานจำนวนมาก" in told[2] and offers_staff(last_message(patient))
    [alert] = [r for r in caplog.records if "budget of the whole service" in r.getMessage()]
    assert alert.levelno == logging.WARNING and "2 of 2 this hour" in alert.getMessage()


@pytest.mark.parametrize("provider", ["sepsms", "thaibulksms"])
def test_wrong_codes_lock_the_number_across_codes_and_users(webhook, run_worker, line_stub, sms, clock, caplog):
    first = Patient(webhook, run_worker, line_stub, user=USER)
    code_sent(first, sms)
    for guess in ("000001", "000002"):
        assert "ไม่ถูกต้อง" in first.say(guess)[0]
    clock.advance(61)
    first.press("action=verify-resend")  # a new code: the per-code count starts again, this one does not
    assert "ไม่ถูกต้อง" in first.say("000003")[0]
    [locked] = first.say("000004")
    assert "ผิดหลายครั้งเกินไป" in locked and offers_staff(last_message(first))
    checks = len(sms.checks)
    assert "ผิดหลายครั้งเกินไป" in first.say(sms.code)[0]  # even the right code: locked is locked
    assert len(sms.checks) == checks  # nothing more is checked while locked

    other = Patient(webhook, run_worker, line_stub, user=users(1)[0])  # another LINE user, the same number
    other.say("ยืนยันตัวตน")
    sends = len(sms.sends)
    assert "ผิดหลายครั้งเกินไป" in other.say(PHONE)[0] and len(sms.sends) == sends
    assert any(r.levelno == logging.WARNING and "lockout" in r.getMessage() for r in caplog.records)
    assert sms.code not in caplog.text and PHONE not in caplog.text


def sepsms_post(client, event: str, body: bytes):
    t = int(time.time())
    signature = hmac.new(SMS_SETTINGS["sepsms_webhook_secret"].encode(), f"{t}.".encode() + body,
                         hashlib.sha256).hexdigest()
    return client.post("/webhooks/sepsms", data=body, headers={
        "Content-Type": "application/json", "X-Webhook-Event": event, "X-Webhook-Signature": f"t={t},v1={signature}"})


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("body", [b'{"balance": 3}', b"[]", b"not json"])
def test_sepsms_credit_low_alerts_the_operator_and_shows_in_readyz(client, body, caplog):
    answer = sepsms_post(client, "credit.low", body)
    assert answer.status_code == 200 and answer.get_json()["event"] == "credit.low"
    [alert] = [r for r in caplog.records if "credit.low" in r.getMessage()]
    assert alert.levelno == logging.WARNING
    assert any("credit.low" in note for note in client.get("/readyz").get_json()["notes"])


@pytest.mark.parametrize("provider", ["sepsms"])
def test_an_unsigned_credit_low_is_refused(client):
    answer = client.post("/webhooks/sepsms", data=json.dumps({}), headers={"X-Webhook-Event": "credit.low"})
    assert answer.status_code == 401 and client.get("/readyz").get_json()["notes"] == []
