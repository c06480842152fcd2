"""Redis Sentinel: the service finds the master through real sentinels and keeps working after a failover."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import redis as redis_lib

from bot.settings import load_settings
from workers.embedded_redis import redis_server_binary
from workers.redis_client import connect_redis

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float = 40.0, what: str = "condition"):
    """``tests.support.wait_for`` that also rides out Redis errors: during a failover they are expected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except redis_lib.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def fail_over(ports) -> None:
    """Ask the sentinel for a failover until it starts one: on a busy machine it may not yet hold the
    replica's state fresh enough to promote it (NOGOODSLAVE), which a wait rides out."""
    sentinel = redis_lib.Redis(port=ports["sentinel"])
    wait_until(lambda: sentinel.execute_command("SENTINEL", "FAILOVER", "mymaster"), 60, "a failover to start")


@pytest.fixture
def sentinel_setup(tmp_path):
    """A master, a replica and one sentinel on loopback ports, all stopped at the end."""
    master, replica, sentinel = free_port(), free_port(), free_port()
    procs = []

    def start(*args):
        procs.append(subprocess.Popen([redis_server_binary(), *args], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))

    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
    start("--port", str(master), "--dir", str(tmp_path), *common)
    start("--port", str(replica), "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(master), *common)
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n")
    start(str(conf), "--sentinel")
    ports = {"master": master, "replica": replica, "sentinel": sentinel}
    replica_client = redis_lib.Redis(port=replica)
    wait_until(lambda: replica_client.info("replication")["master_link_status"] == "up", what="replication")
    sentinel_client = redis_lib.Redis(port=sentinel)
    wait_until(lambda: sentinel_client.sentinel_masters().get("mymaster", {}).get("num-slaves", 0) >= 1,
               what="the sentinel to see the replica")
    yield ports
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_the_service_follows_the_master_through_a_failover(sentinel_setup):
    settings = load_settings(_env_file=None, redis_sentinels=f"127.0.0.1:{sentinel_setup['sentinel']}",
                             redis_sentinel_master="mymaster")
    client = connect_redis(settings)
    client.set("k", "before")
    assert client.connection_pool.get_master_address() == ("127.0.0.1", sentinel_setup["master"])

    fail_over(sentinel_setup)
    wait_until(lambda: client.connection_pool.get_master_address()[1] == sentinel_setup["replica"], 60,
               "the failover")
    wait_until(lambda: client.set("k", "after"), 60, "writes to the new master")  # reconnects by itself
    assert client.get("k") == b"after"
    assert redis_lib.Redis(port=sentinel_setup["replica"]).get("k") == b"after"


def test_sentinel_addresses_are_checked_at_start_up():
    from bot.settings import SettingsError
    with pytest.raises(SettingsError, match=r"REDIS_SENTINELS: .*expected 'host:port,host:port', got 'localhost'"):
        load_settings(_env_file=None, redis_sentinels="localhost,nope:x")


def test_start_up_finds_the_master_through_the_sentinels_or_says_which_name_they_lack(sentinel_setup):
    from workers.start_up import redis_problems

    addresses = f"127.0.0.1:{sentinel_setup['sentinel']}"
    assert redis_problems(load_settings(_env_file=None, redis_sentinels=addresses)) == []
    (problem,) = redis_problems(load_settings(_env_file=None, redis_sentinels=addresses,
                                              redis_sentinel_master="mymastr"))
    assert problem.name == "REDIS_SENTINEL_MASTER" and "know no master named 'mymastr'" in problem.what


def test_a_script_runs_on_the_new_master_after_a_failover(sentinel_setup):
    """The replica never cached the script (scripts replicate as their effects): the first run there meets
    NOSCRIPT and loads it (``workers/lua``)."""
    from workers import lua
    from workers.handoff.store import HandoffStore

    settings = load_settings(_env_file=None, redis_sentinels=f"127.0.0.1:{sentinel_setup['sentinel']}",
                             redis_sentinel_master="mymaster")
    client = connect_redis(settings)
    store = HandoffStore(client, b"k" * 32)
    client.hset("handoff:state:U1", mapping={"session": "s1", "reason": "asked", "since": "1"})
    assert store.update("U1", "s1", reason="urgent")
    sha = lua.SCRIPTS["handoff_update"].sha
    replica = redis_lib.Redis(port=sentinel_setup["replica"])
    wait_until(lambda: replica.hget("handoff:state:U1", "reason") == b"urgent", what="replication")
    assert replica.script_exists(sha) == [False]

    fail_over(sentinel_setup)
    wait_until(lambda: client.connection_pool.get_master_address()[1] == sentinel_setup["replica"], 60,
               "the failover")
    wait_until(lambda: store.update("U1", "s1", reason="after"), 60, "the script on the new master")
    assert replica.hget("handoff:state:U1", "reason") == b"after"
    assert replica.script_exists(sha) == [True]
