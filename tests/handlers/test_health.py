import redis as redis_lib

from handlers.app import create_app
from tests.conftest import make_settings
from workers.services import Services


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["redis"] == "ok"


def test_readyz_is_503_when_redis_is_unreachable(redis_server, tmp_path):
    settings = make_settings(redis_server)
    dead = redis_lib.Redis(unix_socket_path=str(tmp_path / "nothing.sock"), socket_connect_timeout=0.5)
    client = create_app(settings, services=Services(settings, redis_connection=dead)).test_client()
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def ready(redis_server, redis, **settings):
    settings = make_settings(redis_server, **settings)
    client = create_app(settings, services=Services(settings, redis_connection=redis)).test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 200
    return answer.get_json()


def test_readyz_names_a_missing_sepsms_origin(redis_server, redis):
    body = ready(redis_server, redis, sms_provider="sepsms", sepsms_api_key="sk_sep_test_0000", sepsms_origin="")
    assert body["not_configured_for"]["sms"] == ["SEPSMS_ORIGIN"]
    body = ready(redis_server, redis, sms_provider="sepsms", sepsms_api_key="sk_sep_test_0000",
                 sepsms_origin="HOSPITAL", otp_secret="otp-secret-for-tests-only-0123456789")
    assert body["not_configured_for"]["sms"] == [] and body["notes"] == []


def test_readyz_says_when_thaibulksms_delivery_reports_cannot_arrive(redis_server, redis):
    body = ready(redis_server, redis, sms_provider="thaibulksms", thaibulksms_force="standard")
    assert any("delivery reports" in note for note in body["notes"])
    assert not ready(redis_server, redis, sms_provider="thaibulksms", thaibulksms_force="corporate")["notes"]


def test_readyz_shows_a_low_balance_last_reported_without_calling_the_provider(redis_server, redis):
    from integrations.credit import CreditLedger

    CreditLedger(redis, threshold=1000).record("sepsms", 420)
    # sepsms_base_url points nowhere: a call from /readyz would fail the test.
    body = ready(redis_server, redis, sms_provider="sepsms", sms_low_credit_threshold=1000,
                 sepsms_base_url="http://127.0.0.1:9")
    assert any("credit was 420" in note for note in body["notes"])
    assert not ready(redis_server, redis, sms_provider="sepsms", sms_low_credit_threshold=100)["notes"]
