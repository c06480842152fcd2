import base64
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

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
from integrations.thaibulksms import (
    InsufficientCreditError,
    InvalidMsisdnError,
    InvalidSenderError,
    ThaiBulkSmsClient,
)

BASE = "https://tbs.test"
BASIC = "Basic " + base64.b64encode(b"key_test:secret_test").decode()


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def client(**kwargs):
    return ThaiBulkSmsClient("key_test", "secret_test", base_url=BASE, sender="HOSPITAL",
                             sleep=lambda s: None, **kwargs)


def form(call):
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def answer(numbers, bad=(), remaining=4500):
    return {"remaining_credit": remaining, "total_use_credit": len(numbers), "credit_type": "corporate",
            "phone_number_list": [{"number": n, "message_id": f"Gi9Y{i:04d}", "used_credit": 1}
                                  for i, n in enumerate(numbers)],
            "bad_phone_number_list": [{"number": n, "message": "invalid number"} for n in bad]}


def test_send_sms_request(http):
    http.post(f"{BASE}/sms", json=answer(["66812345678", "66899999999"]))
    at = datetime(2020, 12, 17, 10, 12, tzinfo=timezone.utc)  # 17:12 in Bangkok
    result = client().send_sms([normalize_thai_mobile("081-234-5678"), "0899999999"], "สวัสดี <TRACKING-URL>",
                               scheduled_delivery=at, force="corporate", shorten_url=True,
                               tracking_url="https://example.test/t", expire=timedelta(minutes=10))
    request = http.calls[0].request
    assert request.method == "POST" and request.url == f"{BASE}/sms"
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(http.calls[0]) == {
        "msisdn": "66812345678,0899999999", "message": "สวัสดี <TRACKING-URL>", "sender": "HOSPITAL",
        "force": "corporate", "scheduled_delivery": "2020-12-17T17:12:00+07:00", "shorten_url": "true",
        "tracking_url": "https://example.test/t", "expire": "00:10"}
    assert [s.message_id for s in result.sent] == ["Gi9Y0000", "Gi9Y0001"]
    assert result.remaining_credit == 4500 and result.total_use_credit == 2 and result.all_sent


def test_send_sms_minimal_request(http):
    http.post(f"{BASE}/sms", json=answer(["66812345678"]))
    client().send_sms(["66812345678"], "hi")
    assert form(http.calls[0]) == {"msisdn": "66812345678", "message": "hi", "sender": "HOSPITAL"}


def test_2xx_with_bad_numbers(http):
    http.post(f"{BASE}/sms", status=201, json={**answer(["66812345678"]),
              "bad_phone_number_list": [{"number": "0800", "message": "invalid number"},
                                        {"number": "0899999999", "message": "0899999999 is blocked"}]})
    result = client().send_sms(["66812345678", "0800", "0899999999"], "hi")
    assert not result.all_sent
    assert [b.number for b in result.bad] == ["0800", "0899999999"]
    assert [s.number for s in result.sent] == ["66812345678"]
    assert "66812345678" not in repr(result) and "0899999999" not in repr(result)  # safe to log


def test_chunks_at_500_numbers(http):
    numbers = [f"6680{i:07d}" for i in range(1201)]
    for chunk in (numbers[:500], numbers[500:1000], numbers[1000:]):
        http.post(f"{BASE}/sms", json=answer(chunk, remaining=9))
    result = client().send_sms(numbers, "hi")
    sent_lists = [form(call)["msisdn"].split(",") for call in http.calls]
    assert [len(s) for s in sent_lists] == [500, 500, 201]
    assert sum(sent_lists, []) == numbers
    assert len(result.sent) == 1201 and result.total_use_credit == 1201


def test_exactly_500_is_one_call_and_duplicates_are_dropped(http):
    numbers = [f"6680{i:07d}" for i in range(500)]
    http.post(f"{BASE}/sms", json=answer(numbers))
    client().send_sms(numbers + numbers[:3], "hi")
    assert len(http.calls) == 1 and len(form(http.calls[0])["msisdn"].split(",")) == 500


def test_failed_later_chunk_reports_what_went_out(http):
    numbers = [f"6680{i:07d}" for i in range(600)]
    http.post(f"{BASE}/sms", json=answer(numbers[:500]))
    http.post(f"{BASE}/sms", status=423, json={"error": {"code": 116, "name": "ERROR_INSUFFICIENT_CREDIT",
                                                         "description": "Insufficient credit."}})
    with pytest.raises(InsufficientCreditError) as info:
        client().send_sms(numbers, "hi")
    assert len(info.value.sent_before_failure.sent) == 500


@pytest.mark.parametrize("status,code,cls,retryable", [
    (401, 100, AuthenticationError, False),
    (403, 101, AuthenticationError, False),
    (403, 104, AuthenticationError, False),
    (404, 105, AuthenticationError, False),
    (500, 103, AuthenticationError, False),
    (403, 108, InvalidRequestError, False),
    (400, 110, InvalidSenderError, False),
    (400, 111, InvalidSenderError, False),
    (400, 112, InvalidRequestError, False),
    (400, 114, InvalidMsisdnError, False),
    (400, 115, InvalidMsisdnError, False),
    (423, 116, InsufficientCreditError, False),
    (400, 120, InvalidRequestError, False),
    (400, 122, InvalidRequestError, False),
    (404, 3, NotFoundError, False),
    (500, 1, ServerError, True),
    (500, 13, ServerError, True),
    (500, 132, ServerError, True),
    (429, None, RateLimitError, True),
    (502, None, ServerError, True),
])
def test_error_code_table(http, status, code, cls, retryable):
    body = {"error": {"code": code, "name": "ERR", "description": "described"}} if code is not None else {}
    http.post(f"{BASE}/sms", status=status, json=body)
    with pytest.raises(cls) as info:
        client().send_sms(["66812345678"], "hi")
    assert info.value.retryable is retryable
    assert info.value.code == (None if code is None else str(code))
    assert info.value.status == status and info.value.provider == "thaibulksms"
    assert len(http.calls) == 1  # a send is never repeated in-process


def test_string_error_code_is_read(http):
    http.post(f"{BASE}/sms", status=423, json={"error": {"code": "116", "description": "Insufficient credit."}})
    with pytest.raises(InsufficientCreditError, match="Insufficient credit"):
        client().send_sms(["66812345678"], "hi")


@pytest.mark.parametrize("kwargs", [
    {"force": "premium"}, {"expire": "10"}, {"expire": "0:75"},
    {"scheduled_delivery": datetime(2026, 1, 1, 9, 0)},  # naive: which timezone?
])
def test_refuses_bad_arguments_before_calling(http, kwargs):
    with pytest.raises(ValueError):
        client().send_sms(["66812345678"], "hi", **kwargs)
    assert len(http.calls) == 0


def test_credit_request(http):
    http.get(f"{BASE}/credit", json={"remaining_credit": 4502})
    assert client().credit() == 4502
    request = http.calls[0].request
    assert request.method == "GET" and request.url == f"{BASE}/credit"
    assert request.headers["Authorization"] == BASIC and request.body is None


def test_credit_split_by_type(http):
    http.get(f"{BASE}/credit", json={"remaining_credit": {"standard": 10, "corporate": 90}})
    assert client(force="corporate").credit() == 90
    http.get(f"{BASE}/credit", json={"remaining_credit": {"standard": 10, "corporate": 90}})
    assert client().credit() == 100


def test_credit_retries_a_server_blip(http):
    http.get(f"{BASE}/credit", status=500, json={"error": {"code": 4, "description": "Database Failure."}})
    http.get(f"{BASE}/credit", json={"remaining_credit": 1})
    assert client().credit() == 1 and len(http.calls) == 2


def test_credit_auth_failure(http):
    http.get(f"{BASE}/credit", status=401, json={"error": {"code": 100, "description": "Authentication failed."}})
    with pytest.raises(AuthenticationError):
        client().credit()


def test_from_settings(http):
    http.get(f"{BASE}/credit", json={"remaining_credit": 3})
    settings = Settings(_env_file=None, thaibulksms_api_key="key_test", thaibulksms_api_secret="secret_test",
                        thaibulksms_base_url=BASE, thaibulksms_sender="HOSPITAL")
    api = ThaiBulkSmsClient.from_settings(settings)
    assert api.credit() == 3 and api.sender == "HOSPITAL"
    assert http.calls[0].request.headers["Authorization"] == BASIC
    with pytest.raises(RuntimeError):
        ThaiBulkSmsClient.from_settings(Settings(_env_file=None, thaibulksms_api_key=None))


def test_errors_never_carry_the_numbers(http):
    http.post(f"{BASE}/sms", status=400,
              json={"error": {"code": 114, "description": "MSISDN is invalid: 66812345678"}})
    with pytest.raises(ProviderError) as info:
        client().send_sms(["66812345678"], "hi")
    assert "66812345678" not in str(info.value) and "…5678" in str(info.value)
