"""GET /metrics: the bearer token, the counters moving as the web takes events and a real worker
answers them (by reply, by push, set aside), the state gauges read from Redis, and the metrics of a
separate worker process reaching the web's scrape through the multiprocess directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations.credit import CreditLedger
from integrations.metrics import endpoint_template, outcome
from tests.conftest import make_settings
from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, text_event
from workers.__main__ import build_worker
from workers.services import Services

TOKEN = "metrics-token-for-tests-0123456789abcdef"
USER = "U" + "e" * 32
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, metrics_token=TOKEN)


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    """A sample's value; an event metric's (one with a hospital label) of the one implicit hospital."""
    found = samples.get((name, *sorted(labels.items())))
    return found if found is not None else samples.get((name, *sorted({**labels, "hospital": "default"}.items())), 0.0)


def test_metrics_are_off_without_a_token(redis_server, line_stub, redis):
    settings = make_settings(redis_server, line_stub)
    from handlers.app import create_app

    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer "])
def test_metrics_need_the_bearer_token(client, header):
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "METRICS_TOKEN" in response.get_json()["error"]


def test_counters_move_as_events_are_answered_pushed_and_set_aside(client, webhook, run_worker, line_stub, redis):
    before = scrape(client)

    # 1. Answered by reply.
    webhook.post([text_event("เปิดกี่โมง", user=USER)])
    waiting = scrape(client)
    assert value(waiting, "linebot_inbox_users") == 1 and value(waiting, "linebot_inbox_events") == 1
    assert value(waiting, "linebot_queue_jobs", queue="line") == 1
    assert 0 <= value(waiting, "linebot_inbox_oldest_event_seconds") < 60
    run_worker()

    # 2. The reply token is refused: answered by push.
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "Invalid reply token"}, status=400)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})
    webhook.post([text_event("ที่จอดรถ", user=USER)])
    run_worker()

    # 3. LINE refuses the messages themselves: set aside at once.
    line_stub.clear_all_handlers()
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
        line_stub.expect_request(path).respond_with_json({"message": "The request body has 1 error(s)"}, status=400)
    duplicate = text_event("ปวดหัว", user=USER)
    webhook.post([duplicate, duplicate])
    run_worker()

    after = scrape(client)
    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("linebot_answers_total", how="reply") == 1
    assert delta("linebot_answers_total", how="push") == 1
    assert delta("linebot_queue_items_set_aside_total", queue="line:inbox") == 1
    assert delta("linebot_webhook_events_total", result="accepted") == 3
    assert delta("linebot_webhook_events_total", result="duplicate") == 1
    assert delta("linebot_answer_seconds_count") == 2   # webhook received -> LINE accepted
    assert delta("linebot_provider_requests_total", provider="line", endpoint="reply", outcome="2xx") == 1
    assert delta("linebot_provider_requests_total", provider="line", endpoint="reply", outcome="4xx") == 2
    assert delta("linebot_provider_requests_total", provider="line", endpoint="push", outcome="2xx") == 1
    assert value(after, "linebot_dead_items", list="line:dead-events") == 1
    assert value(after, "linebot_inbox_users") == 0 and value(after, "linebot_queue_jobs", queue="line") == 0
    assert value(after, "linebot_redis_up") == 1


def test_webhook_rejections_are_counted_by_reason(client, webhook):
    before = scrape(client)
    webhook.post([text_event("hi")], signature="bad")
    webhook.post(body=b'{"events": 1}')
    after = scrape(client)
    for reason in ("bad_signature", "not_a_webhook_payload"):
        assert value(after, "linebot_webhook_rejected_total", reason=reason) \
            - value(before, "linebot_webhook_rejected_total", reason=reason) == 1


def test_state_gauges_read_workers_credit_and_handoffs_from_redis(client, services, redis):
    from bot.handoff.state import HandoffState

    CreditLedger(redis, threshold=500).record("sepsms", 420)
    services.handoff.store.open(USER, HandoffState(session="s1", reason="asked", since=1.0))
    worker = build_worker(services, connection=redis, queue_names=("line", "default"))
    worker.register_birth()
    try:
        samples = scrape(client)
    finally:
        worker.register_death()
    assert value(samples, "linebot_workers", queue="line") == 1
    assert value(samples, "linebot_workers", queue="bulk") == 0
    assert value(samples, "linebot_sms_credit", provider="sepsms") == 420
    assert value(samples, "linebot_sms_credit_low_threshold") == 500
    assert value(samples, "linebot_handoffs_open") == 1 and value(samples, "linebot_handoffs_waiting") == 1
    assert value(samples, "linebot_handoff_oldest_waiting_seconds") > 1e9  # open since 1970 in this test
    assert value(scrape(client), "linebot_workers", queue="line") == 0


def test_a_redis_outage_still_answers_with_redis_up_zero(redis_server, line_stub, tmp_path):
    import redis as redis_lib

    from handlers.app import create_app

    settings = make_settings(redis_server, line_stub, metrics_token=TOKEN)
    dead = redis_lib.Redis(unix_socket_path=str(tmp_path / "nothing.sock"), socket_connect_timeout=0.5)
    client = create_app(settings, services=Services(settings, redis_connection=dead)).test_client()
    samples = scrape(client)
    assert value(samples, "linebot_redis_up") == 0
    assert ("linebot_inbox_users",) not in samples


def test_a_separate_worker_process_reports_through_the_multiprocess_directory(client, webhook, redis_server,
                                                                             line_stub):
    before = scrape(client)
    webhook.post([text_event("เปิดกี่โมง", user=USER)])
    env = {**os.environ, "REDIS_URL": redis_server.url, "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
           "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN, "LINE_API_BASE_URL": line_stub.url_for("").rstrip("/"),
           "LINE_DATA_API_BASE_URL": line_stub.url_for("").rstrip("/"), "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "workers", "--burst", "--queues", "line"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after = scrape(client)  # this process answered nothing: the count is the other process's
    assert value(after, "linebot_answers_total", how="reply") - value(before, "linebot_answers_total", how="reply") == 1
    assert len(line_stub.log) == 1


@pytest.mark.parametrize("path, template", [
    ("/contact/line/U" + "a" * 32 + "/user/U" + "b" * 32, "/contact/line/{id}/user/{id}"),
    ("/chat/line/1234567890/user/U" + "b" * 32 + "/request-agent", "/chat/line/{id}/user/{id}/request-agent"),
    ("/api/v2/accounts/conversations/141/messages/3030/retry", "/api/v2/accounts/conversations/{id}/messages/{id}/retry"),
    ("/api/v2/send-message/send-now", "/api/v2/send-message/send-now"),
    ("https://cvp1.example.go.th/token?Action=get&password_hash=SECRET", "/token"),
    ("/message/0f8fad5b-d9cb-469f-a165-70867728950e/recipients", "/message/{id}/recipients"),
])
def test_endpoint_labels_carry_no_ids(path, template):
    assert endpoint_template(path) == template


def test_outcomes():
    assert [outcome(s) for s in (200, 204, 302, 404, 429, 500, 503, None)] == \
        ["2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx", "timeout"]


def test_the_sample_alert_rules_use_only_metrics_we_export():
    import re

    import yaml

    rules = yaml.safe_load((ROOT / "docs" / "prometheus-alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"linebot_\w+", e)}
    defined = set(re.findall(r'"(linebot_\w+?)(?:_total)?"', (ROOT / "integrations" / "metrics.py").read_text()))
    assert used - {n + "_total" for n in defined} - defined == set()
    assert {"LineAnswersFailing", "LineBacklogOld", "DeadItems", "SmsCreditLow", "NoWorkerAlive"} <= {
        rule["alert"] for group in rules["groups"] for rule in group["rules"]}


def test_redis_findings_are_a_gauge_per_kind(redis_server, line_stub, redis):
    from handlers.app import create_app
    from tests.redis_servers import hosted_redis

    settings = make_settings(redis_server, line_stub, metrics_token=TOKEN)
    samples = scrape(create_app(settings, services=Services(settings, redis_connection=redis)).test_client())
    kinds = ("unchecked", "eviction", "no_aof", "lazy_fsync", "old_version")
    assert [value(samples, "linebot_redis_findings", finding=kind) for kind in kinds] == [0, 0, 0, 0, 0]
    assert ("linebot_redis_findings", ("finding", "no_aof")) in samples  # reported as 0, not left out

    with hosted_redis("--appendonly", "no", "--maxmemory-policy", "volatile-lru") as server:
        client = create_app(settings, services=Services(settings, redis_connection=server.client())).test_client()
        samples = scrape(client)
    assert [value(samples, "linebot_redis_findings", finding=kind) for kind in kinds] == [0, 1, 1, 0, 0]
