"""Without the sandbox setting nothing is simulated (with a real credential it does not start: test_guard.py)."""

from __future__ import annotations

import pytest

from bot.settings import load_settings
from handlers.app import create_app
from workers.services import Services

PATHS = ["/", "/sandbox/line/v2/bot/info", "/sandbox/oho/contact", "/sandbox/livedesk/api/v2/accounts/contacts",
         "/sandbox/sepsms/api/v2/otp/send", "/sandbox/thaibulksms/sms", "/sandbox/moph-account/token",
         "/sandbox/moph/api/v2/send-message/send-now", "/sandbox/ui/state", "/sandbox/static/sandbox.css"]


def _client(redis, **values):
    settings = load_settings(_env_file=None, redis_url="redis://127.0.0.1:9", **values)
    return create_app(settings, services=Services(settings, redis_connection=redis)).test_client(), settings


@pytest.mark.parametrize("values", [
    {},                                                                        # SANDBOX unset: the Procfile default
    {"sandbox": False},
], ids=["unset", "off"])
def test_no_simulator_is_reachable(redis, values):
    client, settings = _client(redis, **values)
    assert settings.sandbox is False
    for path in PATHS:
        for method in (client.get, client.post):
            answer = method(path)
            assert answer.status_code in (404, 405) and "X-Sandbox" not in answer.headers, path
    assert not [rule.rule for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/sandbox")]
    assert settings.oho_base_url == "https://api.developer.oho.chat"  # no client points at a simulator


def test_sandbox_page_carries_the_banner(redis):
    client, settings = _client(redis, sandbox=True)
    page = client.get("/")
    assert page.status_code == 200 and "SANDBOX" in page.get_data(as_text=True)
    assert page.headers["X-Sandbox"]
    assert client.get("/healthz").headers["X-Sandbox"]  # every answer says so, not only the page
