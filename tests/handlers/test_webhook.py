"""POST /callback: verify, de-duplicate, queue, answer fast; never call out, never log bodies."""

import json
import logging
import time

import pytest
from redis import exceptions as redis_errors

from tests.support import text_event
from workers.line.inbox import RECEIVED_AT, event_id
from workers.maintenance import sweep
from workers.queues import LINE_QUEUE, get_queue


def queued_jobs(redis):
    return get_queue(redis, LINE_QUEUE).count


def test_signed_event_is_queued_and_acknowledged(webhook, redis, line_stub):
    event = text_event("เปิดกี่โมง")
    response = webhook.post([event])
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "queued": 1, "duplicates": 0}
    assert queued_jobs(redis) == 1
    queued = json.loads(redis.lindex(f"line:inbox:{event['source']['userId']}", 0))
    assert time.time() - 5 < queued.pop(RECEIVED_AT) <= time.time()  # when the webhook received it
    assert queued == event
    assert line_stub.log == []  # no outbound HTTP inside the request


def test_bad_signature_is_rejected_and_nothing_queued(webhook, redis, caplog):
    caplog.set_level(logging.DEBUG)
    response = webhook.post([text_event("ความลับของคนไข้")], signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 400
    assert queued_jobs(redis) == 0
    assert "ความลับของคนไข้" not in caplog.text


def test_missing_signature_is_rejected(client, redis):
    response = client.post("/callback", data=b'{"events": []}', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid signature"


def test_signature_over_reserialised_json_does_not_verify(webhook, redis):
    body = json.dumps({"events": [text_event("hi")]}).encode()
    respaced = json.dumps(json.loads(body), indent=1).encode()
    from tests.support import sign
    assert webhook.post(body=respaced, signature=sign(body)).status_code == 400
    assert queued_jobs(redis) == 0


def test_verify_button_payload_is_accepted(webhook, redis):
    response = webhook.post(body=b'{"destination":"U0","events":[]}')
    assert response.status_code == 200
    assert queued_jobs(redis) == 0


def test_malformed_json_with_valid_signature_is_400_and_process_stays_healthy(webhook, client, redis):
    for body in (b"{not json", b'{"events": "nope"}', b"[1,2]", b'{"events": [1]}', b"\xff\xfe"):
        assert webhook.post(body=body).status_code == 400, body
    assert client.get("/healthz").status_code == 200
    assert webhook.post(body=b'{"events": []}').status_code == 200


def test_oversized_body_is_413(webhook, settings):
    body = b'{"events": [], "pad": "' + b"x" * settings.max_webhook_bytes + b'"}'
    assert webhook.post(body=body).status_code == 413


def test_redelivered_event_is_queued_once(webhook, redis):
    event = text_event("สวัสดี")
    assert webhook.post([event]).get_json()["queued"] == 1
    redelivery = dict(event, deliveryContext={"isRedelivery": True})
    assert webhook.post([redelivery]).get_json() == {"status": "ok", "queued": 0, "duplicates": 1}
    assert redis.llen(f"line:inbox:{event['source']['userId']}") == 1


def test_one_drain_job_per_user_per_request(webhook, redis):
    a, b = "U" + "a" * 32, "U" + "b" * 32
    events = [text_event("1", user=a), text_event("2", user=b), text_event("3", user=a)]
    assert webhook.post(events).get_json()["queued"] == 3
    assert queued_jobs(redis) == 2
    assert redis.llen(f"line:inbox:{a}") == 2


def test_job_description_carries_no_patient_text(webhook, redis):
    webhook.post([text_event("เบอร์ 0812345678 ปวดท้อง")])
    job = get_queue(redis, LINE_QUEUE).jobs[0]
    assert "0812345678" not in job.description and "ปวดท้อง" not in job.description
    assert job.description.startswith("answer LINE events of …")
    assert job.timeout == 90 and not job.retries_left  # retries belong to each event, not to the drain job


def test_unconfigured_webhook_answers_503(redis_server, redis):
    from handlers.app import create_app
    from tests.conftest import make_settings
    from workers.services import Services
    settings = make_settings(redis_server, line_channel_secret=None)
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    assert client.post("/callback", data=b"{}").status_code == 503


def test_wrong_method_and_unknown_path_answer_json(client):
    assert client.get("/callback").status_code == 405
    response = client.get("/nope")
    assert response.status_code == 404 and "error" in response.get_json()


def test_access_log_names_the_route_not_the_path(client, caplog):
    caplog.set_level(logging.INFO, logger="access")
    client.get("/webhooks/livedesk/secret-path-token-123")
    client.get("/healthz")
    assert "secret-path-token-123" not in caplog.text
    assert "GET /healthz 200" in caplog.text


def test_an_empty_channel_secret_is_not_a_secret(redis_server, redis):
    """``LINE_CHANNEL_SECRET=`` must not accept bodies signed with the empty key."""
    from handlers.app import create_app
    from tests.conftest import make_settings
    from tests.support import sign
    from workers.services import Services
    settings = make_settings(redis_server, line_channel_secret="")
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    body = b'{"events": []}'
    response = client.post("/callback", data=body, headers={"X-Line-Signature": sign(body, secret="")})
    assert response.status_code == 503
    assert "LINE_CHANNEL_SECRET" in client.get("/readyz").get_json()["not_configured"]


def test_deeply_nested_json_is_a_400_not_a_crash(webhook, client):
    body = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert webhook.post(body=body).status_code == 400
    assert client.get("/healthz").status_code == 200


def test_a_waiting_drain_takes_later_events_without_a_new_job(webhook, redis, run_worker, line_stub):
    user = "U" + "e" * 32
    first, second = text_event("สวัสดี", user=user), text_event("ที่จอดรถ", user=user)
    webhook.post([first])
    webhook.post([second])  # the first drain has not started: it will read this one too
    assert queued_jobs(redis) == 1
    run_worker()
    tokens = [r.get_json()["replyToken"] for r, _ in line_stub.log if r.path == "/v2/bot/message/reply"]
    assert tokens == [first["replyToken"], second["replyToken"]]


def test_an_event_after_the_drain_started_queues_a_new_drain(webhook, redis):
    from workers.line.inbox import drain_inbox
    user = "U" + "f" * 32
    webhook.post([text_event("1", user=user)])
    handled = []

    def handle(event):  # while this drain runs, the next event arrives
        handled.append(event["message"]["text"])
        if len(handled) == 1:
            webhook.post([text_event("2", user=user)])

    drain_inbox(redis, user, handle)
    assert handled == ["1", "2"]  # the running drain reached it…
    assert queued_jobs(redis) == 2  # …and a drain was queued for it all the same (it will find nothing)


def test_a_lost_drain_is_started_again_by_the_sweeper_not_by_the_next_message(webhook, redis):
    import time

    from workers.maintenance import DRAIN_LOST_AFTER, sweep
    user = "U" + "9" * 32
    webhook.post([text_event("1", user=user)])
    get_queue(redis, LINE_QUEUE).empty()  # the drain job is lost (say, an operator emptied the queue)
    webhook.post([text_event("2", user=user)])
    assert queued_jobs(redis) == 0  # the note still says a drain is waiting
    assert sweep(redis) == 0        # and it is recent: the sweeper trusts it for now
    assert sweep(redis, now=time.time() + DRAIN_LOST_AFTER + 1) == 1
    assert queued_jobs(redis) == 1
    assert sweep(redis) == 0  # queued just now: not twice
    assert redis.llen(f"line:inbox:{user}") == 2  # nothing was lost meanwhile


def test_events_whose_drain_job_was_not_queued_are_started_by_the_sweeper(redis, monkeypatch):
    """The step that queues a user's own drain job fails (the process dies, Redis goes away): the
    events are in the inbox already, and the sweeper starts their drain; a redelivery adds nothing."""
    from workers.line import inbox
    user = "U" + "8" * 32
    event = text_event("1", user=user)

    def no_pipeline(*args, **kwargs):
        raise redis_errors.ConnectionError("gone")

    monkeypatch.setattr(redis, "pipeline", no_pipeline)
    with pytest.raises(redis_errors.ConnectionError):
        inbox.accept_events(redis, [event])
    monkeypatch.undo()
    assert queued_jobs(redis) == 0 and redis.llen(f"line:inbox:{user}") == 1
    assert inbox.accept_events(redis, [event]).duplicates == 1
    assert sweep(redis) == 1
    assert [j.args for j in get_queue(redis, LINE_QUEUE).jobs] == [[user]]


def test_the_receive_time_does_not_change_the_id_of_an_event_without_one():
    event = text_event("hi")
    del event["webhookEventId"]
    assert event_id({**event, RECEIVED_AT: 1.0}) == event_id({**event, RECEIVED_AT: 2.0}) == event_id(event)


def test_events_are_accepted_by_a_redis_that_never_saw_the_script(redis):
    """After a failover the new master has no cached scripts: the script is loaded again."""
    from workers.line.inbox import accept_events
    assert accept_events(redis, [text_event("1")]).queued == 1
    redis.script_flush()
    assert accept_events(redis, [text_event("2")]).queued == 1


DAY = 24 * 3600


def aged(event: dict, seconds: float) -> dict:
    return {**event, "timestamp": int((time.time() - seconds) * 1000)}


@pytest.mark.parametrize("age_days", [6.1, 8, 40])
def test_an_event_older_than_the_de_duplication_window_is_refused_and_nothing_is_sent(
        webhook, redis, run_worker, line_stub, caplog, age_days):
    """A captured body sent again once its "seen" marker may be gone (markers live 7 days) would be
    answered again: events older than 6 days are refused: 200 (LINE must not retry), logged, nothing sent."""
    caplog.set_level(logging.INFO)
    event = aged(text_event("ขอผลตรวจเลือด"), age_days * DAY)
    response = webhook.post([event])
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "queued": 0, "duplicates": 0, "too_old": 1}
    assert queued_jobs(redis) == 0 and not redis.exists(f"line:inbox:{event['source']['userId']}")
    run_worker()
    assert line_stub.log == []
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert event["source"]["userId"] not in line and event["webhookEventId"] not in line
    assert event["source"]["userId"][-4:] in line and "6 days" in line


def test_events_within_the_window_are_answered_and_an_old_one_beside_them_is_not(webhook, redis):
    user = "U" + "7" * 32
    fresh, late, old = (text_event("1", user=user), aged(text_event("2", user=user), 5 * DAY),
                        aged(text_event("3", user=user), 6 * DAY + 3600))
    answer = webhook.post([fresh, late, old]).get_json()
    assert answer == {"status": "ok", "queued": 2, "duplicates": 0, "too_old": 1}
    queued = [json.loads(raw)["message"]["text"] for raw in redis.lrange(f"line:inbox:{user}", 0, -1)]
    assert queued == ["1", "2"]


@pytest.mark.parametrize("stamp", ["missing", None, "1700000000000", True, [1], 1e400 * 0])
def test_an_event_without_a_usable_timestamp_is_refused(webhook, redis, stamp):
    event = text_event("สวัสดี")
    if stamp == "missing":
        del event["timestamp"]
    else:
        event["timestamp"] = stamp
    body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
    answer = webhook.post(body=body)
    assert answer.status_code == 200 and answer.get_json()["too_old"] == 1
    assert queued_jobs(redis) == 0
