"""The registry of hospitals: one file each, secrets by reference, each file checked alone, re-read on change."""

from __future__ import annotations

import os

import pytest

from bot.hospitals import IMPLICIT, Registry, read_hospital
from bot.settings import Settings, SettingsError

SECRET_A, SECRET_B = "a" * 32, "b" * 32
TOKEN_A, TOKEN_B = "tokenA." + "A" * 120, "tokenB." + "B" * 120
BOT_A, BOT_B = "U" + "a1" * 16, "U" + "b2" * 16


@pytest.fixture
def process(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("LINE_", "LIVEDESK_", "OHO_", "SEPSMS_", "MOPH_", "OTP_", "HOSPITALS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOSP_A_SECRET", SECRET_A)
    monkeypatch.setenv("HOSP_A_TOKEN", TOKEN_A)
    return Settings(_env_file=None, redis_url="redis://localhost:6399/0", log_level="WARNING")


def write(directory, hospital_id, text):
    path = directory / f"{hospital_id}.toml"
    path.write_text(text, encoding="utf-8")
    stamp = path.stat()
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))  # a change a second later
    return path


def hospital_a(bot=BOT_A, code="10001"):
    return (f'line_bot_user_id = "{bot}"\nline_channel_secret = "env:HOSP_A_SECRET"\n'
            f'line_channel_access_token = "env:HOSP_A_TOKEN"\nbusiness_hours = "Mon-Fri 08:00-16:00"\n'
            f'moph_hospital_code = "{code}"\n')


def hospital_b(tmp_path, bot=BOT_B, code="10002"):
    (tmp_path / "b-secret").write_text(SECRET_B + "\n")
    (tmp_path / "b-token").write_text(TOKEN_B)
    return (f'LINE_BOT_USER_ID = "{bot}"\nLINE_CHANNEL_SECRET = "file:{tmp_path}/b-secret"\n'
            f'LINE_CHANNEL_ACCESS_TOKEN = "file:{tmp_path}/b-token"\nBUSINESS_HOURS = "Mon-Sun 00:00-24:00"\n'
            f'MOPH_HOSPITAL_CODE = "{code}"\n')


def test_without_a_directory_the_environment_is_the_one_implicit_hospital(process):
    registry = Registry(process)
    (hospital,) = registry.hospitals()
    assert hospital.id == IMPLICIT and hospital.prefix == "" and hospital.settings is process
    assert registry.refresh() is False


def test_each_file_is_a_hospital_with_its_own_settings_and_prefix(process, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEDESK_API_KEY", "the-implicit-hospitals-key")  # the environment's, not theirs
    write(tmp_path, "a", hospital_a())
    write(tmp_path, "b", hospital_b(tmp_path))
    registry = Registry(process, tmp_path)
    a, b = registry.get("a"), registry.get("b")
    assert (a.prefix, b.prefix) == ("h:a:", "h:b:")
    assert a.settings.line_channel_secret.get_secret_value() == SECRET_A
    assert b.settings.line_channel_secret.get_secret_value() == SECRET_B
    assert b.settings.line_channel_access_token.get_secret_value() == TOKEN_B
    assert (a.bot_user_id, b.bot_user_id) == (BOT_A, BOT_B)
    assert a.settings.business_hours != b.settings.business_hours
    assert a.settings.redis_url == b.settings.redis_url == "redis://localhost:6399/0"  # process-wide
    assert a.settings.livedesk_api_key is None and b.settings.livedesk_api_key is None
    assert registry.problems() == {}


def test_a_broken_file_lists_every_problem_and_disables_that_hospital_alone(process, tmp_path):
    write(tmp_path, "a", hospital_a())
    write(tmp_path, "b", 'line_bot_user_id = "nope"\nline_channel_secret = "0123456789abcdef0123456789abcdef"\n'
                         'redis_url = "redis://elsewhere:6379/0"\nfavourite_colour = "green"\n'
                         'line_channel_access_token = "env:NOT_SET_ANYWHERE"\notp_ttl_seconds = "soon"\n')
    registry = Registry(process, tmp_path)
    assert registry.get("a") is not None and registry.get("b") is None
    names = {p.name: p.what for p in registry.problems()["b"]}
    assert set(names) >= {"LINE_BOT_USER_ID", "LINE_CHANNEL_SECRET", "REDIS_URL", "FAVOURITE_COLOUR",
                          "LINE_CHANNEL_ACCESS_TOKEN"}
    assert "by reference" in names["LINE_CHANNEL_SECRET"] and "NOT_SET_ANYWHERE" in names["LINE_CHANNEL_ACCESS_TOKEN"]
    report = registry.problems_report()
    assert report.startswith(f"{tmp_path}/b.toml:") and "0123456789abcdef" not in report  # never a value


def test_a_value_two_files_claim_stays_with_the_hospital_that_had_it(process, tmp_path):
    write(tmp_path, "z", hospital_a(code="10009"))
    registry = Registry(process, tmp_path)
    write(tmp_path, "a", hospital_b(tmp_path, code="10009"))  # sorts first, but arrives later
    assert registry.refresh()
    assert registry.get("z") is not None and registry.get("a") is None
    assert registry.problems()["a"][0].name == "MOPH_HOSPITAL_CODE"
    restarted = Registry(process, tmp_path)  # a process started now agrees: every file is new to it
    assert restarted.get("z") is not None and restarted.get("a") is None
    (tmp_path / "z.toml").unlink()  # the value's holder goes: the copy is served, unchanged itself
    assert registry.refresh() and registry.get("a") is not None
    write(tmp_path, "a", hospital_b(tmp_path, code="10010"))
    registry.refresh()
    assert registry.get("a") is not None


def test_refresh_adds_changes_disables_and_removes_without_touching_the_others(process, tmp_path):
    write(tmp_path, "a", hospital_a())
    registry = Registry(process, tmp_path)
    first_a = registry.get("a")
    assert not registry.refresh()  # nothing changed
    write(tmp_path, "b", hospital_b(tmp_path))
    assert registry.refresh() and registry.get("b") is not None and registry.get("a") is first_a
    write(tmp_path, "b", hospital_b(tmp_path).replace("00:00-24:00", "08:00-12:00"))
    registry.refresh()
    assert registry.get("b").settings.business_hours == "Mon-Sun 08:00-12:00"
    write(tmp_path, "b", "this is [not toml")
    registry.refresh()
    assert registry.get("b") is None and registry.known("b") and registry.get("a") is first_a
    (tmp_path / "b.toml").unlink()
    registry.refresh()
    assert not registry.known("b") and [h.id for h in registry.hospitals()] == ["a"]


@pytest.mark.parametrize("name", ["Default", "default", "has space", "x" * 33])
def test_a_hospital_id_is_a_short_lower_case_file_name(process, tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(hospital_a())
    with pytest.raises(SettingsError) as caught:
        read_hospital(path, process)
    assert caught.value.problems[0].name == "file name"


def test_a_hospital_that_needs_the_deployments_otp_secret_is_told_where_it_goes(process, tmp_path, monkeypatch):
    monkeypatch.setenv("HOSP_A_SEPSMS", "sk_sep_made_up_0000")
    write(tmp_path, "a", hospital_a() + 'sms_provider = "sepsms"\nsepsms_api_key = "env:HOSP_A_SEPSMS"\n'
                                        'sepsms_origin = "HOSP"\n')
    registry = Registry(process, tmp_path)
    names = {p.name: p.what for p in registry.problems()["a"]}
    assert "in the environment" in names["OTP_SECRET"]


def test_a_token_two_hospitals_share_while_rotating_is_refused_and_so_is_a_shared_webhook_secret(
        process, tmp_path, monkeypatch):
    monkeypatch.setenv("LD_A", "a-new-token-" + "a" * 32 + ",the-old-shared-token-" + "s" * 32)
    monkeypatch.setenv("LD_B", "the-old-shared-token-" + "s" * 32)
    monkeypatch.setenv("SEP_SECRET", "one-sepsms-webhook-secret-" + "x" * 32)
    write(tmp_path, "a", hospital_a() + 'livedesk_webhook_token = "env:LD_A"\n'
                                        'sepsms_webhook_secret = "env:SEP_SECRET"\n')
    registry = Registry(process, tmp_path)
    write(tmp_path, "b", hospital_b(tmp_path) + 'livedesk_webhook_token = "env:LD_B"\n'
                                                'sepsms_webhook_secret = "env:SEP_SECRET"\n')
    registry.refresh()
    assert registry.get("a") is not None and registry.get("b") is None
    assert {p.name for p in registry.problems()["b"]} == {"LIVEDESK_WEBHOOK_TOKEN", "SEPSMS_WEBHOOK_SECRET"}
    assert "is also in a.toml" in registry.problems_report()


def test_a_directory_gone_for_a_moment_keeps_the_hospitals_served(process, tmp_path):
    directory = tmp_path / "hospitals"
    directory.mkdir()
    write(directory, "a", hospital_a())
    registry = Registry(process, directory)
    directory.rename(tmp_path / "elsewhere")  # as during a remount
    assert registry.refresh() is False
    assert [h.id for h in registry.hospitals()] == ["a"]
    (tmp_path / "elsewhere").rename(directory)
    (directory / "a.toml").unlink()  # a file removed from a directory that is there: its hospital goes
    assert registry.refresh() is True and registry.hospitals() == []


def test_hospitals_dir_must_be_a_directory(process, tmp_path):
    with pytest.raises(ValueError, match="HOSPITALS_DIR|not a directory"):
        Settings(_env_file=None, redis_url="redis://localhost:6399/0", hospitals_dir=str(tmp_path / "typo"))
