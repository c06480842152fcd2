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
