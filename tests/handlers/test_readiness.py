"""``/readyz`` means "can take work": 200 while Redis takes a write and gives it back, whatever its
durability settings (those are notes); 503 when it cannot. Each case runs a real redis-server set
up as a hosted provider might (``tests/redis_servers.py``)."""

from __future__ import annotations

import pytest

from handlers.app import create_app
from tests.conftest import make_settings
from tests.redis_servers import hosted_redis
from workers.services import Services

pytestmark = pytest.mark.integration


def readyz(redis_server, connection):
    """/readyz of an app whose Redis is ``connection`` (``redis_server``, the session's, only for the settings)."""
    settings = make_settings(redis_server)
    client = create_app(settings, services=Services(settings, redis_connection=connection)).test_client()
    return client.get("/readyz")


def test_a_redis_fit_for_queues_is_ready_without_notes(redis_server):
    with hosted_redis() as server:
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 200 and answer.get_json()["notes"] == []


def test_ready_on_a_redis_whose_config_command_is_renamed_away(redis_server):
    # Heroku Redis and ElastiCache refuse CONFIG: the service answers patients there all the same.
    with hosted_redis("--rename-command", "CONFIG", "") as server:
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "ready"
    assert any("refuses CONFIG GET" in note and "appendfsync everysec" in note for note in answer.get_json()["notes"])


def test_ready_for_a_user_that_may_run_neither_config_nor_info(redis_server):
    with hosted_redis() as server:
        server.client().acl_setuser("app", enabled=True, passwords=["+app-password"], keys=["~*"],
                                    channels=["*"], commands=["+@all", "-config", "-info"])
        answer = readyz(redis_server, server.client(username="app", password="app-password"))
    assert answer.status_code == 200, answer.get_json()
    [note] = answer.get_json()["notes"]
    assert "refuses INFO" in note and "noeviction" in note and "appendonly yes" in note


def test_ready_with_appendonly_off_and_the_notes_say_so(redis_server):
    with hosted_redis("--appendonly", "no") as server:
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 200, answer.get_json()
    [note] = answer.get_json()["notes"]
    assert "append-only persistence off" in note and "appendonly yes" in note


def test_ready_with_eviction_on_and_the_notes_say_so(redis_server):
    with hosted_redis("--maxmemory-policy", "allkeys-lru") as server:
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 200
    [note] = answer.get_json()["notes"]
    assert "'allkeys-lru'" in note and "noeviction" in note


def test_not_ready_on_a_read_only_replica(redis_server):
    # Its master (port 9) never answers: the replica serves reads and refuses every write.
    with hosted_redis("--replicaof", "127.0.0.1", "9") as server:
        assert server.client().get("anything") is None  # it answers…
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 503  # …but cannot take work
    assert answer.get_json()["redis"] == "ReadOnlyError"
    assert "read only replica" in answer.get_json()["problem"]


def test_not_ready_when_writes_need_replicas_it_does_not_have(redis_server):
    with hosted_redis("--min-replicas-to-write", "1") as server:
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 503
    assert answer.get_json()["problem"].startswith("NOREPLICAS")


def test_not_ready_when_redis_is_out_of_memory(redis_server):
    with hosted_redis("--maxmemory", "1") as server:  # noeviction and full: every write is refused
        answer = readyz(redis_server, server.client())
    assert answer.status_code == 503
    assert answer.get_json()["redis"] == "OutOfMemoryError" and "maxmemory" in answer.get_json()["problem"]


def test_not_ready_once_the_server_stopped(redis_server):
    with hosted_redis() as server:
        connection = server.client()
        assert readyz(redis_server, connection).status_code == 200
        server.stop()
        answer = readyz(redis_server, connection)
    assert answer.status_code == 503 and answer.get_json()["status"] == "unavailable"


def test_the_probe_leaves_only_its_short_lived_key(redis_server):
    with hosted_redis() as server:
        connection = server.client()
        assert readyz(redis_server, connection).status_code == 200
        keys = connection.keys("*")
        assert len(keys) == 1 and keys[0].startswith(b"readyz:")
        assert 0 < connection.pttl(keys[0]) <= 10_000

