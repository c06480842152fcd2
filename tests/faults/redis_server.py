"""A real redis-server for the fault suite, which a scenario may stop, restart or kill."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis as redis_lib

from tests.faults.children import free_port, spawn
from tests.support import wait_for
from workers.embedded_redis import redis_server_binary


class RedisServer:
    """A redis-server child process (the embedded server's binary), append-only, on a fixed loopback port.

    ``stop()`` and ``start()`` again reuse the same port and data directory, so the
    service's processes see a Redis restart, and the append-only file brings the data back.
    """

    def __init__(self, directory: Path, port: int | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def start(self, timeout: float = 15) -> None:
        command = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"), "--daemonize", "no",
                   "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
                   "--save", ""]
        self.proc = spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout, what=f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            with self.client() as c:
                return bool(c.ping())
        except (redis_lib.RedisError, OSError):
            return False

    def stop(self, timeout: float = 15) -> None:
        """A clean shutdown (SIGTERM: the append-only file is flushed), as a restart by an operator."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """A crash: SIGKILL, up to a second of writes lost (appendfsync everysec)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, down_for: float) -> None:
        self.stop()
        time.sleep(down_for)  # the length of the outage itself, not a wait for anything
        self.start()
        self.restarts += 1
