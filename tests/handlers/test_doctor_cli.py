"""``flask doctor``: every provider stubbed over HTTP (LINE by the stub server, the others by
``responses``), all well, credentials refused, and nothing configured."""

from __future__ import annotations

import pytest
import responses

from handlers.app import create_app
from tests.conftest import make_settings
from tests.handoff_stubs import BOT_ID, BOT_INFO, OHO, envelope
from tests.moph_support import MOPH_SETTINGS, TOKEN_URL, fake_jwt
from workers.doctor import NOBODY
from workers.services import Services

SEPSMS = "https://sepsms.test/api/v2"
LIVEDESK = "https://livedesk.test"
CONFIGURED = dict(oho_api_key="oho-key-not-real", oho_base_url=OHO, oho_platform_id=BOT_ID,
                  livedesk_api_key="ld-key", livedesk_api_secret="ld-secret", livedesk_base_url=LIVEDESK,
                  livedesk_inbox_id=79, livedesk_webhook_token="hook-token-not-real-" + "x" * 32,
                  sepsms_api_key="sk_sep_not_real", sepsms_base_url=SEPSMS, sepsms_origin="HOSPITAL",
                  metrics_token="metrics-token-" + "m" * 32, **MOPH_SETTINGS)
OHO_NOBODY = f"{OHO}/contact/line/{BOT_ID}/user/{NOBODY}"
LIVEDESK_READ = f"{LIVEDESK}/api/v2/accounts/conversations/0/messages"
CREDIT = f"{SEPSMS}/message/credit/balance"


def runner(redis_server, line_stub, redis, **settings):
    built = make_settings(redis_server, line_stub, **settings)
    return create_app(built, services=Services(built, redis_connection=redis)).test_cli_runner()


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def rows(output: str) -> dict[str, str]:
    """name -> the whole row, for the table's rows."""
    found = {}
    for line in output.splitlines():
        mark, _, rest = line.partition("  ")
        if mark.strip() in ("ok", "FAIL", "-"):
            found[rest.strip().split("  ")[0]] = line
    return found


def test_everything_works(redis_server, line_stub, redis, http):
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json(BOT_INFO)
    http.get(OHO_NOBODY, body=envelope(404, "Not found contact")[2], status=404)
    http.get(LIVEDESK_READ, json={"error": "Resource could not be found"}, status=404)
    http.get(CREDIT, json={"result": {"balance": 18420}})
    http.get(TOKEN_URL, body=fake_jwt())
    result = runner(redis_server, line_stub, redis, **CONFIGURED).invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["LINE"].startswith("ok") and "Test Hospital (@000test)" in table["LINE"]
    assert table["Oho"].startswith("ok") and table["LiveDesk"].startswith("ok")
    assert table["SMS credit (sepsms)"].startswith("ok") and "credit 18420" in table["SMS credit (sepsms)"]
    assert table["MOPH token"].startswith("ok") and table["Redis"].startswith("ok")
    assert "0 to fix" in result.output
    assert [c.request.method for c in http.calls] == ["GET"] * 4  # harmless: reads only


def test_refused_credentials_say_what_to_fix(redis_server, line_stub, redis, http):
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json({"message": "Authentication failed"},
                                                                            status=401)
    http.get(OHO_NOBODY, body=envelope(401, "Unauthorized")[2], status=401)
    http.get(LIVEDESK_READ, json={"error": "Invalid access_token"}, status=401)
    http.get(CREDIT, json={"result": {"balance": 12}})
    http.get(TOKEN_URL, status=500, body="boom")
    result = runner(redis_server, line_stub, redis, **CONFIGURED).invoke(args=["doctor"])
    assert result.exit_code == 1
    table = rows(result.output)
    assert table["LINE"].startswith("FAIL") and "check LINE_CHANNEL_ACCESS_TOKEN" in table["LINE"]
    assert table["Oho"].startswith("FAIL") and "check OHO_API_KEY" in table["Oho"]
    assert table["LiveDesk"].startswith("FAIL") and "LIVEDESK_API_KEY and LIVEDESK_API_SECRET" in table["LiveDesk"]
    assert table["SMS credit (sepsms)"].startswith("FAIL") and "top up" in table["SMS credit (sepsms)"]
    assert table["MOPH token"].startswith("FAIL")
    assert "5 to fix" in result.output
    for secret in ("oho-key-not-real", "sk_sep_not_real", "ld-secret", MOPH_SETTINGS["moph_password_hash"]):
        assert secret not in result.output


def test_nothing_configured_but_line(redis_server, line_stub, redis):
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json(BOT_INFO)
    result = runner(redis_server, line_stub, redis).invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    for name in ("Oho", "LiveDesk", "SMS credit (sepsms)", "MOPH token"):
        assert table[name].startswith("-") and "skipped: not configured" in table[name]
    assert "set OHO_API_KEY" in table["Oho"] and "set SEPSMS_API_KEY" in table["SMS credit (sepsms)"]
    assert "METRICS_TOKEN unset" in result.output


def test_without_line_nothing_works(redis_server, line_stub, redis):
    result = runner(redis_server, line_stub, redis, line_channel_access_token=None).invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "set LINE_CHANNEL_ACCESS_TOKEN" in rows(result.output)["config: LINE (answers)"]
    assert line_stub.log == []


def test_redis_rows_say_whether_it_takes_work_and_how_durable_it_is(redis_server, line_stub, redis):
    from tests.redis_servers import hosted_redis

    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json(BOT_INFO)
    table = rows(runner(redis_server, line_stub, redis).invoke(args=["doctor"]).output)
    assert table["Redis"].startswith("ok") and table["Redis durability"].startswith("ok")

    with hosted_redis("--appendonly", "no") as server:
        result = runner(redis_server, line_stub, server.client()).invoke(args=["doctor"])
    assert result.exit_code == 1
    table = rows(result.output)
    assert table["Redis"].startswith("ok") and "takes writes" in table["Redis"]
    assert table["Redis durability"].startswith("FAIL") and "appendonly yes" in table["Redis durability"]

    with hosted_redis("--rename-command", "CONFIG", "") as server:  # what could not be read is not a failure
        result = runner(redis_server, line_stub, server.client()).invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    assert rows(result.output)["Redis durability"].startswith("-")
    assert "appendfsync everysec" in rows(result.output)["Redis durability"]

    with hosted_redis("--replicaof", "127.0.0.1", "9") as server:
        result = runner(redis_server, line_stub, server.client()).invoke(args=["doctor"])
    assert result.exit_code == 1
    table = rows(result.output)
    assert table["Redis"].startswith("FAIL") and "cannot take work" in table["Redis"]
    assert "read only replica" in table["Redis"] and "Redis durability" not in table


def _doctor_process(tmp_path):
    """``flask doctor`` as a person runs it, with no REDIS_URL (so the embedded Redis under VAR_DIR)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "PATH", "PYTHONPATH",
                                                          "PROMETHEUS_MULTIPROC_DIR")}
    env.update(VAR_DIR=str(tmp_path), SANDBOX="0")
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "doctor"], env=env, text=True,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=120, check=False)


def test_doctor_stops_the_embedded_redis_it_started(tmp_path):
    from workers.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(tmp_path)
    try:
        result = _doctor_process(tmp_path)
        assert rows(result.stdout)["Redis"].startswith("ok"), result.stdout + result.stderr  # it did run one
        assert not embedded.is_running() and not embedded.pidfile.exists()
    finally:
        embedded.stop()  # the test itself leaves nothing behind, even when it fails


def test_doctor_leaves_a_running_embedded_redis_alone(tmp_path):
    from workers.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(tmp_path)
    assert embedded.ensure()  # as ./dev serve would have it
    try:
        result = _doctor_process(tmp_path)
        assert rows(result.stdout)["Redis"].startswith("ok"), result.stdout + result.stderr
        assert embedded.is_running()
    finally:
        embedded.stop()
