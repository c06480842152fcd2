import json
from datetime import datetime, timedelta, timezone

import fakeredis
import pytest
import responses

from bot.phone import normalize_thai_mobile
from bot.settings import Settings
from integrations.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from integrations.sepsms import (
    InsufficientCreditError,
    OtpExpiredError,
    RateLimit,
    RedisRateLimiter,
    SepsmsClient,
)
from tests.support import FakeClock

BASE = "https://sepsms.test/api/v2"
KEY = "sk_sep_test_0000"


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def client(**kwargs):
    return SepsmsClient(KEY, base_url=BASE, origin="HOSPITAL", sleep=lambda s: None, **kwargs)


def sent(http, index=-1):
    request = http.calls[index].request
    return request, (json.loads(request.body) if request.body else None)


def test_send_otp_request_and_answer(http):
    http.post(f"{BASE}/otp/send", json={"result": {
        "uuid": "1a2b", "reference": "A3K9X2", "destination": "66812345678",
        "expiresAt": "2026-01-15T10:35:00.000Z", "ttlSeconds": 300}})
    otp = client().send_otp(normalize_thai_mobile("081-234-5678"),
                            template="รหัสของคุณคือ {code} (Ref: {ref})", ttl_seconds=300)
    request, body = sent(http)
    assert request.method == "POST" and request.url == f"{BASE}/otp/send"
    assert request.headers["X-API-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert body == {"destination": "66812345678", "origin": "HOSPITAL",
                    "template": "รหัสของคุณคือ {code} (Ref: {ref})", "ttlSeconds": 300, "codeLength": 6}
    assert otp.reference == "A3K9X2" and otp.uuid == "1a2b" and otp.ttl_seconds == 300
    assert otp.expires_at == datetime(2026, 1, 15, 10, 35, tzinfo=timezone.utc)


def test_send_otp_leaves_out_what_is_not_given(http):
    http.post(f"{BASE}/otp/send", json={"result": {"reference": "R1"}})
    otp = client().send_otp("66899999999", code_length=4, origin="OTHER")
    assert sent(http)[1] == {"destination": "66899999999", "origin": "OTHER", "codeLength": 4}
    assert otp.expires_at is None


@pytest.mark.parametrize("kwargs", [{"template": "no code here {ref}"}, {"ttl_seconds": 59},
                                    {"ttl_seconds": 601}, {"code_length": 3}, {"code_length": 9}])
def test_send_otp_refuses_what_the_seed_does_not_allow(http, kwargs):
    with pytest.raises(ValueError):
        client().send_otp("66812345678", **kwargs)
    assert len(http.calls) == 0


def test_verify_otp_right_pin(http):
    http.post(f"{BASE}/otp/verify", json={"result": {"reference": "A3K9X2", "verified": True}})
    result = client().verify_otp("A3K9X2", "123456")
    request, body = sent(http)
    assert request.method == "POST" and request.url == f"{BASE}/otp/verify"
    assert request.headers["X-API-Key"] == KEY
    assert body == {"reference": "A3K9X2", "pin": "123456"}
    assert result.verified is True and result.reference == "A3K9X2"


def test_verify_otp_wrong_pin_as_result(http):
    http.post(f"{BASE}/otp/verify", json={"result": {"reference": "A3K9X2", "verified": False}})
    assert client().verify_otp("A3K9X2", "000000").verified is False


def test_verify_otp_wrong_pin_as_error_code_is_not_an_error(http):
    http.post(f"{BASE}/otp/verify", status=400,
              json={"success": False, "error": {"code": "otp.invalid_pin", "message": "wrong"}})
    assert client().verify_otp("A3K9X2", "000000").verified is False


@pytest.mark.parametrize("status,code", [(400, "otp.expired"), (400, "otp.max_attempts"),
                                         (404, "otp.not_found"), (404, "resource.not_found")])
def test_verify_otp_dead_reference_is_distinct_from_wrong_pin(http, status, code):
    http.post(f"{BASE}/otp/verify", status=status,
              json={"success": False, "error": {"code": code, "message": "gone"}})
    with pytest.raises(OtpExpiredError) as info:
        client().verify_otp("A3K9X2", "123456")
    assert info.value.code == code and not info.value.retryable


def test_verify_otp_other_errors_propagate(http):
    http.post(f"{BASE}/otp/verify", status=401,
              json={"success": False, "error": {"code": "auth.invalid_credentials", "message": "bad key"}})
    with pytest.raises(AuthenticationError):
        client().verify_otp("A3K9X2", "123456")


def test_send_sms_request(http):
    http.post(f"{BASE}/message/send", json={"result": {
        "uuid": "9f8b", "refNo": "SP24", "totalMsisdn": 2, "totalCredit": 2, "blockedCount": 0,
        "status": "pending"}})
    at = datetime(2026, 1, 15, 17, 0, tzinfo=timezone(timedelta(hours=7)))
    result = client().send_sms([normalize_thai_mobile("0812345678"), "66899999999"], "สวัสดี",
                               scheduled_time=at, variables={"66899999999": {"name": "ก"}})
    request, body = sent(http)
    assert request.method == "POST" and request.url == f"{BASE}/message/send"
    assert request.headers["X-API-Key"] == KEY
    assert body == {"origin": "HOSPITAL", "recipients": ["66812345678", "66899999999"], "message": "สวัสดี",
                    "variables": {"66899999999": {"name": "ก"}}, "scheduledTime": "2026-01-15T17:00:00+07:00"}
    assert (result.uuid, result.ref_no, result.total_msisdn, result.status) == ("9f8b", "SP24", 2, "pending")


def test_send_sms_now_sends_null_scheduled_time(http):
    http.post(f"{BASE}/message/send", json={"result": {"uuid": "u"}})
    client().send_sms(["66812345678"], "hi")
    assert sent(http)[1] == {"origin": "HOSPITAL", "recipients": ["66812345678"], "message": "hi",
                             "scheduledTime": None}


def test_get_message_and_recipients_and_balance(http):
    http.get(f"{BASE}/message/9f8b", json={"result": {
        "uuid": "9f8b", "status": "completed", "totalMsisdn": 2,
        "drSummary": [{"drStatus": "success", "count": 2}], "refundedCount": 0}})
    http.get(f"{BASE}/message/9f8b/recipients", json={"result": [{"msisdn": "66812345678", "status": "success"}]})
    http.get(f"{BASE}/message/credit/balance", json={"result": {"balance": 18420}})
    api = client()
    status = api.get_message("9f8b")
    assert (status.status, status.total_msisdn, status.dr_summary) == ("completed", 2, {"success": 2})
    assert api.get_message_recipients("9f8b") == [{"msisdn": "66812345678", "status": "success"}]
    assert api.credit_balance() == 18420
    assert [(c.request.method, c.request.url) for c in http.calls] == [
        ("GET", f"{BASE}/message/9f8b"), ("GET", f"{BASE}/message/9f8b/recipients"),
        ("GET", f"{BASE}/message/credit/balance")]
    assert all(c.request.headers["X-API-Key"] == KEY for c in http.calls)


def test_uuid_cannot_escape_the_path(http):
    http.get(f"{BASE}/message/..%2Fcredit%2Fbalance", json={"result": {"uuid": "x"}})
    client().get_message("../credit/balance")
    assert http.calls[0].request.url == f"{BASE}/message/..%2Fcredit%2Fbalance"


@pytest.mark.parametrize("status,code,cls", [
    (401, "auth.invalid_credentials", AuthenticationError),
    (403, "auth.scope_missing", AuthenticationError),
    (402, "credit.insufficient", InsufficientCreditError),
    (400, "validation.failed", InvalidRequestError),
    (404, "message.not_found", NotFoundError),
    (500, "internal.error", ServerError),
    (500, "otp.generate_failed", ServerError),
    (503, None, ServerError),
])
def test_error_envelope_mapping(http, status, code, cls):
    body = {"success": False, "error": {"code": code, "message": "nope"}} if code else {}
    http.post(f"{BASE}/message/send", status=status, json=body)
    with pytest.raises(cls) as info:
        client().send_sms(["66812345678"], "hi")
    assert info.value.code == code and info.value.status == status and info.value.provider == "sepsms"
    assert info.value.retryable is (status >= 500)
    assert len(http.calls) == 1  # a send is never repeated in-process (no idempotency key)


def test_insufficient_credit_is_not_retryable(http):
    http.post(f"{BASE}/otp/send", status=400,
              json={"success": False, "error": {"code": "credit.insufficient", "message": "top up"}})
    with pytest.raises(InsufficientCreditError) as info:
        client().send_otp("66812345678")
    assert not info.value.retryable


def test_error_envelope_on_2xx_is_an_error(http):
    http.get(f"{BASE}/message/credit/balance",
             json={"success": False, "error": {"code": "auth.invalid_credentials", "message": "x"}})
    with pytest.raises(AuthenticationError):
        client().credit_balance()


def test_429_on_send_carries_retry_after(http):
    http.post(f"{BASE}/otp/send", status=429, headers={"Retry-After": "42", "RateLimit-Remaining": "0"},
              json={"success": False, "error": {"code": "rate_limit.exceeded", "message": "slow down"}})
    with pytest.raises(RateLimitError) as info:
        client().send_otp("66812345678")
    assert info.value.retry_after == 42 and info.value.retryable
    assert len(http.calls) == 1


def test_429_on_read_is_retried_after_short_retry_after(http):
    slept = []
    http.get(f"{BASE}/message/credit/balance", status=429, headers={"Retry-After": "2"}, json={})
    http.get(f"{BASE}/message/credit/balance", json={"result": {"balance": 5}})
    api = SepsmsClient(KEY, base_url=BASE, sleep=slept.append)
    assert api.credit_balance() == 5
    assert slept == [2.0] and len(http.calls) == 2


# -- rate limiter -------------------------------------------------------------



def test_limiter_refuses_over_budget_with_retry_after():
    clock = FakeClock(1_000_000.0)
    limiter = RedisRateLimiter(fakeredis.FakeRedis(), clock=clock, provider="sepsms")
    budget = RateLimit("t", 3, 60)
    for _ in range(3):
        limiter.acquire(budget)
        clock.now += 10
    with pytest.raises(RateLimitError) as info:
        limiter.acquire(budget)
    assert info.value.retry_after == pytest.approx(30)  # first call at t0, now t0+30, window 60
    assert info.value.retryable and info.value.code == "local_rate_limit"
    clock.now += 30.01  # the first call leaves the window
    limiter.acquire(budget)


def test_limiter_refusal_takes_nothing_from_other_budgets():
    clock = FakeClock(1_000_000.0)
    redis = fakeredis.FakeRedis()
    limiter = RedisRateLimiter(redis, clock=clock)
    small, big = RateLimit("small", 1, 60), RateLimit("big", 2, 60)
    limiter.acquire(small, big)
    with pytest.raises(RateLimitError):
        limiter.acquire(small, big)
    limiter.acquire(big)  # the refused call did not use up big's second slot
    with pytest.raises(RateLimitError):
        limiter.acquire(big)


def test_limiter_off_without_redis():
    limiter = RedisRateLimiter(None)
    for _ in range(100):
        limiter.acquire(RateLimit("t", 1, 60))


def test_otp_budget_is_shared_by_two_clients_on_one_redis(http):
    http.post(f"{BASE}/otp/send", json={"result": {"reference": "R"}})
    redis = fakeredis.FakeRedis()
    worker_a, worker_b = client(redis=redis), client(redis=redis)
    for i in range(5):  # seed: OTP 5 / minute / IP
        (worker_a if i % 2 else worker_b).send_otp("66812345678")
    with pytest.raises(RateLimitError) as info:
        worker_a.send_otp("66812345678")
    assert 0 < info.value.retry_after <= 60
    with pytest.raises(RateLimitError):
        worker_b.send_otp("66812345678")
    assert len(http.calls) == 5  # the refused sends never reached SEPSMS


def test_each_hospital_of_a_registry_keeps_to_its_share_of_the_otp_pace(http):
    """SEPSMS paces OTP per calling IP (5 a minute), which every hospital of a deployment shares: while
    another hospital calls too, one hospital's burst takes at most 3, and the others still have theirs."""
    http.post(f"{BASE}/otp/send", json={"result": {"reference": "R"}})
    redis = fakeredis.FakeRedis()
    hospital_a, hospital_b = client(redis=redis, prefix="h:a:"), client(redis=redis, prefix="h:b:")
    hospital_b.send_otp("66812345678")
    for _ in range(3):
        hospital_a.send_otp("66812345678")
    with pytest.raises(RateLimitError) as info:
        hospital_a.send_otp("66812345678")
    assert 0 < info.value.retry_after <= 60 and hospital_a.next_slot_in() > 0
    assert hospital_b.next_slot_in() == 0
    hospital_b.send_otp("66812345678")
    with pytest.raises(RateLimitError):  # the IP's pace, 5 in all, is used up
        hospital_b.send_otp("66812345678")
    assert len(http.calls) == 5
    assert redis.exists("h:a:ratelimit:sepsms:otp", "h:b:ratelimit:sepsms:otp") == 2


def test_a_hospital_calling_alone_has_the_whole_pace(http):
    http.post(f"{BASE}/otp/send", json={"result": {"reference": "R"}})
    alone = client(redis=fakeredis.FakeRedis(), prefix="h:a:")
    for _ in range(5):
        alone.send_otp("66812345678")
    with pytest.raises(RateLimitError):
        alone.send_otp("66812345678")
    assert len(http.calls) == 5


def test_sms_budget_is_120_per_minute(http):
    http.post(f"{BASE}/message/send", json={"result": {"uuid": "u"}})
    http.get(f"{BASE}/message/credit/balance", json={"result": {"balance": 1}})
    api = client(redis=fakeredis.FakeRedis())
    for _ in range(120):
        api.send_sms(["66812345678"], "hi")
    with pytest.raises(RateLimitError):
        api.send_sms(["66812345678"], "hi")
    assert api.credit_balance() == 1  # other endpoints only count against the 2,400 budget
    assert len(http.calls) == 121


def test_from_settings(http):
    http.get(f"{BASE}/message/credit/balance", json={"result": {"balance": 7}})
    settings = Settings(_env_file=None, sepsms_api_key=KEY, sepsms_base_url=BASE, sepsms_origin="HOSP",
                        otp_secret="otp-secret-for-tests-only-0123456789")
    api = SepsmsClient.from_settings(settings)
    assert api.credit_balance() == 7 and api.origin == "HOSP"
    assert http.calls[0].request.headers["X-API-Key"] == KEY
    with pytest.raises(RuntimeError):
        SepsmsClient.from_settings(Settings(_env_file=None, sepsms_api_key=None))


def test_errors_do_not_carry_the_number(http):
    http.post(f"{BASE}/otp/send", status=400,
              json={"success": False, "error": {"code": "x", "message": "bad destination 66812345678"}})
    with pytest.raises(ProviderError) as info:
        client().send_otp("66812345678")
    assert "66812345678" not in str(info.value) and "…5678" in str(info.value)
