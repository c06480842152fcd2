"""Shared fixtures: a real embedded Redis for the session, a LINE stub server, the app, a worker.

External services are stubbed at the HTTP boundary only: LINE by a local HTTP
server (line-bot-sdk speaks urllib3, which ``responses`` cannot see), the
requests-based providers by ``responses``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Each run's metrics in a directory of its own, chosen before any project module imports
# prometheus-client (``integrations/metrics.py``); subprocesses a test starts inherit it.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="linebot-metrics-")
atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)

import pytest  # noqa: E402
import redis as redis_lib  # noqa: E402

from bot.settings import Settings, load_settings  # noqa: E402
from handlers.app import create_app  # noqa: E402
from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, LineWebhook  # noqa: E402
from workers import runtime  # noqa: E402
from workers.__main__ import build_worker  # noqa: E402
from workers.embedded_redis import EmbeddedRedis  # noqa: E402
from workers.services import Services  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch):
    """No setting from the developer's shell (or a .env) reaches a test: each test says what it sets."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the whole run, stopped at the end (no orphans)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("var"))
    server.ensure()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server):
    connection = redis_lib.Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture
def line_stub(httpserver):
    """A LINE API stand-in that accepts replies, pushes and loading animations."""
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push", "/v2/bot/chat/loading/start"):
        httpserver.expect_request(path, method="POST").respond_with_json({"sentMessages": []})
    return httpserver


def make_settings(redis_server, line_stub=None, **overrides):
    values = dict(
        _env_file=None,
        redis_url=redis_server.url,
        line_channel_secret=CHANNEL_SECRET,
        line_channel_access_token=ACCESS_TOKEN,
        line_timeout_seconds=5,
        # Nothing listens on port 9: a test that forgot its stub fails fast instead of reaching LINE.
        line_api_base_url="http://127.0.0.1:9",
        line_data_api_base_url="http://127.0.0.1:9",
    )
    if line_stub is not None:
        base = line_stub.url_for("").rstrip("/")
        values.update(line_api_base_url=base, line_data_api_base_url=base)
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub)


@pytest.fixture
def services(settings, redis):
    return Services(settings, redis_connection=redis)


@pytest.fixture
def jobs_here(services):
    """Jobs run in this process (a burst worker, a job function called directly) find ``services`` as
    a worker's jobs find its own: through ``workers.runtime.services()``, installed here as the worker's
    start-up installs it (``workers/__main__.py``). The one place tests/ installs services; a test that
    built other services calls ``jobs_here(other)``. Removed after the test."""
    def install(other):
        runtime.install(other)
        return other

    install(services)
    yield install
    runtime.install(None)


@pytest.fixture
def app(settings, services):
    return create_app(settings, services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def webhook(client):
    return LineWebhook(client)


@pytest.fixture
def run_worker(redis, jobs_here):
    """Run a real RQ worker (in this process, so ``responses`` stubs apply) until the queues are empty."""
    def run():
        worker = build_worker(runtime.services(), connection=redis)  # the worker the Procfile runs
        worker.work(burst=True)
        return worker
    return run
