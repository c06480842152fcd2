"""``POST /api/v1/appointments`` and ``GET /api/v1/appointments/notices/<id>``: every answer shape."""

from __future__ import annotations

import json

import pytest
import requests

from handlers.app import create_app
from tests.conftest import make_settings
from tests.moph_support import (  # noqa: F401  (moph is a fixture)
    API_TOKEN,
    CIDS,
    MOPH_SETTINGS,
    SEND_NOW,
    appointment_row,
    moph,
    work,
)
from workers.queues import QUEUE_NAMES, get_queue
from workers.services import Services

URL = "/api/v1/appointments"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, **MOPH_SETTINGS)


def client_with(redis_server, line_stub, redis, **overrides):
    settings = make_settings(redis_server, line_stub, **{**MOPH_SETTINGS, **overrides})
    return create_app(settings, services=Services(settings, redis_connection=redis)).test_client()


def queued_jobs(redis) -> int:
    return sum(len(get_queue(redis, name)) for name in QUEUE_NAMES)


# --- success ------------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_one_appointment_is_accepted_and_sent_by_a_worker(client, moph, redis):
    response = client.post(URL, json=appointment_row(), headers=AUTH)
    assert response.status_code == 202
    body = response.get_json()
    assert body["queued"] == 1 and body["duplicates"] == 0
    (item,) = body["items"]
    assert item["index"] == 0 and item["appointment_id"] == "A-1001"
    assert item["status"] == "queued" and item["notice"] == "booked"
    assert item["cid"] == "…" + CIDS[0][-4:] and CIDS[0] not in response.get_data(as_text=True)
    assert len(item["reminders"]) == 1 and item["reminders"][0].endswith("09:00:00+07:00")
    assert len(moph.mock.calls) == 0  # no HTTP to MOPH inside the request

    work(redis)
    (call,) = moph.calls(SEND_NOW)
    assert json.loads(call.request.body)["datas"] == [CIDS[0]]
    status = client.get(f"{URL}/notices/{item['notice_id']}", headers=AUTH)
    assert status.status_code == 200
    assert status.get_json()["status"] == "sent" and status.get_json()["notice_id"] == item["notice_id"]


@pytest.mark.usefixtures("jobs_here")
def test_a_list_is_accepted_with_per_item_status_and_repeats_are_skipped(client, moph, redis):
    rows = [appointment_row(f"A-{n}", CIDS[n]) for n in range(3)]
    first = client.post(URL, json=rows, headers=AUTH)
    assert first.status_code == 202
    assert [i["status"] for i in first.get_json()["items"]] == ["queued"] * 3
    again = client.post(URL, json=rows + [appointment_row("A-9", CIDS[9])], headers=AUTH)
    assert again.status_code == 202
    assert [i["status"] for i in again.get_json()["items"]] == ["skipped-duplicate"] * 3 + ["queued"]
    assert again.get_json()["duplicates"] == 3
    work(redis)
    assert sorted(json.loads(c.request.body)["datas"][0] for c in moph.calls(SEND_NOW)) == sorted(
        [CIDS[0], CIDS[1], CIDS[2], CIDS[9]])


@pytest.mark.usefixtures("jobs_here")
def test_failed_notice_shows_in_its_status(client, moph, redis):
    moph.replace("POST", SEND_NOW, json={"message": "invalid message", "message_code": 400})
    notice_id = client.post(URL, json=appointment_row(), headers=AUTH).get_json()["items"][0]["notice_id"]
    work(redis)
    status = client.get(f"{URL}/notices/{notice_id}", headers=AUTH).get_json()
    assert status["status"] == "failed" and "invalid message" in status["error"]


@pytest.mark.usefixtures("jobs_here")
def test_a_notice_moph_may_have_pushed_shows_as_uncertain(client, moph, redis):
    moph.replace("POST", SEND_NOW, body=requests.ReadTimeout("read timed out"))
    notice_id = client.post(URL, json=appointment_row(), headers=AUTH).get_json()["items"][0]["notice_id"]
    work(redis)
    status = client.get(f"{URL}/notices/{notice_id}", headers=AUTH).get_json()
    assert status["status"] == "uncertain" and "หมอพร้อม" in status["error"]
    again = client.post(URL, json=appointment_row(), headers=AUTH).get_json()["items"][0]
    assert again["status"] == "skipped-duplicate"  # a HIS re-sending its request does not push twice
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 1


# --- failures ---------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"},
                                     {"Authorization": API_TOKEN}, {"Authorization": f"Basic {API_TOKEN}"}])
def test_401_without_the_right_bearer_token(client, redis, headers):
    response = client.post(URL, json=appointment_row(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.get_json()
    assert client.get(f"{URL}/notices/abc", headers=headers).status_code == 401
    assert queued_jobs(redis) == 0


def test_503_while_the_api_token_is_not_set(redis_server, line_stub, redis):
    client = client_with(redis_server, line_stub, redis, appointments_api_token=None)
    response = client.post(URL, json=appointment_row(), headers=AUTH)
    assert response.status_code == 503 and "APPOINTMENTS_API_TOKEN" in response.get_json()["error"]


def test_503_while_moph_is_not_configured(redis_server, line_stub, redis):
    client = client_with(redis_server, line_stub, redis, moph_password_hash=None)
    response = client.post(URL, json=appointment_row(), headers=AUTH)
    assert response.status_code == 503 and "MOPH_PASSWORD_HASH" in response.get_json()["error"]
    assert queued_jobs(redis) == 0


@pytest.mark.parametrize("data", [b"not json", b"[]", b'"text"', b"42", b"null"])
def test_400_when_the_body_is_not_appointments(client, redis, data):
    response = client.post(URL, data=data, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "appointment" in response.get_json()["error"]
    assert queued_jobs(redis) == 0


def test_400_lists_every_bad_field_of_every_bad_item_and_queues_nothing(client, redis, moph):
    rows = [appointment_row("A-1"),
            appointment_row("A-2", cid="1234567890123", date="2026-02-30"),
            {"appointment_id": "A-3", "cid": CIDS[3], "time": "25:00", "clinic": "", "status": "maybe"},
            "not an object"]
    response = client.post(URL, json=rows, headers=AUTH)
    assert response.status_code == 400
    body = response.get_json()
    assert "nothing was queued" in body["error"]
    assert [i["index"] for i in body["invalid"]] == [1, 2, 3]
    assert body["invalid"][0] == {"index": 1, "appointment_id": "A-2", "errors": {
        "cid": "check digit does not match (mistyped citizen ID?)", "date": "is not a real calendar date"}}
    assert set(body["invalid"][1]["errors"]) == {"date", "time", "clinic", "status"}
    assert body["invalid"][2]["appointment_id"] is None
    assert "1234567890123" not in response.get_data(as_text=True)
    assert queued_jobs(redis) == 0 and redis.keys("appt:*") == []


def test_413_for_more_than_1000_items(client, redis):
    response = client.post(URL, json=[appointment_row(f"A-{n}") for n in range(1001)], headers=AUTH)
    assert response.status_code == 413
    assert "1000" in response.get_json()["error"]
    assert queued_jobs(redis) == 0


def test_413_for_a_body_over_the_size_limit(redis_server, line_stub, redis):
    client = client_with(redis_server, line_stub, redis, max_webhook_bytes=1000)
    response = client.post(URL, json=appointment_row(note="ก" * 400), headers=AUTH)
    assert response.status_code == 413 and "error" in response.get_json()
    assert queued_jobs(redis) == 0


def test_404_for_an_unknown_notice(client):
    assert client.get(f"{URL}/notices/booked_booked_0123", headers=AUTH).status_code == 404
    assert client.get(f"{URL}/notices/bad%20id!", headers=AUTH).status_code == 404
