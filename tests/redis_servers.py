"""Real redis-servers set up the way a hosted provider might (no append-only file, CONFIG refused,
a replica, writes refused for want of replicas or memory), for the readiness and durability tests.

Each runs the embedded server's binary on a unix socket of its own (a short path: sockets are
limited to about 100 characters), fit for queues unless the test's arguments say otherwise
(later arguments win), and is stopped when the test ends.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support import wait_for
from workers.embedded_redis import redis_server_binary

FIT = ("--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", "")


class Server:
    def __init__(self, directory: Path, proc: subprocess.Popen):
        self.socket = directory / "redis.sock"
        self.proc = proc

    def client(self, **options) -> redis_lib.Redis:
        """A client that fails at once instead of retrying (an outage is what some tests are about)."""
        return redis_lib.Redis(unix_socket_path=str(self.socket), socket_timeout=2, socket_connect_timeout=1,
                               retry=Retry(NoBackoff(), 0), **options)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis_lib.RedisError, OSError):
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@contextmanager
def hosted_redis(*args: str):
    """A real server with ``FIT`` settings and then ``args``; yields a ``Server``."""
    directory = Path(tempfile.mkdtemp(prefix="rs-"))
    proc = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(directory / "redis.sock"),
                             "--unixsocketperm", "700", "--dir", str(directory), *FIT, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(directory, proc)
    try:
        wait_for(lambda: server.answers() or proc.poll() is not None, what="the test's redis-server")
        assert proc.poll() is None, f"redis-server {' '.join(args)} did not start"
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
