"""Shared fixtures: a real embedded Redis for the session, a LINE stub server, the app, a worker.

External services are stubbed at the HTTP boundary only: LINE by a local HTTP
server (line-bot-sdk speaks urllib3, which ``responses`` cannot see), the
requests-based providers by ``responses``.
"""

from __future__ import annotations

import pytest
import redis as redis_lib
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot import create_app
from bot.embedded_redis import EmbeddedRedis
from bot.services import Services
from bot.settings import load_settings
from workers import runtime
from workers.queues import QUEUE_NAMES, get_queue

from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, LineWebhook


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
    s = Services(settings, redis_connection=redis)
    runtime.install(s)
    yield s
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
def run_worker(redis):
    """Run a real RQ worker (in this process, so ``responses`` stubs apply) until the queues are empty."""
    def run():
        queues = [get_queue(redis, name) for name in QUEUE_NAMES]
        worker = SimpleWorker(queues, connection=redis, serializer=JSONSerializer, log_job_description=False)
        worker.work(burst=True)
        return worker
    return run
