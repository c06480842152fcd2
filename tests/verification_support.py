"""Shared by the verification and SMS-webhook tests: SEPSMS / ThaiBulkSMS / Oho stubbed with
``responses``, a patient talking through signed LINE webhooks, a clock the flow reads.

Every phone number, key and token here is made up.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs

import pytest
import responses
from rq.registry import ScheduledJobRegistry

from tests.conftest import make_settings
from tests.support import FakeClock, text_event
from workers.queues import DEFAULT_QUEUE, get_queue
from workers.verification.feature import VerificationFeature
from workers.verification.outcome import TELLING_LEASE

SEP = "https://sepsms.test/api/v2"
TBS = "https://thaibulksms.test"
OHO = "https://oho.test"
BOT_ID = "U" + "b0" * 16
USER = "U" + "e1" * 16
CONTACT_URL = f"{OHO}/contact/line/{BOT_ID}/user/{USER}"
PHONE, MSISDN = "0812345678", "66812345678"
SMS_SETTINGS = dict(
    sepsms_api_key="sk_sep_test_0000", sepsms_base_url=SEP, sepsms_origin="HOSPITAL",
    sepsms_webhook_secret="whsec_test_current_0123456789abcdef",
    otp_secret="otp-secret-for-tests-only-0123456789",
    thaibulksms_api_key="tbs-test-key", thaibulksms_api_secret="tbs-test-secret", thaibulksms_base_url=TBS,
    thaibulksms_sender="HOSPITAL", thaibulksms_webhook_token="tbs-hook-token-test-0123456789abcdef",
    oho_api_key="oho-test-key-not-real", oho_base_url=OHO, oho_platform_id=BOT_ID,
    otp_max_attempts=3, otp_resend_seconds=60, otp_ttl_seconds=300,
)


# -- stand-ins ---------------------------------------------------------------------------------

class SmsStub:
    """SEPSMS and ThaiBulkSMS as ``responses`` callbacks that remember what was sent."""

    def __init__(self, rsps, provider):
        self.rsps, self.provider = rsps, provider
        self.codes: dict[str, str] = {}      # reference → code (SEPSMS makes them; we read ThaiBulkSMS's SMS)
        self.references: list[str] = []
        self.message_ids: list[str] = []
        self.fail_next_send: Exception | None = None
        self.delay = 0.0  # seconds each answer takes: a slow provider
        #: SEPSMS documents only the success body of /otp/verify: a wrong pin answered with this
        #: (status, body) instead of ``verified: false`` plays one of the shapes it might take.
        self.wrong_pin_answer: tuple[int, dict] | None = None
        rsps.add_callback("POST", f"{SEP}/otp/send", callback=self._sepsms_send)
        rsps.add_callback("POST", f"{SEP}/otp/verify", callback=self._sepsms_verify)
        rsps.add_callback("POST", f"{TBS}/sms", callback=self._thaibulksms_send)

    def calls(self, path):
        return [c for c in self.rsps.calls if c.request.url.endswith(path)]

    @property
    def sends(self):
        return self.calls("/otp/send") + self.calls("/sms")

    @property
    def checks(self):
        return self.calls("/otp/verify")

    @property
    def code(self):
        return self.codes[self.references[-1]]

    def _failing(self):
        time.sleep(self.delay)  # the provider being slow is the fault under test, not a wait for it
        if self.fail_next_send is not None:
            exc, self.fail_next_send = self.fail_next_send, None
            raise exc

    def _sepsms_send(self, request):
        self._failing()
        n = len(self.references)
        reference, uuid = f"SEP{n}X", f"uuid-{n}"
        self.codes[reference] = f"{482910 + n}"
        self.references.append(reference)
        self.message_ids.append(uuid)
        return 200, {}, json.dumps({"result": {"uuid": uuid, "reference": reference, "destination": MSISDN,
                                               "expiresAt": "2026-01-15T10:35:00.000Z", "ttlSeconds": 300}})

    def _sepsms_verify(self, request):
        time.sleep(self.delay)
        body = json.loads(request.body)
        ok = self.codes.get(body["reference"]) == body["pin"]
        if not ok and self.wrong_pin_answer is not None:
            status, answer = self.wrong_pin_answer
            return status, {}, json.dumps(answer)
        return 200, {}, json.dumps({"result": {"reference": body["reference"], "verified": ok}})

    def _thaibulksms_send(self, request):
        self._failing()
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        code, reference = re.search(r"OTP (\d{6}) \(Ref: (\w+)\)", form["message"]).groups()
        message_id = f"tbs-msg-{len(self.references)}"
        self.codes[reference] = code
        self.references.append(reference)
        self.message_ids.append(message_id)
        return 200, {}, json.dumps({"remaining_credit": 100, "total_use_credit": 1, "credit_type": "standard",
                                    "phone_number_list": [{"number": form["msisdn"], "message_id": message_id,
                                                           "used_credit": 1}],
                                    "bad_phone_number_list": []})


class Patient:
    """A LINE user talking to the bot: each action goes through the webhook and a worker run."""

    def __init__(self, webhook, run_worker, line_stub, user=USER):
        self.webhook, self.run_worker, self.line_stub, self.user = webhook, run_worker, line_stub, user
        self.seen = 0

    def say(self, text):
        return self._send(text_event(text, user=self.user))

    def press(self, data):
        event = text_event("", user=self.user, type="postback", postback={"data": data})
        del event["message"]
        return self._send(event)

    def _send(self, event):
        assert self.webhook.post([event]).status_code == 200
        self.run_worker()
        return self.news()

    def news(self):
        """The texts LINE accepted (replies and pushes) since the last look."""
        sent = [r for r, answer in self.line_stub.log[self.seen:]
                if r.path.startswith("/v2/bot/message/") and answer.status_code < 300]
        self.seen = len(self.line_stub.log)
        return [m.get("text", m.get("altText", "")) for r in sent for m in r.get_json()["messages"]]

    def pushes(self):
        return [r for r, _ in self.line_stub.log if r.path == "/v2/bot/message/push"]




# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(params=["sepsms", "thaibulksms"])
def provider(request):
    return request.param


@pytest.fixture
def settings(redis_server, line_stub, provider):
    return make_settings(redis_server, line_stub, sms_provider=provider, **SMS_SETTINGS)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(CONTACT_URL, json={"ok": True, "status_code": 200, "message": "ok", "data": {
            "display_name": "Somchai T.", "tags": ["vip", "diabetes"],
            "attributes": [{"display_name": "hn", "value": {"text": "HN-0001"}}]}})
        mock.patch(CONTACT_URL, json={"ok": True, "status_code": 200, "message": "ok"})
        yield mock


@pytest.fixture
def sms(rsps, provider):
    return SmsStub(rsps, provider)


@pytest.fixture
def patient(webhook, run_worker, line_stub, sms):
    return Patient(webhook, run_worker, line_stub)


@pytest.fixture
def clock(services):
    [feature] = [f for f in services.conversation_features if isinstance(f, VerificationFeature)]
    feature.clock = FakeClock()
    return feature.clock


def run_scheduled(redis, run_worker):
    """Run the scheduled jobs now (retries, backstops, paced sends), as RQ's scheduler would at their time."""
    queue = get_queue(redis, DEFAULT_QUEUE)
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        job = queue.fetch_job(job_id)
        registry.remove(job)
        queue.enqueue_job(job)
    run_worker()


def lapse_tellings(redis, seconds: float = TELLING_LEASE) -> None:
    """Move every outcome's telling (``claim_telling``) ``seconds`` into the past: what the time until a
    backstop's run (60 s) does to the telling of an attempt that died or failed."""
    for key in redis.scan_iter("verify:request:*"):
        for field, held in redis.hgetall(key).items():
            if field.startswith(b"teller:"):
                who, at = held.decode().rsplit("@", 1)
                redis.hset(key, field, f"{who}@{float(at) - seconds:.3f}")


def code_sent(patient, sms):
    """Start, give the number, and return what the patient was told."""
    assert "เบอร์มือถือ" in patient.say("ยืนยันตัวตน")[0]
    return patient.say("081-234-5678")
