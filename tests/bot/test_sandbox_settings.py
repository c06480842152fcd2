"""SANDBOX in the settings loader: every provider points at this server's simulators, and the sandbox does
not start with a real credential, a provider URL or a public address without its token."""

from __future__ import annotations

import pytest

from bot.sandbox_settings import SANDBOX_PATHS, SANDBOX_URLS
from bot.settings import REAL_ACCOUNT_FIELDS, SettingsError, bind_host, load_settings


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


def _refusal(monkeypatch, **env) -> str:
    """The one start-up message the sandbox gives with this environment."""
    monkeypatch.setenv("SANDBOX", "1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    return str(caught.value)


#: One real-looking value for every secret setting, and the MOPH account's user name.
REAL = {name.upper(): f"real-{name}-value-0123456789abcdefghijklmnop" for name in REAL_ACCOUNT_FIELDS}
# Those with a form of their own (LINE's, SEPSMS's) in that form, so that only the sandbox refuses them.
REAL.update(LINE_CHANNEL_SECRET="0f" * 16, LINE_CHANNEL_ACCESS_TOKEN="real+line+token/" + "R" * 156 + "=",
            SEPSMS_API_KEY="sk_sep_real_0123456789abcdef")


@pytest.mark.parametrize("name", sorted(REAL))
def test_any_real_credential_stops_the_sandbox(monkeypatch, name):
    message = _refusal(monkeypatch, **{name: REAL[name]})
    assert message.startswith("Invalid settings:") and name in message and "SANDBOX=0" in message
    assert REAL[name] not in message  # named, never shown


def test_every_credential_and_url_is_named_in_one_message(monkeypatch):
    urls = {"MOPH_ALERT_BASE_URL": "https://morpromt2c.moph.go.th", "LINE_API_BASE_URL": "https://api.line.me",
            "SEPSMS_BASE_URL": "http://127.0.0.1:9/api/v2"}
    message = _refusal(monkeypatch, APPOINTMENTS_API_TOKEN="h" * 40, MOPH_USER="hospital", MOPH_PASSWORD_HASH="x",
                       LINE_CHANNEL_SECRET="5" * 32, WEB_HOST="0.0.0.0", **urls)
    for name in ("APPOINTMENTS_API_TOKEN", "MOPH_USER", "MOPH_PASSWORD_HASH", "LINE_CHANNEL_SECRET", *urls):
        assert name in message, name
    assert "0.0.0.0" in message and "SANDBOX_PUBLIC_TOKEN" in message
    assert message.count("\n") == 3  # the heading and one line per kind of problem


def test_a_provider_url_stops_the_sandbox_and_its_own_simulators_do_not(monkeypatch):
    monkeypatch.setenv("SANDBOX_URL", "http://127.0.0.1:8123")
    for name, path in SANDBOX_URLS.items():
        message = _refusal(monkeypatch, **{name.upper(): "https://provider.example"})
        assert f"simulators only: unset {name.upper()}, or" in message, name  # this one, and no other
        monkeypatch.setenv(name.upper(), f"http://127.0.0.1:8123{path}/")  # where the sandbox points it anyway
    assert load_settings(_env_file=None).oho_base_url == "http://127.0.0.1:8123/sandbox/oho"


def test_only_loopback_runs_without_the_token(monkeypatch):
    for host in ("0.0.0.0", "::", "192.168.1.20", "sandbox.hospital.example", "unix:/run/web.sock"):
        message = _refusal(monkeypatch, WEB_HOST=host)
        assert f"listens on {host}" in message and "SANDBOX_PUBLIC_TOKEN" in message, host
        assert "WEB_HOST=127.0.0.1" in message
    for host in ("127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", ""):  # "": unset, a server of its own
        monkeypatch.setenv("WEB_HOST", host)
        assert load_settings(_env_file=None).sandbox is True, host
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("SANDBOX", "0")  # the service itself listens where it is told
    assert load_settings(_env_file=None).web_host == "0.0.0.0"


def test_a_short_token_is_refused(monkeypatch):
    message = _refusal(monkeypatch, WEB_HOST="0.0.0.0", SANDBOX_PUBLIC_TOKEN="s" * 31)
    assert "SANDBOX_PUBLIC_TOKEN: must be at least 32 characters" in message and "s" * 31 not in message
    assert "SANDBOX_PUBLIC_TOKEN" in _refusal(monkeypatch, WEB_HOST="127.0.0.1", SANDBOX_PUBLIC_TOKEN="short")


def test_the_token_lets_it_listen_publicly(monkeypatch):
    monkeypatch.setenv("SANDBOX", "1")
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("SANDBOX_PUBLIC_TOKEN", "t" * 32)
    settings = load_settings(_env_file=None)
    assert settings.sandbox is True and settings.sandbox_public_token.get_secret_value() == "t" * 32
    assert "t" * 32 not in repr(settings)


def test_the_token_cannot_let_a_real_credential_in(monkeypatch):
    message = _refusal(monkeypatch, WEB_HOST="0.0.0.0", SANDBOX_PUBLIC_TOKEN="t" * 32, OHO_API_KEY="real-oho-key")
    assert "OHO_API_KEY" in message


@pytest.mark.parametrize("binds, host", [
    (["0.0.0.0:8000"], "0.0.0.0"), (["127.0.0.1:8000"], "127.0.0.1"), (["[::1]:8000"], "::1"),
    (["127.0.0.1:8000", "10.0.0.5:8000"], "10.0.0.5"), (["unix:/run/web.sock"], "unix:/run/web.sock"),
    (["localhost"], "localhost"), (["[::]:80"], "::"),
])
def test_the_host_gunicorn_binds(binds, host):
    assert bind_host(binds) == host


def test_sandbox_is_off_by_default():
    settings = load_settings(_env_file=None)
    assert settings.sandbox is False and settings.oho_api_key is None
