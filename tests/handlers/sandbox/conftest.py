"""A sandbox server on a loopback port: the real app with SANDBOX on, against the suite's Redis.

The simulators post their webhooks to the server's own address, so these tests need a
listening server (werkzeug's, in a thread), not Flask's test client.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from bot.settings import Settings, load_settings
from handlers.app import create_app
from handlers.sandbox.store import SandboxStore
from workers.services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sandbox:
    url: str
    settings: Settings
    services: Services
    store: SandboxStore
    app: Flask

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def traffic(self, provider: str | None = None) -> list[dict]:
        return [line for line in self.store.items("log") if provider is None or line["provider"] == provider]


@pytest.fixture
def sandbox(redis_server, redis, jobs_here):
    """The sandbox on a real server; jobs run in this process (``run_worker``) use its services."""
    for running in _serve(redis_server, redis):
        jobs_here(running.services)
        yield running


#: A token for the sandbox that listens beyond loopback (``SANDBOX_PUBLIC_TOKEN``).
PUBLIC_TOKEN = "public-sandbox-token-for-the-tests-only-0123456789"


@pytest.fixture
def public_sandbox(redis_server, redis):
    """The sandbox as it runs when told to listen on every interface (WEB_HOST=0.0.0.0, with its token);
    the test server itself still listens on loopback only."""
    yield from _serve(redis_server, redis, web_host="0.0.0.0", sandbox_public_token=PUBLIC_TOKEN)


def _serve(redis_server, redis, **values):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(_env_file=None, redis_url=redis_server.url, sandbox=True, sandbox_url=url, **values)
    services = Services(settings, redis_connection=redis)
    app = create_app(settings, services=services)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Sandbox(url, settings, services, SandboxStore(redis), app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
