"""Fixtures of the fault suite: a fresh redis-server, LINE stand-in and Procfile stack per test, always torn down.

Each scenario reports one line of figures (``report``); they are printed again
together at the end of the run, pass or fail, so CI logs carry them.
"""

from __future__ import annotations

import pytest

from integrations.line import retry_key_for
from tests.faults.figures import Figures, figures
from tests.faults.line_stub import LineStub
from tests.faults.processes import Stack
from tests.faults.redis_server import RedisServer
from tests.faults.webhooks import WebhookSender
from workers.line.inbox import DEAD_LETTERS

FIGURES: list[str] = []


def answer_key(event_id: str) -> str:
    """The retry key a push answering this event carries (``workers/line/events.py``)."""
    return retry_key_for("answer", event_id)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def redis_server(tmp_path):
    """This test's own redis-server (shadows the session one: a scenario may stop it)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis(redis_server):
    connection = redis_server.client()
    yield connection
    connection.close()


@pytest.fixture
def line_api():
    stub = LineStub().start()
    yield stub
    stub.close()


@pytest.fixture
def stack(request, redis_server, line_api, tmp_path):
    """Every Procfile entry running against this test's Redis and LINE stub; logs shown when the test fails."""
    procs = Stack(redis_server, line_api, tmp_path / "logs")
    try:
        procs.start_all()
        yield procs
    finally:
        failed = getattr(request.node, "report_call", None)
        if failed is None or failed.failed:
            print("\n" + procs.logs())
        procs.stop_all()


@pytest.fixture
def sender(stack):
    return WebhookSender(stack)


@pytest.fixture
def report(request, line_api, redis):
    """``report(events, fault_end=…, notes=…)``: compute, print and keep this scenario's figures."""
    def make(events, fault_end=None, notes="") -> tuple[Figures, dict]:
        fig, answers = figures(request.node.name, events, line_api, redis, DEAD_LETTERS, answer_key,
                               fault_end=fault_end, notes=notes)
        print(fig.line())
        FIGURES.append(fig.line())
        return fig, answers
    return make


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    """One stack for a module's scenarios: redis-server, LINE and the provider stand-ins, every Procfile
    entry pointed at them (see ``tests/faults/scenario_support.py``); logs shown if a scenario failed."""
    # Imported here: scenario_support imports this module (FIGURES).
    from tests.faults.providers import Providers
    from tests.faults.scenario_support import World

    base = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    server = RedisServer(base / "redis")
    server.start()
    line = LineStub().start()
    providers = Providers().start()
    procs = Stack(server, line, base / "logs", extra_env=providers.env())
    connection = server.client()
    failed = True
    try:
        procs.start_all()
        yield World(server, connection, line, providers, procs, WebhookSender(procs))
        failed = any(item.module is request.module and getattr(item, "report_call", None) is not None
                     and item.report_call.failed for item in request.session.items)
    finally:
        if failed:
            print("\n" + procs.logs())
        procs.stop_all()
        connection.close()
        providers.close()
        line.close()
        server.kill()
