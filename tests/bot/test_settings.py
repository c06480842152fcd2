import pytest

from bot.settings import SettingsError, load_settings


def test_defaults_are_usable_without_any_environment():
    settings = load_settings(_env_file=None)
    assert settings.line_api_base_url == "https://api.line.me"
    assert settings.line_data_api_base_url == "https://api-data.line.me"
    assert settings.redis_url is None  # → embedded Redis
    assert settings.missing_for("line") == ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"]


def test_every_problem_is_listed_in_one_error(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    monkeypatch.setenv("LINE_API_BASE_URL", "api.line.me")
    monkeypatch.setenv("OTP_TTL_SECONDS", "five minutes")
    monkeypatch.setenv("SMS_PROVIDER", "carrier-pigeon")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    for name in ("REDIS_URL", "LINE_API_BASE_URL", "OTP_TTL_SECONDS", "SMS_PROVIDER"):
        assert name in message
    assert message.count("\n") == 4


def test_secrets_never_appear_in_repr_or_errors(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "very-secret-token-value")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "very-secret-channel")
    settings = load_settings(_env_file=None)
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
    assert settings.line_channel_access_token.get_secret_value() == "very-secret-token-value"


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LINE_CHANNEL_SECRET=from-dotenv\nLINE_API_BASE_URL=http://127.0.0.1:9/\n")
    settings = load_settings()
    assert settings.line_channel_secret.get_secret_value() == "from-dotenv"
    assert settings.line_api_base_url == "http://127.0.0.1:9"  # trailing slash dropped


def test_environment_beats_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LINE_CHANNEL_SECRET=from-dotenv\n")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "from-env")
    assert load_settings().line_channel_secret.get_secret_value() == "from-env"


def test_reminder_schedule_is_checked_at_start_up(monkeypatch):
    monkeypatch.setenv("REMINDER_SCHEDULE", "1d@09:00,tomorrow")
    with pytest.raises(SettingsError, match="REMINDER_SCHEDULE"):
        load_settings(_env_file=None)
    monkeypatch.setenv("REMINDER_SCHEDULE", "1d@09:00,2h")
    assert load_settings(_env_file=None).reminder_schedule == "1d@09:00,2h"


def test_business_hours_are_checked_at_start_up(monkeypatch):
    monkeypatch.setenv("BUSINESS_HOURS", "Mon-Fri 8-16")
    with pytest.raises(SettingsError, match="BUSINESS_HOURS"):
        load_settings(_env_file=None)
    monkeypatch.setenv("BUSINESS_HOURS", "Mon-Fri 08:00-16:00; Sat 08:00-12:00")
    assert load_settings(_env_file=None).business_hours.startswith("Mon-Fri")


def test_provider_error_messages_are_masked():
    import responses

    from integrations.errors import InvalidRequestError
    from integrations.http import HttpClient
    with responses.RequestsMock() as rsps:
        rsps.add("POST", "https://provider.test/send", status=400,
                 json={"message": "number 0812345678 and id 1234567890123 rejected"})
        with pytest.raises(InvalidRequestError) as caught:
            HttpClient("https://provider.test").request("POST", "/send", json={})
    assert "0812345678" not in str(caught.value) and "1234567890123" not in str(caught.value)
    assert "…5678" in str(caught.value)


def test_attachment_hosts_keep_the_port():
    from bot.handoff.render import attachment_url_allowed

    hosts = load_settings(_env_file=None, livedesk_base_url="https://desk.example.test:8443").attachment_hosts()
    assert attachment_url_allowed("https://desk.example.test:8443/a.png", hosts)
    assert not attachment_url_allowed("https://desk.example.test/a.png", hosts)
    hosts = load_settings(_env_file=None, livedesk_base_url="https://desk.example.test").attachment_hosts()
    assert attachment_url_allowed("https://desk.example.test/a.png", hosts)
    assert not attachment_url_allowed("https://desk.example.test:8443/a.png", hosts)


def test_attachment_hosts_are_checked_at_start_up(monkeypatch):
    monkeypatch.setenv("LIVEDESK_ATTACHMENT_HOSTS", "files.example.test:443, https://cdn.example.test/x, a:b")
    with pytest.raises(SettingsError, match="LIVEDESK_ATTACHMENT_HOSTS") as caught:
        load_settings(_env_file=None)
    assert "https://cdn.example.test/x, a:b" in str(caught.value) and "files.example.test:443," not in str(caught.value)
    monkeypatch.setenv("LIVEDESK_ATTACHMENT_HOSTS", "files.example.test:8443, cdn.example.test")
    assert load_settings(_env_file=None).attachment_hosts() == ["files.example.test:8443", "cdn.example.test"]


def test_a_hospital_name_setting_left_over_stops_start_up_saying_where_the_name_lives(tmp_path, monkeypatch):
    # The name is the knowledge base's `hospital: name:`; a HOSPITAL_NAME kept from before would
    # otherwise be ignored while the notices say another name.
    monkeypatch.setenv("HOSPITAL_NAME", "โรงพยาบาลของเรา")
    with pytest.raises(SettingsError, match=r"HOSPITAL_NAME: is no longer a setting.*`hospital: name:`"):
        load_settings(_env_file=None)
    monkeypatch.delenv("HOSPITAL_NAME")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HOSPITAL_NAME=โรงพยาบาลของเรา\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="HOSPITAL_NAME"):
        load_settings()
    (tmp_path / ".env").write_text("HOSPITAL_NAME=\n", encoding="utf-8")  # emptied: nothing to move
    assert "hospital_name" not in load_settings().model_dump()
