"""The real worker entry point (``python -m workers``, as in the Procfile) in separate processes."""

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, text_event

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def worker_env(redis_server, line_stub):
    base = line_stub.url_for("").rstrip("/")
    # Only what the worker needs: no setting from the developer's shell leaks in.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(REDIS_URL=redis_server.url, LINE_CHANNEL_SECRET=CHANNEL_SECRET,
               LINE_CHANNEL_ACCESS_TOKEN=ACCESS_TOKEN, LINE_API_BASE_URL=base,
               LINE_DATA_API_BASE_URL=base, LOG_LEVEL="DEBUG")
    return env


def start_worker(env):
    return subprocess.Popen([sys.executable, "-m", "workers", "--burst"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_worker_processes_answer_each_user_in_order(webhook, redis_server, line_stub):
    users = ["U" + c * 32 for c in "1234"]
    sent = defaultdict(list)
    for round_ in range(6):  # six webhook deliveries, each with one event per user
        batch = [text_event(f"ข้อความลับ {round_} ของคนไข้", user=u) for u in users]
        for e in batch:
            sent[e["source"]["userId"]].append(e["replyToken"])
        assert webhook.post(batch).status_code == 200

    env = worker_env(redis_server, line_stub)
    workers = [start_worker(env) for _ in range(2)]
    try:
        outputs = [w.communicate(timeout=120)[0] for w in workers]
    finally:
        for w in workers:  # a hung worker must not outlive the test
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0], outputs

    answered = defaultdict(list)
    for request, _ in line_stub.log:
        assert request.path == "/v2/bot/message/reply"
        body = request.get_json()
        token = body["replyToken"]
        user = next(u for u, tokens in sent.items() if token in tokens)
        answered[user].append(token)
    assert answered == sent  # every event answered once, each user's in the order sent
    logs = "".join(outputs)
    assert "ข้อความลับ" not in logs  # patient text never reaches worker logs
    assert all(u not in logs for u in users)  # user ids only masked


def test_a_line_worker_loads_the_knowledge_base_before_its_first_job(services):
    from workers.__main__ import warm_up

    warm_up(services, ("default", "bulk"))
    assert "knowledge" not in services.__dict__  # a worker without patients to answer does not need it
    warm_up(services, ("line", "default"))
    assert "knowledge" in services.__dict__ and services.dialog.kb is services.knowledge


def test_plain_heartbeats_are_one_round_trip_at_most_every_few_seconds(services, redis):
    from workers.__main__ import HEARTBEAT_EVERY, build_worker

    worker = build_worker(services, connection=redis)
    worker.register_birth()
    try:
        redis.hset(worker.key, "last_heartbeat", "never")
        worker.heartbeat()
        first = redis.hget(worker.key, "last_heartbeat")
        assert first != b"never" and 0 < redis.ttl(worker.key) <= worker.worker_ttl + 60
        redis.hset(worker.key, "last_heartbeat", "skipped")
        worker.heartbeat()  # just beat: not sent again
        assert redis.hget(worker.key, "last_heartbeat") == b"skipped"
        worker.heartbeat(500)  # a job's heartbeat (with its timeout) always goes out
        assert redis.hget(worker.key, "last_heartbeat") != b"skipped" and redis.ttl(worker.key) > 400
        worker._beat_at -= HEARTBEAT_EVERY  # as if the last beat was that long ago
        redis.hset(worker.key, "last_heartbeat", "stale")
        worker.heartbeat()
        assert redis.hget(worker.key, "last_heartbeat") != b"stale"
    finally:
        worker.register_death()


def test_only_workers_that_answer_no_patient_give_way_on_the_cpu():
    from workers.__main__ import BACKGROUND_NICENESS, niceness_for

    assert niceness_for(("line",)) == niceness_for(("line", "default", "bulk")) == 0
    assert niceness_for(("default",)) == niceness_for(("bulk", "default")) == BACKGROUND_NICENESS > 0


def test_a_knowledge_base_that_cannot_be_read_stops_its_hospital_alone(redis_server, redis, line_stub, tmp_path):
    """Of a registry, hospital b's unreadable knowledge base is logged (one line) and a is answered;
    a deployment of one stops at once with that line (exit 2), never a traceback."""
    from workers.line.inbox import accept_events

    broken = tmp_path / "broken.yaml"
    broken.write_text("intents: [this is: not: a knowledge base\n")
    registry = tmp_path / "hospitals"
    registry.mkdir()
    for h, more in (("a", ""), ("b", f'bot_knowledge_file = "{broken}"\n')):
        (registry / f"{h}.toml").write_text(
            f'line_bot_user_id = "U{h * 32}"\nline_channel_secret = "env:{h}_SECRET"\n'
            f'line_channel_access_token = "env:{h}_TOKEN"\n{more}')
    env = {**worker_env(redis_server, line_stub), "a_SECRET": CHANNEL_SECRET, "a_TOKEN": ACCESS_TOKEN,
           "b_SECRET": "b" * 32, "b_TOKEN": ACCESS_TOKEN[:-1] + "b", "HOSPITALS_DIR": str(registry)}
    accept_events(redis, [text_event("สวัสดี")], prefix="h:a:")
    worker = start_worker(env)
    output = worker.communicate(timeout=120)[0]
    assert worker.returncode == 0, output
    assert "hospital b: the knowledge base cannot be read" in output and "Traceback" not in output
    assert [r.path for r, _ in line_stub.log] == ["/v2/bot/message/reply"]  # a's patient answered

    alone = start_worker({**worker_env(redis_server, line_stub), "BOT_KNOWLEDGE_FILE": str(broken)})
    output = alone.communicate(timeout=120)[0]
    assert alone.returncode == 2 and "the knowledge base cannot be read" in output and "Traceback" not in output
