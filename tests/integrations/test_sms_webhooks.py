import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from integrations.sms_webhooks import (
    InvalidDeliveryReport,
    WebhookSignatureError,
    parse_sepsms_event,
    parse_thaibulksms_dr,
    verify_sepsms_signature,
)

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
BODY = b'{"smsUuid":"9f8b","msisdn":"66812345678","txId":"8f3a","status":"success"}'
NOW = 1_737_020_405


def sign(body=BODY, t=NOW, secret=SECRET):
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_good_signature():
    verify_sepsms_signature(BODY, f"t={NOW},v1={sign()}", [SECRET], now=NOW + 10)


def test_rotated_secret_and_several_v1():
    # SEPSMS signs with the old and new secret during a rotation; we may know only one of them.
    header = f"t={NOW},v1={sign(secret=OLD_SECRET)},v1={sign()}"
    verify_sepsms_signature(BODY, header, [SECRET], now=NOW)
    verify_sepsms_signature(BODY, f"t={NOW},v1={sign(secret=OLD_SECRET)}", [SECRET, OLD_SECRET], now=NOW)


@pytest.mark.parametrize("body,header", [
    (BODY + b" ", f"t={NOW},v1={sign()}"),                                # body changed
    (BODY, f"t={NOW},v1={sign(secret='whsec_wrong')}"),                   # signed with another key
    (BODY, f"t={NOW + 1},v1={sign()}"),                                   # timestamp swapped
    (BODY, f"t={NOW},v1={sign().upper()[:-1]}"),                          # truncated
    (BODY, f"t={NOW},v1={hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}"),  # body only
])
def test_forged(body, header):
    with pytest.raises(WebhookSignatureError) as info:
        verify_sepsms_signature(body, header, [SECRET], now=NOW)
    assert info.value.reason == "mismatch"


@pytest.mark.parametrize("age,reason", [(301, "too_old"), (3600, "too_old"), (-301, "in_future")])
def test_stale_or_future_timestamp(age, reason):
    t = NOW - age
    with pytest.raises(WebhookSignatureError) as info:
        verify_sepsms_signature(BODY, f"t={t},v1={sign(t=t)}", [SECRET], now=NOW)
    assert info.value.reason == reason


def test_tolerance_edge_is_accepted():
    t = NOW - 300
    verify_sepsms_signature(BODY, f"t={t},v1={sign(t=t)}", [SECRET], now=NOW)
    verify_sepsms_signature(BODY, f"t={NOW + 300},v1={sign(t=NOW + 300)}", [SECRET], now=NOW)


@pytest.mark.parametrize("header", [
    None, "", "garbage", f"v1={sign()}", f"t={NOW}", f"t={NOW},v0={sign()}",
    f"t={NOW},v1=", f"t={NOW},v1=é", f"t={NOW},v1=ﬀ{sign()[2:]}",
])
def test_malformed_header(header):
    with pytest.raises(WebhookSignatureError) as info:
        verify_sepsms_signature(BODY, header, [SECRET], now=NOW)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("t", ["abc", "-5", "²", "¹²³", "٣", "1" * 13, "9" * 5000])
def test_a_timestamp_that_is_no_unix_time_is_a_bad_timestamp(t):
    signed = hmac.new(SECRET.encode(), t.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookSignatureError) as info:
        verify_sepsms_signature(BODY, f"t={t},v1={signed}", [SECRET], now=NOW)
    assert info.value.reason == "bad_timestamp"


def test_spaces_in_header_are_tolerated():
    verify_sepsms_signature(BODY, f"t={NOW}, v1={sign()}", [SECRET], now=NOW)


def test_no_secret_configured_refuses():
    with pytest.raises(WebhookSignatureError) as info:
        verify_sepsms_signature(BODY, f"t={NOW},v1={sign()}", ["", None], now=NOW)
    assert info.value.reason == "no_secret"


@pytest.mark.parametrize("status,outcome", [
    ("delivery", "delivered"), ("Delivered", "delivered"), ("failed", "failed"), ("undelivered", "failed"),
    ("expired", "failed"), ("rejected", "failed"), ("pending", "pending"), ("something-new", "pending"),
])
def test_thaibulksms_dr_status(status, outcome):
    report = parse_thaibulksms_dr({"Transaction": "5988d0f1404e", "Status": status, "Time": "1737020405"})
    assert report.transaction == "5988d0f1404e"
    assert report.status == outcome and report.raw_status == status
    assert report.time == datetime(2025, 1, 16, 9, 40, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("text,expected", [
    ("1737020405000", datetime(2025, 1, 16, 9, 40, 5, tzinfo=timezone.utc)),
    ("2025-01-16 16:40:05", datetime(2025, 1, 16, 16, 40, 5, tzinfo=timezone(timedelta(hours=7)))),
    ("", None), ("not a time", None),
    ("²", None), ("٣", None), ("9" * 12, None), ("9" * 40, None), ("2025-13-45", None),
])
def test_thaibulksms_dr_time_forms(text, expected):
    assert parse_thaibulksms_dr({"Transaction": "t", "Status": "delivery", "Time": text}).time == expected


def test_thaibulksms_dr_needs_a_transaction():
    with pytest.raises(InvalidDeliveryReport):
        parse_thaibulksms_dr({"Status": "delivery", "Time": "1737020405"})


def test_sepsms_event_from_header_and_body():
    event = parse_sepsms_event({"smsUuid": "9f8b", "msisdn": "66812345678", "txId": "8f3a", "status": "success"},
                               event="dr.success")
    assert (event.event, event.sms_uuid, event.tx_id, event.status) == ("dr.success", "9f8b", "8f3a", "delivered")
    assert event.msisdn == "66812345678"
    assert "66812345678" not in repr(event)


@pytest.mark.parametrize("event,status,outcome", [
    ("dr.failed", "failed", "failed"), ("sms.failed", None, "failed"), ("sms.sent", None, "pending"),
    (None, "success", "delivered"), (None, "failed", "failed"),
    ("credit.low", None, None), ("otp.verified", "success", None), ("sms.completed", "completed", None),
])
def test_sepsms_event_outcomes(event, status, outcome):
    payload = {"smsUuid": "u"} if status is None else {"smsUuid": "u", "status": status}
    assert parse_sepsms_event(payload, event=event).status == outcome


def test_sepsms_event_needs_an_object():
    with pytest.raises(InvalidDeliveryReport):
        parse_sepsms_event(["not", "an", "object"])
