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
