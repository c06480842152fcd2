"""ThaiBulkSMS API v2 as documented: ``expire`` within 00:06-06:00 (error 138), ``force`` from the
settings, ``remaining_credit`` recorded from sends and ``GET /credit``. Bodies are the document's examples."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses

from bot.settings import SettingsError, load_settings
from integrations.credit import CreditLedger
from integrations.thaibulksms import ThaiBulkSmsClient

BASE = "https://thaibulksms.test"

# "ตัวอย่าง Response จาก API" — the same body is shown under "การเช็คเครดิตคงเหลือ".
SEND_ANSWER = {
    "remaining_credit": 4502,
    "total_use_credit": 2,
    "credit_type": "corporate",
    "phone_number_list": [
        {"number": "66XXXXXXXXX", "message_id": "Gi9YlmTd6wpgMdec8iMrRi", "used_credit": 1},
        {"number": "66XXXXXXXXX", "message_id": "Gi9YlmTd6wpgMdec8iMrRB", "used_credit": 1},
    ],
    "bad_phone_number_list": [],
}
# "ตัวอย่าง Error Response" with the code the table gives a bad expire.
ERROR_138 = {"error": {"code": 138, "name": "ERROR_TTL", "description": (
    "Expiration period is invalid, expire time must be more than 5 minutes and not more than 11 hours.")}}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def client(**kwargs) -> ThaiBulkSmsClient:
    return ThaiBulkSmsClient("key", "secret", base_url=BASE, sender="HOSPITAL", sleep=lambda s: None, **kwargs)


def form_of(call) -> dict:
    return parsed_form(call.request.body)


def parsed_form(body: str) -> dict:
    return {k: v[0] for k, v in parse_qs(body).items()}


def strict_sms_endpoint(http):
    """/sms that answers error 138 as the document's table does, reading "more than 5 minutes" strictly."""
    def answer(request):
        expire = parsed_form(request.body).get("expire")
        if expire is not None:
            hours, minutes = map(int, expire.split(":"))
            if not 5 < hours * 60 + minutes <= 6 * 60:
                return 400, {}, json.dumps(ERROR_138)
        return 200, {}, json.dumps(SEND_ANSWER)
    http.add_callback(responses.POST, f"{BASE}/sms", callback=answer)


@pytest.mark.parametrize("expire, sent", [
    (timedelta(seconds=300), "00:06"),    # the default OTP TTL: 00:05 would be refused (error 138)
    (timedelta(seconds=60), "00:06"),
    (timedelta(seconds=301), "00:06"),    # partial minutes round up
    (timedelta(minutes=7), "00:07"),
    (timedelta(hours=10), "06:00"),       # at most 6 hours ("รายการ Request": 5 นาทีถึง 6 ชั่วโมง)
    ("00:05", "00:06"),
    ("00:10", "00:10"),
    ("11:00", "06:00"),
])
def test_expire_is_kept_within_what_thaibulksms_accepts(http, expire, sent):
    strict_sms_endpoint(http)
    result = client().send_sms(["0812345678"], "รหัส OTP 123456", expire=expire)
    assert form_of(http.calls[0])["expire"] == sent
    assert [n.message_id for n in result.sent] == ["Gi9YlmTd6wpgMdec8iMrRi", "Gi9YlmTd6wpgMdec8iMrRB"]


def test_force_comes_from_the_settings_and_defaults_to_corporate(http):
    http.post(f"{BASE}/sms", json=SEND_ANSWER)
    settings = load_settings(_env_file=None, thaibulksms_api_key="k", thaibulksms_api_secret="s",
                             thaibulksms_base_url=BASE, thaibulksms_sender="HOSPITAL")
    assert settings.thaibulksms_force == "corporate"
    ThaiBulkSmsClient.from_settings(settings).send_sms(["0812345678"], "hello")
    assert form_of(http.calls[0])["force"] == "corporate"

    standard = load_settings(_env_file=None, thaibulksms_api_key="k", thaibulksms_api_secret="s",
                             thaibulksms_base_url=BASE, thaibulksms_force="standard")
    ThaiBulkSmsClient.from_settings(standard).send_sms(["0812345678"], "hello")
    assert form_of(http.calls[1])["force"] == "standard"

    unset = load_settings(_env_file=None, thaibulksms_api_key="k", thaibulksms_api_secret="s",
                          thaibulksms_base_url=BASE, thaibulksms_force="")
    ThaiBulkSmsClient.from_settings(unset).send_sms(["0812345678"], "hello")
    assert "force" not in form_of(http.calls[2])


def test_a_force_thaibulksms_does_not_know_is_refused_at_start_up():
    with pytest.raises(SettingsError, match="THAIBULKSMS_FORCE"):
        load_settings(_env_file=None, thaibulksms_force="premium")


@pytest.mark.parametrize("force, noted", [("corporate", False), ("standard", True), ("", True)])
def test_readiness_notes_say_when_delivery_reports_cannot_arrive(force, noted):
    settings = load_settings(_env_file=None, sms_provider="thaibulksms", thaibulksms_force=force)
    assert any("delivery reports" in note for note in settings.readiness_notes()) is noted
    assert load_settings(_env_file=None, sms_provider="sepsms", thaibulksms_force=force).readiness_notes() == []


def test_each_send_records_the_remaining_credit(http, redis, caplog):
    http.post(f"{BASE}/sms", json=SEND_ANSWER)
    result = client(redis=redis, low_credit_threshold=5000).send_sms(["0812345678", "0898765432"], "hello")
    assert result.remaining_credit == 4502 and result.credit_type == "corporate" and result.total_use_credit == 2
    last = CreditLedger(redis, threshold=5000).last("thaibulksms")
    assert last.balance == 4502 and last.low
    assert any("thaibulksms credit is 4502" in r.getMessage() for r in caplog.records)


def test_the_credit_endpoint_answers_a_number(http, redis):
    http.get(f"{BASE}/credit", json=SEND_ANSWER)
    assert client(redis=redis).credit() == 4502
    assert http.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert CreditLedger(redis).last("thaibulksms").balance == 4502


def test_a_credit_answer_without_remaining_credit_is_an_error(http):
    http.get(f"{BASE}/credit", json={"credit_type": "corporate"})
    with pytest.raises(Exception, match="remaining_credit"):
        client().credit()
