"""SANDBOX in the settings loader: unconfigured providers point at this server's simulators."""

from __future__ import annotations

from bot.settings import SANDBOX_PATHS, load_settings


def test_sandbox_fills_every_unconfigured_provider(monkeypatch):
    monkeypatch.setenv("SANDBOX", "1")
    monkeypatch.setenv("SANDBOX_URL", "http://127.0.0.1:8123/")
    settings = load_settings(_env_file=None)
    base = "http://127.0.0.1:8123"
    assert settings.sandbox is True
    assert settings.line_api_base_url == base + SANDBOX_PATHS["line"]
    assert settings.line_data_api_base_url == base + SANDBOX_PATHS["line_data"]
    assert settings.oho_base_url == base + "/sandbox/oho"
    assert settings.livedesk_base_url == base + "/sandbox/livedesk"
    assert settings.sepsms_base_url == base + "/sandbox/sepsms/api/v2"
    assert settings.thaibulksms_base_url == base + "/sandbox/thaibulksms"
    assert settings.moph_alert_base_url == base + "/sandbox/moph"
    assert settings.moph_token_url == base + "/sandbox/moph-account/token"
    for feature in ("line", "handoff", "sms", "moph", "appointments_api"):
        assert settings.missing_for(feature) == [], feature
    assert settings.business_hours == "Mon-Sun 00:00-24:00"


def test_a_configured_provider_is_left_real(monkeypatch):
    monkeypatch.setenv("SANDBOX", "true")
    monkeypatch.setenv("SEPSMS_API_KEY", "sk_sep_real_looking")
    monkeypatch.setenv("BUSINESS_HOURS", "Mon-Fri 08:00-12:00")
    settings = load_settings(_env_file=None)
    assert settings.sepsms_base_url == "https://sepsms.com/api/v2"
    assert settings.sepsms_api_key.get_secret_value() == "sk_sep_real_looking"
    assert settings.oho_base_url.endswith("/sandbox/oho")
    assert settings.business_hours == "Mon-Fri 08:00-12:00"


def test_line_credentials_switch_the_sandbox_off(monkeypatch, caplog):
    monkeypatch.setenv("SANDBOX", "1")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "t")
    settings = load_settings(_env_file=None)
    assert settings.sandbox is False
    assert settings.oho_base_url == "https://api.developer.oho.chat" and settings.oho_api_key is None
    assert "SANDBOX is ignored" in caplog.text


def test_sandbox_is_off_by_default():
    settings = load_settings(_env_file=None)
    assert settings.sandbox is False and settings.oho_api_key is None
