"""SEPSMS REST API v2 as documented: origin required, rate-limit headers honoured across workers,
undocumented /otp/verify refusals typed, the credit balance. Bodies are the document's own examples."""

from __future__ import annotations

import json

import pytest
import responses

from bot.settings import load_settings
from integrations.credit import CreditLedger
from integrations.errors import AuthenticationError, ConfigurationError, ProviderError, RateLimitError, ServerError
from integrations.ratelimit import RedisRateLimiter
from integrations.sepsms import OtpExpiredError, OtpRejectedError, SepsmsClient

BASE = "https://sepsms.test/api/v2"
KEY = "sk_sep_test_0000"

# The document's examples ("Endpoints หลัก").
SEND_REQUEST = {"origin": "SEPSMS", "recipients": ["66812345678", "66898765432"],
                "message": "สวัสดีคุณลูกค้า รับส่วนลด 10% วันนี้", "scheduledTime": None}
SEND_RESULT = {"result": {"uuid": "9f8b2c1e-...", "refNo": "SP240115...", "totalMsisdn": 2, "totalCredit": 2,
                          "blockedCount": 0, "status": "pending"}}
OTP_REQUEST = {"destination": "66812345678", "origin": "SEPSMS",
               "template": "รหัสยืนยันของคุณคือ {code} (Ref: {ref})"}
OTP_RESULT = {"result": {"uuid": "1a2b...", "reference": "A3K9X2", "destination": "66812345678",
                         "expiresAt": "2026-01-15T10:35:00.000Z", "ttlSeconds": 300}}
VERIFY_REQUEST = {"reference": "A3K9X2", "pin": "123456"}
VERIFY_RESULT = {"result": {"reference": "A3K9X2", "verified": True}}
BALANCE_RESULT = {"result": {"balance": 18420}}
ERROR_401 = {"success": False, "error": {"code": "auth.invalid_credentials",
                                         "message": "API key is missing or invalid"}}


class Clock:
    def __init__(self, now: float = 1_737_020_405.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock():
    return Clock()


def client(redis=None, clock=None, **kwargs) -> SepsmsClient:
    sepsms = SepsmsClient(KEY, base_url=BASE, sleep=lambda s: None, redis=redis, **kwargs)
    if clock is not None:
        sepsms.limiter = RedisRateLimiter(redis, provider="sepsms", clock=clock)
    return sepsms


def body_of(call) -> dict:
    return json.loads(call.request.body)


# -- origin is required ----------------------------------------------------------------------

def test_the_documented_send_goes_out_with_its_origin(http):
    http.post(f"{BASE}/message/send", json=SEND_RESULT)
    sent = client(origin="SEPSMS").send_sms(SEND_REQUEST["recipients"], SEND_REQUEST["message"])
    assert body_of(http.calls[0]) == SEND_REQUEST
    assert sent.uuid == "9f8b2c1e-..." and sent.total_credit == 2 and sent.status == "pending"


def test_the_documented_otp_send_goes_out_with_its_origin(http):
    http.post(f"{BASE}/otp/send", json=OTP_RESULT)
    otp = client(origin="SEPSMS").send_otp("66812345678", template=OTP_REQUEST["template"])
    assert {k: v for k, v in body_of(http.calls[0]).items() if k != "codeLength"} == OTP_REQUEST
    assert otp.reference == "A3K9X2" and otp.ttl_seconds == 300


@pytest.mark.parametrize("origin", [None, ""])
def test_without_origin_nothing_is_sent(http, origin):
    sepsms = client(origin=origin)
    with pytest.raises(ConfigurationError, match="SEPSMS_ORIGIN") as otp_error:
        sepsms.send_otp("66812345678", template=OTP_REQUEST["template"])
    with pytest.raises(ConfigurationError):
        sepsms.send_sms(["66812345678"], "hello")
    assert len(http.calls) == 0
    assert otp_error.value.retryable is False
    assert "66812345678" not in str(otp_error.value)


def test_without_origin_no_rate_limit_slot_is_used(http, redis, clock):
    sepsms = client(redis, clock, origin=None)
    for _ in range(6):
        with pytest.raises(ConfigurationError):
            sepsms.send_otp("66812345678")
    assert sepsms.next_slot_in("otp") == 0.0


@pytest.mark.parametrize("origin", [None, "", "   "])
def test_sepsms_without_origin_is_a_configuration_problem(origin):
    settings = load_settings(_env_file=None, sms_provider="sepsms", sepsms_api_key=KEY, sepsms_origin=origin)
    assert settings.missing_for("sms") == ["SEPSMS_ORIGIN"]
    assert load_settings(_env_file=None, sms_provider="sepsms", sepsms_api_key=KEY,
                         sepsms_origin="SEPSMS", otp_secret="otp-secret-for-tests-only-0123456789").missing_for("sms") == []


def test_the_balance_needs_no_origin(http):
    http.get(f"{BASE}/message/credit/balance", json=BALANCE_RESULT)
    assert client(origin=None).credit_balance() == 18420


# -- rate limits ("Rate limits": 429 with RateLimit-Remaining and Retry-After) ------------------

def test_a_429_pauses_every_worker_until_retry_after(http, redis, clock):
    http.post(f"{BASE}/otp/send", status=429, json={"success": False, "error": {
        "code": "rate_limit.exceeded", "message": "Too many requests"}},
        headers={"Retry-After": "42", "RateLimit-Remaining": "0"})
    first = client(redis, clock, origin="SEPSMS")
    with pytest.raises(RateLimitError) as refused:
        first.send_otp("66812345678")
    assert refused.value.retry_after == 42 and refused.value.retryable
    other_worker = client(redis, clock, origin="SEPSMS")
    assert other_worker.next_slot_in("otp") == pytest.approx(42)
    with pytest.raises(RateLimitError) as held:
        other_worker.send_otp("66898765432")
    assert held.value.retry_after == pytest.approx(42) and held.value.code == "local_rate_limit"
    assert len(http.calls) == 1  # the pause is kept here: no second request reached SEPSMS

    clock.now += 42.5
    http.replace(responses.POST, f"{BASE}/otp/send", json=OTP_RESULT)
    assert other_worker.next_slot_in("otp") == 0.0
    assert other_worker.send_otp("66898765432").reference == "A3K9X2"


def test_a_429_without_retry_after_waits_out_the_documented_window(http, redis, clock):
    http.post(f"{BASE}/otp/send", status=429, json={"success": False, "error": {"code": "x", "message": "slow"}})
    sepsms = client(redis, clock, origin="SEPSMS")
    with pytest.raises(RateLimitError):
        sepsms.send_otp("66812345678")
    assert sepsms.next_slot_in("otp") == pytest.approx(60)  # OTP: 5 per minute
    assert sepsms.next_slot_in("sms") == 0.0  # only the OTP budget is paused


def test_remaining_zero_on_an_accepted_send_holds_the_next_one(http, redis, clock):
    http.post(f"{BASE}/otp/send", json=OTP_RESULT, headers={"RateLimit-Remaining": "0", "Retry-After": "17"})
    sepsms = client(redis, clock, origin="SEPSMS")
    assert sepsms.send_otp("66812345678").reference == "A3K9X2"
    assert sepsms.next_slot_in("otp") == pytest.approx(17)
    with pytest.raises(RateLimitError):
        sepsms.send_otp("66812345678")
    assert len(http.calls) == 1


def test_remaining_above_zero_changes_nothing(http, redis, clock):
    http.post(f"{BASE}/otp/send", json=OTP_RESULT, headers={"RateLimit-Remaining": "3"})
    sepsms = client(redis, clock, origin="SEPSMS")
    sepsms.send_otp("66812345678")
    assert sepsms.next_slot_in("otp") == 0.0


def test_the_next_slot_follows_the_documented_five_per_minute(http, redis, clock):
    """A morning rush: the sixth send is not refused by SEPSMS; our limiter says when it may go."""
    http.post(f"{BASE}/otp/send", json=OTP_RESULT)
    sepsms = client(redis, clock, origin="SEPSMS")
    for second in range(5):
        clock.now += 1
        assert sepsms.next_slot_in("otp") == 0.0
        sepsms.send_otp("66812345678")
    clock.now += 10  # 14 s after the first send
    assert sepsms.next_slot_in("otp") == pytest.approx(60 - 14)
    with pytest.raises(RateLimitError) as held:
        sepsms.send_otp("66812345678")
    assert held.value.retry_after == pytest.approx(60 - 14)
    assert len(http.calls) == 5
    clock.now += 60 - 14 + 0.01
    assert sepsms.next_slot_in("otp") == 0.0
    sepsms.send_otp("66812345678")
    assert len(http.calls) == 6


# -- /otp/verify ----------------------------------------------------------------------------

def test_the_documented_verify(http):
    http.post(f"{BASE}/otp/verify", json=VERIFY_RESULT)
    result = client(origin="SEPSMS").verify_otp("A3K9X2", "123456")
    assert body_of(http.calls[0]) == VERIFY_REQUEST
    assert result.verified is True and result.reference == "A3K9X2"


@pytest.mark.parametrize("status, code", [
    (400, "otp.verification_failed"),   # no word we know
    (422, "validation.pin"),
    (409, "otp.already_verified_elsewhere"),
    (400, None),                        # a 400 with no code at all
])
def test_an_unknown_refusal_of_the_pin_is_wrong_or_expired(http, status, code):
    error = {"message": "Verification failed for 0812345678"}
    if code:
        error["code"] = code
    http.post(f"{BASE}/otp/verify", status=status, json={"success": False, "error": error})
    with pytest.raises(OtpRejectedError) as rejected:
        client(origin="SEPSMS").verify_otp("A3K9X2", "654321")
    assert rejected.value.retryable is False
    assert "0812345678" not in str(rejected.value)


def test_an_unknown_code_in_a_2xx_envelope_is_wrong_or_expired(http):
    http.post(f"{BASE}/otp/verify", json={"success": False, "error": {"code": "otp.nope", "message": "no"}})
    with pytest.raises(OtpRejectedError):
        client(origin="SEPSMS").verify_otp("A3K9X2", "654321")


def test_a_gone_reference_is_still_expired(http):
    http.post(f"{BASE}/otp/verify", status=404, json={"success": False, "error": {"code": "x", "message": "gone"}})
    with pytest.raises(OtpExpiredError):
        client(origin="SEPSMS").verify_otp("A3K9X2", "654321")


@pytest.mark.parametrize("status, body, error", [
    (401, ERROR_401, AuthenticationError),
    (503, {"success": False, "error": {"code": "server.unavailable", "message": "down"}}, ServerError),
])
def test_key_and_server_failures_are_not_called_a_wrong_pin(http, status, body, error):
    http.post(f"{BASE}/otp/verify", status=status, json=body)
    with pytest.raises(error) as raised:
        client(origin="SEPSMS").verify_otp("A3K9X2", "123456")
    assert not isinstance(raised.value, (OtpRejectedError, OtpExpiredError))


def test_an_unreadable_2xx_is_not_a_verdict_on_the_pin(http):
    http.post(f"{BASE}/otp/verify", json={"something": "else"})
    with pytest.raises(ProviderError) as raised:
        client(origin="SEPSMS").verify_otp("A3K9X2", "123456")
    assert not isinstance(raised.value, OtpRejectedError)


# -- credit ------------------------------------------------------------------------------------

def test_the_documented_balance_is_read_and_recorded(http, redis, caplog):
    http.get(f"{BASE}/message/credit/balance", json=BALANCE_RESULT)
    sepsms = client(redis, origin="SEPSMS", low_credit_threshold=20_000)
    assert sepsms.credit_balance() == 18420
    assert http.calls[0].request.headers["X-API-Key"] == KEY
    last = CreditLedger(redis, threshold=20_000).last("sepsms")
    assert last.balance == 18420 and last.low
    assert sum("under SMS_LOW_CREDIT_THRESHOLD" in r.getMessage() for r in caplog.records) == 1
    sepsms.credit_balance()  # still low: no second warning for the same crossing
    assert sum("under SMS_LOW_CREDIT_THRESHOLD" in r.getMessage() for r in caplog.records) == 1
