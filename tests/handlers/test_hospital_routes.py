"""Each hospital's webhooks on its own path, verified with its own secrets: one hospital's signature,
bot id or token opens no other hospital's path; a broken hospital file answers 503 for that hospital
alone; a hospital added to the registry is served without a restart."""

from __future__ import annotations

import json

import pytest

from handlers.app import create_app
from tests.conftest import make_settings
from tests.support import sign, text_event, wait_for

SECRETS = {"a": "a1" * 16, "b": "b2" * 16}
BOTS = {"a": "U" + "a1" * 16, "b": "U" + "b2" * 16}
TOKENS = {h: f"token.{h}." + h.upper() * 120 for h in "ab"}
WEBHOOK_TOKENS = {h: f"{h}-webhook-token-" + h * 32 for h in "ab"}


def hospital_file(h: str, **more) -> str:
    lines = [f'line_bot_user_id = "{BOTS[h]}"', f'line_channel_secret = "env:{h.upper()}_SECRET"',
             f'line_channel_access_token = "env:{h.upper()}_TOKEN"',
             f'livedesk_webhook_token = "env:{h.upper()}_LD_TOKEN"',
             f'thaibulksms_webhook_token = "env:{h.upper()}_TBS_TOKEN"',
             f'appointments_api_token = "env:{h.upper()}_HIS_TOKEN"',
             *(f'{name} = "{value}"' for name, value in more.items())]
    return "\n".join(lines) + "\n"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    for h in "ab":
        monkeypatch.setenv(f"{h.upper()}_SECRET", SECRETS[h])
        monkeypatch.setenv(f"{h.upper()}_TOKEN", TOKENS[h])
        for kind in ("LD", "TBS", "HIS"):
            monkeypatch.setenv(f"{h.upper()}_{kind}_TOKEN", WEBHOOK_TOKENS[h] + kind.lower())
        (tmp_path / f"{h}.toml").write_text(hospital_file(h, livedesk_inbox_id="79" if h == "b" else "78"))
    return tmp_path


@pytest.fixture
def client(redis_server, redis, line_stub, registry):
    settings = make_settings(redis_server, line_stub, hospitals_dir=str(registry))
    return create_app(settings).test_client()


def post_line(client, h_path, events, *, secret, destination):
    body = json.dumps({"destination": destination, "events": events}).encode()
    return client.post(f"/h/{h_path}/callback", data=body,
                       headers={"Content-Type": "application/json", "X-Line-Signature": sign(body, secret)})


def test_each_hospital_takes_its_own_signed_events(client):
    for h in "ab":
        answer = post_line(client, h, [text_event("เปิดกี่โมง")], secret=SECRETS[h], destination=BOTS[h])
        assert answer.status_code == 200 and answer.get_json()["queued"] == 1


def test_one_hospitals_signature_on_anothers_path_is_refused(client):
    answer = post_line(client, "b", [text_event("เปิดกี่โมง")], secret=SECRETS["a"], destination=BOTS["b"])
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid signature"


def test_an_event_for_another_bot_is_refused_even_when_signed_right(client):
    answer = post_line(client, "b", [text_event("เปิดกี่โมง")], secret=SECRETS["b"], destination=BOTS["a"])
    assert answer.status_code == 400 and "destination" in answer.get_json()["error"]


def test_one_hospitals_tokens_open_no_other_hospitals_paths(client):
    a_ld, a_tbs, a_his = (WEBHOOK_TOKENS["a"] + kind for kind in ("ld", "tbs", "his"))
    assert client.post(f"/h/b/webhooks/livedesk/{a_ld}", json={"event": "message_created"}).status_code == 404
    assert client.get(f"/h/b/webhooks/thaibulksms/{a_tbs}", query_string={"Status": "x"}).status_code == 404
    refused = client.post("/h/b/api/v1/appointments", json={"appointments": []},
                          headers={"Authorization": f"Bearer {a_his}"})
    assert refused.status_code == 401
    # ... while each opens its own hospital's path (here: past the token, to the body's check)
    assert client.post(f"/h/a/webhooks/livedesk/{a_ld}", data=b"[").status_code == 400
    assert client.get(f"/h/a/webhooks/thaibulksms/{a_tbs}", query_string={"Status": "x"}).status_code == 400


def test_a_livedesk_event_of_another_inbox_is_refused(client):
    event = {"event": "message_created", "message_type": "outgoing", "content": "hi", "id": 5,
             "conversation": {"id": 42, "inbox_id": 80}, "sender": {"type": "user", "id": 1}}
    answer = client.post(f"/h/b/webhooks/livedesk/{WEBHOOK_TOKENS['b']}ld", json=event)
    assert answer.status_code == 400 and "inbox" in answer.get_json()["error"]


def test_unknown_hospitals_and_todays_paths_are_not_found_with_a_registry(client):
    assert post_line(client, "zz", [], secret=SECRETS["a"], destination=BOTS["a"]).status_code == 404
    body = json.dumps({"destination": BOTS["a"], "events": []}).encode()
    assert client.post("/callback", data=body, headers={"X-Line-Signature": sign(body, SECRETS["a"])}).status_code == 404
    assert client.get("/healthz").status_code == 200  # the process's own stay at the root


def test_a_broken_file_answers_503_for_that_hospital_alone(client, registry):
    (registry / "b.toml").write_text('line_channel_secret = "written-in-the-file"\n')
    wait_for(lambda: post_line(client, "b", [], secret=SECRETS["b"], destination=BOTS["b"]).status_code == 503,
             timeout=15, what="b disabled")
    answer = post_line(client, "b", [], secret=SECRETS["b"], destination=BOTS["b"])
    assert answer.headers["Retry-After"] and "broken" in answer.get_json()["error"]
    assert post_line(client, "a", [text_event("hi")], secret=SECRETS["a"], destination=BOTS["a"]).status_code == 200


def test_a_hospital_added_to_the_registry_is_served_without_a_restart(client, registry, monkeypatch):
    monkeypatch.setenv("C_SECRET", "c3" * 16)
    monkeypatch.setenv("C_TOKEN", "token.c." + "C" * 120)
    assert post_line(client, "c", [], secret="c3" * 16, destination="U" + "c3" * 16).status_code == 404
    (registry / "c.toml").write_text(f'line_bot_user_id = "U{"c3" * 16}"\nline_channel_secret = "env:C_SECRET"\n'
                                     'line_channel_access_token = "env:C_TOKEN"\n')
    wait_for(lambda: post_line(client, "c", [text_event("hi")], secret="c3" * 16,
                               destination="U" + "c3" * 16).status_code == 200, timeout=15, what="c served")


def test_readiness_per_hospital_and_the_registry_at_a_glance(client, registry):
    (registry / "b.toml").write_text('line_channel_secret = "written-in-the-file"\n')
    (registry / "c.toml").write_text(f'line_bot_user_id = "U{"c3" * 16}"\n')  # served, but LINE not set up yet
    def glance():
        return client.get("/readyz").get_json()["hospitals"]
    wait_for(lambda: set(glance()) == {"a", "b", "c"} and glance()["b"]["status"] == "not served",
             timeout=15, what="the registry re-read")
    hospitals = glance()
    assert hospitals["a"] == {"status": "served", "not_configured": []}
    assert hospitals["c"]["not_configured"] == ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"]
    assert "LINE_CHANNEL_SECRET" in hospitals["b"]["fix"] and hospitals["b"]["see"] == "flask hospitals check"
    assert "written-in-the-file" not in json.dumps(hospitals)
    assert client.get("/readyz").status_code == 200
    assert "not_configured" not in client.get("/readyz").get_json()  # the environment's serve nobody here
    assert client.get("/h/a/readyz").get_json()["not_configured"] == []
    assert "hospitals" not in client.get("/h/a/readyz").get_json()
    assert client.get("/h/c/readyz").get_json()["not_configured"] == ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"]
    assert client.get("/h/b/readyz").status_code == 503


def test_staff_commands_say_which_hospital(redis_server, redis, line_stub, registry):
    (registry / "c.toml").write_text("this is [ not toml")
    app = create_app(make_settings(redis_server, line_stub, hospitals_dir=str(registry)))
    runner = app.test_cli_runner()
    asked = runner.invoke(args=["handoff", "list"])
    assert asked.exit_code == 2 and "--hospital" in asked.output and "one of: a, b" in asked.output
    assert runner.invoke(args=["handoff", "--hospital", "b", "list"]).exit_code == 0
    unknown = runner.invoke(args=["handoff", "--hospital", "zz", "list"])
    assert unknown.exit_code == 2 and "no such hospital" in unknown.output
    broken = runner.invoke(args=["handoff", "--hospital", "c", "list"])
    assert broken.exit_code == 2 and "problems" in broken.output


def test_a_hospital_named_to_a_deployment_of_one_is_refused(app):
    asked = app.test_cli_runner().invoke(args=["handoff", "--hospital", "b", "list"])
    assert asked.exit_code == 2 and "serves one hospital" in asked.output
    assert app.test_cli_runner().invoke(args=["handoff", "list"]).exit_code == 0


def test_event_metrics_say_which_hospital(redis_server, redis, line_stub, registry):
    token = "m" * 40
    client = create_app(make_settings(redis_server, line_stub, hospitals_dir=str(registry),
                                      metrics_token=token)).test_client()

    def rejected(h: str) -> float:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
        line = f'linebot_webhook_rejected_total{{hospital="{h}",reason="wrong_destination"}}'
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)

    before = {h: rejected(h) for h in "ab"}
    assert post_line(client, "b", [], secret=SECRETS["b"], destination=BOTS["a"]).status_code == 400
    assert rejected("b") == before["b"] + 1 and rejected("a") == before["a"]


def test_state_gauges_say_which_hospital(redis_server, redis, line_stub, registry):
    """A patient waiting at B shows in B's inbox gauge alone; Redis's own gauges are the deployment's."""
    token = "m" * 40
    client = create_app(make_settings(redis_server, line_stub, hospitals_dir=str(registry),
                                      metrics_token=token)).test_client()
    assert post_line(client, "b", [text_event("สวัสดี")], secret=SECRETS["b"], destination=BOTS["b"]).status_code == 200
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(samples['linebot_inbox_events{hospital="b"}']) == 1
    assert float(samples['linebot_inbox_events{hospital="a"}']) == 0
    assert float(samples['linebot_queue_jobs{hospital="b",queue="line"}']) == 1
    assert float(samples['linebot_queue_jobs{hospital="a",queue="line"}']) == 0
    assert samples["linebot_redis_up"] == "1.0" and 'linebot_redis_findings{finding="eviction"}' in samples
