"""Delivery-report endpoints: who may call them, and what a report does to the patient's verification."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from handlers.app import create_app
from tests.conftest import make_settings
from tests.verification_support import (  # noqa: F401  (fixtures used by name)
    SMS_SETTINGS,
    USER,
    clock,
    code_sent,
    patient,
    provider,
    rsps,
    settings,
    sms,
)
from workers.services import Services
from workers.verification.store import VerificationStore

SECRET = SMS_SETTINGS["sepsms_webhook_secret"]
NEW, OLD = "whsec_new_" + "n" * 32, "whsec_old_" + "o" * 32
TOKEN = SMS_SETTINGS["thaibulksms_webhook_token"]


def signed(body: bytes, t: int | None = None, secret: str = SECRET) -> str:
    t = int(time.time()) if t is None else t
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def post_sepsms(client, payload, event="dr.failed", signature=None, body=None):
    body = json.dumps(payload).encode() if body is None else body
    headers = {"Content-Type": "application/json", "X-Webhook-Event": event,
               "X-Webhook-Signature": signed(body) if signature is None else signature}
    return client.post("/webhooks/sepsms", data=body, headers=headers)


def request_of(redis):
    store = VerificationStore(redis, prefix="")
    return store.request(store.state(USER).request_id)


def quiet(rsps, line_stub):
    """What has reached any provider so far: a webhook must add nothing to it."""
    return len(rsps.calls), len(line_stub.log)


# -- SEPSMS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["sepsms"])
def test_sepsms_failed_delivery_tells_the_patient_and_offers_a_resend(client, patient, sms, rsps, redis,
                                                                      line_stub, run_worker, clock):
    code_sent(patient, sms)
    before = quiet(rsps, line_stub)
    payload = {"smsUuid": sms.message_ids[-1], "msisdn": "66812345678", "txId": "tx1", "status": "failed"}
    answer = post_sepsms(client, payload)
    assert answer.status_code == 200 and answer.get_json()["matched"] is True
    assert post_sepsms(client, payload).status_code == 200  # delivered twice: told once
    assert quiet(rsps, line_stub) == before  # no outbound HTTP inside the request
    assert request_of(redis).delivery == "failed"
    run_worker()
    [told] = patient.news()
    assert "ส่งไม่ถึง" in told and "5678" in told
    push = [r for r, _ in line_stub.log if r.path == "/v2/bot/message/push"][-1]
    buttons = [i["action"]["data"] for i in push.get_json()["messages"][0]["quickReply"]["items"]]
    assert "action=verify-resend" in buttons
    clock.advance(61)
    resent = patient.press("action=verify-resend")
    assert len(sms.sends) == 2 and sms.references[-1] in resent[-1]


@pytest.mark.parametrize("provider", ["sepsms"])
def test_sepsms_success_is_recorded_silently(client, patient, sms, redis, run_worker):
    code_sent(patient, sms)
    payload = {"smsUuid": sms.message_ids[-1], "msisdn": "66812345678", "txId": "tx1", "status": "success"}
    assert post_sepsms(client, payload, event="dr.success").status_code == 200
    assert post_sepsms(client, {**payload, "status": "sent"}, event="sms.sent").status_code == 200
    run_worker()
    assert request_of(redis).delivery == "delivered"  # a late "sent" does not hide the outcome
    assert patient.news() == []


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("signature", [
    "t={now},v1=" + "0" * 64,                                 # forged
    "old",                                                     # signed, but 6 minutes ago
    "other-key",                                               # signed with another secret
    "",                                                        # missing
])
def test_sepsms_rejects_untrusted_callbacks(client, patient, sms, redis, run_worker, signature):
    code_sent(patient, sms)
    body = json.dumps({"smsUuid": sms.message_ids[-1], "status": "failed"}).encode()
    header = {"old": signed(body, t=int(time.time()) - 360), "other-key": signed(body, secret="whsec_wrong"),
              }.get(signature, signature.replace("{now}", str(int(time.time()))))
    assert post_sepsms(client, None, signature=header, body=body).status_code == 401
    run_worker()
    assert request_of(redis).delivery is None and patient.news() == []


@pytest.mark.parametrize("provider", ["sepsms"])
def test_sepsms_odd_but_genuine_callbacks(client, redis):
    assert post_sepsms(client, None, body=b"{not json").status_code == 400
    assert post_sepsms(client, ["a", "list"]).status_code == 400
    unknown = post_sepsms(client, {"smsUuid": "not-ours", "status": "failed"})
    assert unknown.status_code == 200 and unknown.get_json()["matched"] is False
    credit = post_sepsms(client, {"balance": 3}, event="credit.low")
    assert credit.status_code == 200 and credit.get_json()["event"] == "credit.low"


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("header", ["t={now},v1=é{sig}", "t={now},v1=", "v1={sig}"])
def test_sepsms_odd_signature_headers_are_401_not_500(client, header):
    # compare_digest chokes on non-ASCII text.
    body = json.dumps({"smsUuid": "x", "status": "failed"}).encode()
    sig = signed(body).split("v1=")[1]
    answer = post_sepsms(client, None, body=body,
                         signature=header.format(sig=sig, now=int(time.time())))
    assert answer.status_code == 401


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("t", ["²", "٣", "-5", "1" * 13, "9" * 5000])
def test_sepsms_timestamps_that_are_no_unix_time_are_400_even_when_signed(client, t):
    # "²" and "٣" pass str.isdigit() and int() chokes on them; int() refuses over 4,300 digits.
    body = json.dumps({"smsUuid": "x", "status": "failed"}).encode()
    signature = f"t={t},v1=" + hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    answer = post_sepsms(client, None, body=body, signature=signature)
    assert answer.status_code == 400 and "unix seconds" in answer.get_json()["error"]
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("provider", ["sepsms"])
@pytest.mark.parametrize("event", [5, ["dr.failed"], {"x": 1}])
def test_sepsms_odd_event_names_are_not_500(client, event):
    answer = post_sepsms(client, {"event": event, "smsUuid": "x", "status": "failed"}, event="")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"


def test_sepsms_accepts_the_previous_secret_while_rotating(redis_server, line_stub, redis):
    rotating = {**SMS_SETTINGS, "sepsms_webhook_secret": f"{NEW},{OLD}"}
    settings = make_settings(redis_server, line_stub, **rotating)
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    body = json.dumps({"smsUuid": "x", "status": "failed"}).encode()
    assert post_sepsms(client, None, body=body, signature=signed(body, secret=OLD)).status_code == 200
    assert post_sepsms(client, None, body=body, signature=signed(body, secret=NEW)).status_code == 200


def test_sepsms_without_a_secret_answers_503(redis_server, line_stub, redis):
    settings = make_settings(redis_server, line_stub)
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    body = b'{"smsUuid": "x", "status": "failed"}'
    assert post_sepsms(client, None, body=body, signature=signed(body)).status_code == 503


# -- ThaiBulkSMS ------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["thaibulksms"])
def test_thaibulksms_report_by_get_and_post(client, patient, sms, rsps, redis, line_stub, run_worker):
    code_sent(patient, sms)
    before = quiet(rsps, line_stub)
    query = {"Transaction": sms.message_ids[-1], "Status": "delivery", "Time": "1737020405"}
    answer = client.get(f"/webhooks/thaibulksms/{TOKEN}", query_string=query)
    assert answer.status_code == 200 and answer.get_json()["matched"] is True
    assert request_of(redis).delivery == "delivered"
    assert client.post(f"/webhooks/thaibulksms/{TOKEN}", data={**query, "Status": "failed"}).status_code == 200
    assert quiet(rsps, line_stub) == before
    run_worker()
    [told] = patient.news()
    assert "ส่งไม่ถึง" in told


@pytest.mark.parametrize("provider", ["thaibulksms"])
def test_thaibulksms_wrong_token_is_404_and_changes_nothing(client, patient, sms, redis, run_worker):
    code_sent(patient, sms)
    query = {"Transaction": sms.message_ids[-1], "Status": "failed"}
    for token in ("wrong-token", TOKEN[:-1], TOKEN + "x"):
        assert client.get(f"/webhooks/thaibulksms/{token}", query_string=query).status_code == 404
        assert client.post(f"/webhooks/thaibulksms/{token}", data=query).status_code == 404
    run_worker()
    assert request_of(redis).delivery is None and patient.news() == []


@pytest.mark.parametrize("provider", ["thaibulksms"])
def test_thaibulksms_odd_reports(client):
    assert client.get(f"/webhooks/thaibulksms/{TOKEN}", query_string={"Status": "failed"}).status_code == 400
    unknown = client.get(f"/webhooks/thaibulksms/{TOKEN}", query_string={"Transaction": "nope", "Status": "failed"})
    assert unknown.status_code == 200 and unknown.get_json()["matched"] is False
    assert client.post(f"/webhooks/thaibulksms/{TOKEN}", json={"Transaction": "nope", "Status": "x"}).status_code == 200


@pytest.mark.parametrize("provider", ["thaibulksms"])
@pytest.mark.parametrize("when", ["²", "٣٣", "9" * 12, "9" * 40, "-5", "2025-13-45"])
def test_thaibulksms_an_unreadable_time_is_not_500(client, patient, sms, redis, when):
    # The time is only informative: the report still counts (never a 500, which would be retried).
    code_sent(patient, sms)
    query = {"Transaction": sms.message_ids[-1], "Status": "delivery", "Time": when}
    answer = client.get(f"/webhooks/thaibulksms/{TOKEN}", query_string=query)
    assert answer.status_code == 200 and answer.get_json()["matched"] is True
    assert request_of(redis).delivery == "delivered"


def test_thaibulksms_without_a_token_is_404(redis_server, line_stub, redis):
    settings = make_settings(redis_server, line_stub)
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    assert client.get("/webhooks/thaibulksms/anything", query_string={"Transaction": "x"}).status_code == 404
    assert client.get("/webhooks/thaibulksms/", query_string={"Transaction": "x"}).status_code == 404
