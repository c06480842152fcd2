"""``flask sms credit`` against both providers' documented balance answers."""

from __future__ import annotations

import pytest
import responses

from handlers.app import create_app
from integrations.credit import CreditLedger
from tests.conftest import make_settings
from workers.services import Services

SEPSMS = "https://sepsms.test/api/v2"
THAIBULKSMS = "https://thaibulksms.test"
# SEPSMS REST API v2, "ยอดเครดิตคงเหลือ"; ThaiBulkSMS API v2, "การเช็คเครดิตคงเหลือ".
SEPSMS_BALANCE = {"result": {"balance": 18420}}
THAIBULKSMS_CREDIT = {"remaining_credit": 4502, "total_use_credit": 2, "credit_type": "corporate",
                      "phone_number_list": [], "bad_phone_number_list": []}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def run(redis_server, redis, *args, **settings):
    settings = make_settings(redis_server, sepsms_base_url=SEPSMS, thaibulksms_base_url=THAIBULKSMS, **settings)
    app = create_app(settings, services=Services(settings, redis_connection=redis))
    return app.test_cli_runner().invoke(args=["sms", "credit", *args])


def test_sepsms_balance(redis_server, redis, http):
    http.get(f"{SEPSMS}/message/credit/balance", json=SEPSMS_BALANCE)
    result = run(redis_server, redis, sms_provider="sepsms", sepsms_api_key="sk_sep_test_0000")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "sepsms credit: 18420"
    assert CreditLedger(redis).last("sepsms").balance == 18420  # /readyz reads this, no call of its own


def test_thaibulksms_balance_under_the_threshold_warns(redis_server, redis, http):
    http.get(f"{THAIBULKSMS}/credit", json=THAIBULKSMS_CREDIT)
    result = run(redis_server, redis, sms_provider="thaibulksms", thaibulksms_api_key="k",
                 thaibulksms_api_secret="s", sms_low_credit_threshold=5000)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "thaibulksms credit: 4502"
    assert "under SMS_LOW_CREDIT_THRESHOLD (5000)" in result.stderr


def test_an_unconfigured_provider_is_named(redis_server, redis, http):
    result = run(redis_server, redis, sms_provider="thaibulksms", thaibulksms_api_key="k")
    assert result.exit_code != 0
    assert "THAIBULKSMS_API_SECRET" in result.stderr and len(http.calls) == 0


def test_a_refusal_is_reported_without_a_traceback(redis_server, redis, http):
    http.get(f"{SEPSMS}/message/credit/balance", status=401, json={
        "success": False, "error": {"code": "auth.invalid_credentials", "message": "API key is missing or invalid"}})
    result = run(redis_server, redis, sms_provider="sepsms", sepsms_api_key="sk_sep_wrong")
    assert result.exit_code == 1
    assert "API key is missing or invalid" in result.stderr and "Traceback" not in result.stderr
