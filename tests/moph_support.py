"""Shared by the appointment tests: MOPH Alert stubbed with ``responses``, made-up CIDs, settings.

Every CID here is made up and checksum-valid; every token is fake.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
import responses
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.knowledge import hospital_name
from workers.queues import QUEUE_NAMES, get_queue

BASE = "https://moph.example.test"
TOKEN_URL = "https://token.example.test/token"
SEND_NOW = f"{BASE}/api/v2/send-message/send-now"
UPLOAD_JSON = f"{BASE}/api/v2/send-message/upload-data-json"
UPLOAD_CSV = f"{BASE}/api/v2/send-message/upload-data"
UPLOAD_MESSAGE = f"{BASE}/api/v2/send-message/upload-message"
API_TOKEN = "test-appointments-token-0123456789abcdef"
OTP_SECRET = "otp-secret-for-tests-only-0123456789"
HOSPITAL = hospital_name()  # the shipped knowledge base's: notices are headed with it
OK = {"message": "", "message_code": 200}

MOPH_SETTINGS = dict(moph_alert_base_url=BASE, moph_token_url=TOKEN_URL, moph_user="moph-user",
                     moph_password_hash="FAKEHASH0123456789", moph_hospital_code="10999",
                     appointments_api_token=API_TOKEN, otp_secret=OTP_SECRET, hospital_color="#0A7E5A")


def make_cid(first12: str) -> str:
    """A made-up, checksum-valid CID: the 12 given digits plus their check digit."""
    total = sum(int(first12[i]) * (13 - i) for i in range(12))
    return first12 + str((11 - total % 11) % 10)


CIDS = [make_cid(f"1101700{n:05d}") for n in range(1, 40)]


def fake_jwt(exp: float | None = None, marker: str = "a", *, has_exp: bool = True) -> str:
    """A JWT-shaped made-up token (unsigned), valid for a day unless ``exp`` says otherwise.

    Only the payload's ``exp`` matters to the client; ``has_exp=False`` leaves it out.
    """
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    claims = {"sub": f"fake-{marker}", "iss": "test"}
    if has_exp:
        claims["exp"] = int(exp if exp is not None else time.time() + 86400)
    return f"{part({'alg': 'RS512', 'typ': 'JWT'})}.{part(claims)}.sig{marker}"


def future_day(days: int = 30) -> str:
    """A date ``days`` ahead of today in Bangkok, so tests never age into the past."""
    from bot.appointments import BANGKOK

    return (dt.datetime.now(BANGKOK).date() + dt.timedelta(days=days)).isoformat()


def appointment_row(appointment_id: str = "A-1001", cid: str = CIDS[0], **overrides) -> dict:
    row = {"appointment_id": appointment_id, "cid": cid, "date": future_day(), "time": "09:30",
           "clinic": "คลินิกอายุรกรรม", "doctor": "นพ. ทดสอบ ระบบ", "location": "อาคาร 1 ชั้น 2",
           "status": "booked"}
    row.update(overrides)
    return row


class MophStub:
    """A ``responses`` stand-in for MOPH Alert and the token endpoint, with call filters."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.token = fake_jwt()
        mock.get(TOKEN_URL, body=self.token)
        for url in (SEND_NOW, UPLOAD_MESSAGE):
            mock.post(url, json=OK)
        mock.post(UPLOAD_JSON, json={"file_id": "file-json-1", **OK})
        mock.post(UPLOAD_CSV, json={"file_id": "file-csv-1", **OK})

    def calls(self, url: str) -> list:
        return [c for c in self.mock.calls if c.request.url.split("?")[0] == url]

    def bodies(self, url: str) -> list[dict]:
        return [json.loads(c.request.body) for c in self.calls(url)]

    @property
    def token_calls(self) -> list:
        return self.calls(TOKEN_URL)

    def all_moph_calls(self) -> list:
        return [c for c in self.mock.calls if c.request.url.startswith(BASE)]

    def replace(self, method: str, url: str, **kwargs) -> None:
        """Answer ``url`` differently from now on (e.g. ``status=500``)."""
        self.mock.replace(method, url, **kwargs)


@pytest.fixture
def moph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield MophStub(mock)


def work(redis, *, with_scheduler: bool = False) -> None:
    """A real RQ worker in this process, burst mode; with the scheduler, due scheduled jobs run too."""
    queues = [get_queue(redis, name) for name in QUEUE_NAMES]
    worker = SimpleWorker(queues, connection=redis, serializer=JSONSerializer, log_job_description=False)
    worker.work(burst=True, with_scheduler=with_scheduler)
