"""Who may reach which endpoint: secrets long enough to refuse start-up otherwise, two values of each
accepted while it is rotated, everything else turned away over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ROTATING_SECRETS, SettingsError
from handlers.app import create_app
from tests.conftest import make_settings
from tests.moph_support import MOPH_SETTINGS
from workers.services import Services

NEW = "n" * 32
OLD = "o" * 40
SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"


@pytest.mark.parametrize("name", ROTATING_SECRETS)
def test_a_short_secret_refuses_start_up(monkeypatch, name):
    monkeypatch.setenv(name.upper(), "x" * 31)
    with pytest.raises(SettingsError) as raised:
        create_app()  # reads the environment, as wsgi.py does
    assert name.upper() in str(raised.value) and "32" in str(raised.value)
    assert "x" * 31 not in str(raised.value)  # the error names the setting, never its value


@pytest.mark.parametrize("value", ["a", "m" * 31])
def test_a_short_metrics_token_refuses_start_up(monkeypatch, value):
    monkeypatch.setenv("METRICS_TOKEN", value)
    with pytest.raises(SettingsError) as raised:
        create_app()
    assert "METRICS_TOKEN" in str(raised.value) and "32" in str(raised.value)
    assert "m" * 31 not in str(raised.value)


def test_an_empty_metrics_token_is_unset(redis_server, line_stub, redis):
    client = client_for(redis_server, line_stub, redis, metrics_token=" ")
    assert client.get("/metrics", headers={"Authorization": "Bearer  "}).status_code == 404


def test_every_short_secret_is_listed_in_one_error(monkeypatch):
    for name in ROTATING_SECRETS:
        monkeypatch.setenv(name.upper(), "short")
    monkeypatch.setenv("APPOINTMENTS_API_TOKEN", f"{NEW},short")  # the old value of a rotation too
    with pytest.raises(SettingsError) as raised:
        create_app()
    assert all(name.upper() in str(raised.value) for name in ROTATING_SECRETS)


@pytest.mark.parametrize("value", [f"{NEW},{OLD},{'t' * 32}", f"{NEW},", f",{OLD}"])
def test_rotation_takes_one_or_two_values(monkeypatch, value):
    monkeypatch.setenv("LIVEDESK_WEBHOOK_TOKEN", value)
    with pytest.raises(SettingsError, match="LIVEDESK_WEBHOOK_TOKEN"):
        create_app()


@pytest.mark.parametrize("feature", [
    dict(sms_provider="sepsms", sepsms_api_key="sk_sep_test_0000", sepsms_origin="HOSPITAL"),
    dict(sms_provider="thaibulksms", thaibulksms_api_key="k", thaibulksms_api_secret="s", thaibulksms_sender="H"),
    dict(moph_user="u", moph_password_hash="h", moph_hospital_code="10999"),
])
def test_otp_secret_is_required_once_sms_or_moph_is_configured(redis_server, feature):
    with pytest.raises(SettingsError, match="OTP_SECRET: must be set"):
        make_settings(redis_server, **feature)
    with pytest.raises(SettingsError, match="OTP_SECRET: must be at least 32"):
        make_settings(redis_server, otp_secret="too-short", **feature)
    assert make_settings(redis_server, otp_secret="k" * 32, **feature).otp_secret is not None


def test_without_sms_or_moph_no_otp_secret_is_needed(redis_server):
    assert make_settings(redis_server).otp_secret is None


def client_for(redis_server, line_stub, redis, **values):
    settings = make_settings(redis_server, line_stub, **values)
    return create_app(settings, services=Services(settings, redis_connection=redis)).test_client()


def test_the_appointments_api_takes_both_tokens_while_rotating(redis_server, line_stub, redis):
    client = client_for(redis_server, line_stub, redis, **{**MOPH_SETTINGS, "appointments_api_token": f"{NEW},{OLD}"})
    for token in (NEW, OLD):
        answer = client.get("/api/v1/appointments/notices/none", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 404  # let in: no such notice
    for token in ("t" * 32, f"{NEW},{OLD}", NEW[:-1], ""):
        answer = client.get("/api/v1/appointments/notices/none", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401


def test_the_livedesk_webhook_takes_both_path_tokens_while_rotating(redis_server, line_stub, redis):
    client = client_for(redis_server, line_stub, redis, livedesk_webhook_token=f"{OLD},{NEW}")
    event = {"event": "conversation_status_changed", "id": 1, "status": "resolved"}
    for token in (NEW, OLD):
        assert client.post(f"/webhooks/livedesk/{token}", json=event).status_code == 200
    for token in ("t" * 32, f"{OLD},{NEW}", OLD + "x"):
        assert client.post(f"/webhooks/livedesk/{token}", json=event).status_code == 404


def test_the_thaibulksms_webhook_takes_both_path_tokens_while_rotating(redis_server, line_stub, redis):
    client = client_for(redis_server, line_stub, redis, thaibulksms_webhook_token=f"{NEW},{OLD}")
    for token in (NEW, OLD):
        assert client.post(f"/webhooks/thaibulksms/{token}", data={"Transaction": "t1"}).status_code == 200
    assert client.post(f"/webhooks/thaibulksms/{'t' * 32}", data={"Transaction": "t1"}).status_code == 404


def security_section() -> str:
    text = SECURITY.read_text(encoding="utf-8")
    return text[text.index("## Who can reach which endpoint"):].split("\n## ", 1)[0]


def test_unset_path_tokens_answer_404_as_the_security_doc_says(redis_server, line_stub, redis):
    """The path token is the address: unset, the page does not exist (404, as for a wrong one), and the
    security doc says so where it lists who can reach which endpoint (it once said 503)."""
    client = client_for(redis_server, line_stub, redis)  # neither path token set
    event = {"event": "conversation_status_changed", "id": 1, "status": "resolved"}
    assert client.post(f"/webhooks/livedesk/{NEW}", json=event).status_code == 404
    assert client.post(f"/webhooks/thaibulksms/{NEW}", data={"Transaction": "t1"}).status_code == 404
    said = " ".join(security_section().split())
    assert "A wrong path token answers 404, and so does an unset one" in said
    assert "missing secret 503" not in said


def test_unset_signing_secrets_and_bearer_tokens_answer_503_as_the_security_doc_says(redis_server, line_stub, redis):
    client = client_for(redis_server, line_stub, redis, line_channel_secret=None)
    assert client.post("/callback", data=b"{}").status_code == 503
    assert client.post("/webhooks/sepsms", data=b"{}").status_code == 503
    assert client.post("/api/v1/appointments", json=[], headers={"Authorization": f"Bearer {NEW}"}).status_code == 503
    said = " ".join(security_section().split())
    assert "an unset signing secret or bearer token answers 503" in said
