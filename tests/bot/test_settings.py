import pytest

from bot.settings import SettingsError, load_settings

TOKEN = "very-secret-token-value." + "t" * 150  # made up, in the form of a long-lived LINE token


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
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "abcdef" + "0" * 26)
    settings = load_settings(_env_file=None)
    assert "very-secret" not in repr(settings) and "abcdef" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump()) and "abcdef" not in str(settings.model_dump())
    assert settings.line_channel_access_token.get_secret_value() == TOKEN


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LINE_CHANNEL_SECRET=d07e0000000000000000000000000000\nLINE_API_BASE_URL=http://127.0.0.1:9/\n")
    settings = load_settings()
    assert settings.line_channel_secret.get_secret_value() == "d07e" + "0" * 28
    assert settings.line_api_base_url == "http://127.0.0.1:9"  # trailing slash dropped


def test_environment_beats_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LINE_CHANNEL_SECRET=d07e0000000000000000000000000000\n")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "e" * 32)
    assert load_settings().line_channel_secret.get_secret_value() == "e" * 32


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


@pytest.mark.parametrize("secret", ["x", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdefg",
                                    "zz23456789abcdef0123456789abcdef"])
def test_a_line_channel_secret_is_32_hexadecimal_characters(monkeypatch, secret):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", secret)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    (problem,) = caught.value.problems
    assert problem.name == "LINE_CHANNEL_SECRET" and "32 hexadecimal" in problem.what
    assert problem.example == "0123456789abcdef0123456789abcdef"
    assert len(secret) < 3 or secret not in str(caught.value).replace(problem.example, "")  # never shown
    monkeypatch.setenv("LINE_CHANNEL_SECRET", " 0123456789ABCDEF0123456789abcdef\n")
    assert load_settings(_env_file=None).line_channel_secret.get_secret_value() == "0123456789ABCDEF0123456789abcdef"


@pytest.mark.parametrize("token", ["y", "short-token", "Bearer " + TOKEN, '"' + TOKEN + '"'])
def test_a_line_access_token_is_the_long_token_alone(monkeypatch, token):
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", token)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    (problem,) = caught.value.problems
    assert problem.name == "LINE_CHANNEL_ACCESS_TOKEN" and (len(token) < 3 or token not in str(caught.value))
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "eyJhbGciOiJIUzI1NiJ9." + "Ab+/_-" * 30 + "=")
    load_settings(_env_file=None)


def test_an_empty_line_credential_is_unset_not_malformed(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "")
    assert load_settings(_env_file=None).missing_for("line") == ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"]


def test_a_sepsms_key_starts_with_sk_sep(monkeypatch):
    monkeypatch.setenv("SEPSMS_API_KEY", "3f9a0000d21c")
    with pytest.raises(SettingsError, match=r"SEPSMS_API_KEY: must be a SEPSMS API key: they start with sk_sep_"):
        load_settings(_env_file=None)
    monkeypatch.setenv("SEPSMS_API_KEY", "sk_sep_3f9a0000d21c")
    assert load_settings(_env_file=None).sepsms_api_key.get_secret_value() == "sk_sep_3f9a0000d21c"


@pytest.mark.parametrize(("url", "words"), [
    ("localhost:6379", "must start with redis://, rediss://"),
    ("http://localhost:6379/0", "must start with redis://, rediss://"),
    ("redis://:6379/0", "has no host"),
    ("redis://localhost:63a90/0", "the port '63a90' after host localhost is not a number"),
    ("redis://:hunter2@localhost:99999/0", "the port '99999'"),
    ("redis://localhost:6379/zero", "the database after host and port must be a number"),
    ("unix://", "needs the socket's path"),
])
def test_a_mistyped_redis_url_says_which_part(monkeypatch, url, words):
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    (problem,) = caught.value.problems
    assert problem.name == "REDIS_URL" and words in problem.what and problem.example == "redis://localhost:6379/0"
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://:pw@redis.example.com:6380/1", "redis://h",
                                 "unix:///tmp/redis.sock", "redis://[::1]:6379"])
def test_well_formed_redis_urls_pass(monkeypatch, url):
    monkeypatch.setenv("REDIS_URL", url)
    assert load_settings(_env_file=None).redis_url == url


def test_the_block_is_a_title_then_one_line_per_problem_with_a_right_value(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "x")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:abc/0")
    monkeypatch.setenv("MAX_WEBHOOK_BYTES", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    title, *lines = str(caught.value).splitlines()
    assert title.startswith("Invalid settings: 3 to fix")
    assert [line.split(":")[0].strip() for line in lines] == ["REDIS_URL", "MAX_WEBHOOK_BYTES", "LINE_CHANNEL_SECRET"]
    assert "  MAX_WEBHOOK_BYTES: must be a whole number (not 'abc') (for example MAX_WEBHOOK_BYTES=1000000)" in lines
    assert all("(for example " in line for line in lines)


def test_the_sandbox_credentials_have_the_providers_forms(monkeypatch):
    from bot.sandbox_settings import SANDBOX_CREDENTIALS

    for name in ("line_channel_secret", "line_channel_access_token", "sepsms_api_key"):
        monkeypatch.setenv(name.upper(), str(SANDBOX_CREDENTIALS[name]))  # as if a person had set them
    load_settings(_env_file=None)


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
