"""The Procfile's processes, started as a platform starts them, and which of them did what.

Nothing of the service is imported to run it: each entry is its Procfile command in a shell,
talking over loopback to the suite's redis-server and LINE stand-in, so a fault (a process
killed with SIGKILL, Redis going away, LINE answering 500) happens where it does in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.faults.children import free_port, spawn
from tests.faults.line_stub import ACCESS_TOKEN, CHANNEL_SECRET, LineCall, LineStub
from tests.faults.redis_server import RedisServer
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]


def read_procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        entries[name.strip()] = command.strip()
    return entries


@dataclass
class Proc:
    kind: str                      # the Procfile entry
    number: int                    # kind.1, kind.2, … as a platform names them
    popen: subprocess.Popen
    log: Path
    port: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.number}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group, as a platform does when a container dies."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self.popen.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log; for a process that died, also where its first traceback began."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        tail = text[-lines:]
        if not self.alive():
            first = next((i for i, line in enumerate(text) if line.startswith("Traceback")), None)
            if first is not None and first < len(text) - lines:
                return "\n".join([*text[max(0, first - 3):first + 12], "[…]", *tail])
        return "\n".join(tail)


def _socket_inode(local_port: int) -> int | None:
    """The inode of the TCP socket bound to 127.0.0.1:``local_port`` (from /proc/net/tcp)."""
    wanted = f"0100007F:{local_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted:
            return int(fields[9])
    return None


class Stack:
    """Every Procfile entry started as the platform would: its command through a shell, one process group each."""

    def __init__(self, redis_server: RedisServer, line: LineStub, log_dir: Path, extra_env: dict | None = None,
                 procfile: Path = ROOT / "Procfile"):
        self.redis_server = redis_server
        self.line = line
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.entries = read_procfile(procfile)
        self.extra_env = extra_env or {}
        self.procs: list[Proc] = []
        self._numbers: dict[str, int] = {}
        self.web_url: str | None = None

    def env(self, port: int | None) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)  # the Procfile's gunicorn and python are the venv's
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR")}
        env.update(PATH=f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}", PYTHONUNBUFFERED="1",
                   REDIS_URL=self.redis_server.url, LINE_CHANNEL_SECRET=CHANNEL_SECRET,
                   LINE_CHANNEL_ACCESS_TOKEN=ACCESS_TOKEN, LINE_API_BASE_URL=self.line.url,
                   LINE_DATA_API_BASE_URL=self.line.url, LINE_TIMEOUT_SECONDS="3", LOG_LEVEL="INFO",
                   VAR_DIR=str(self.log_dir / "var"))
        if port is not None:
            env["PORT"] = str(port)
        env.update(self.extra_env)
        return env

    def start_all(self) -> None:
        for kind in self.entries:
            self.start(kind, wait=False)
        for proc in self.procs:
            self.wait_ready(proc)

    def start(self, kind: str, wait: bool = True) -> Proc:
        number = self._numbers.get(kind, 0) + 1
        self._numbers[kind] = number
        port = free_port() if kind == "web" else None
        log = self.log_dir / f"{kind}.{number}.log"
        with open(log, "ab") as out:
            popen = spawn(["/bin/sh", "-c", "exec " + self.entries[kind]], cwd=ROOT, env=self.env(port),
                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc = Proc(kind, number, popen, log, port)
        self.procs.append(proc)
        if kind == "web":
            self.web_url = f"http://127.0.0.1:{port}"
        if wait:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc: Proc, timeout: float = 120) -> None:
        def ready():
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
            if proc.kind == "web":
                try:
                    return requests.get(f"http://127.0.0.1:{proc.port}/readyz", timeout=2).status_code == 200
                except requests.RequestException:
                    return False
            # Any other entry: ready once some process of its group registered with RQ (worker or scheduler).
            return bool(self.rq_pids() & self._group_pids(proc)) or self._not_rq(proc)
        wait_for(ready, timeout, what=f"{proc.name} ready")

    def _not_rq(self, proc: Proc) -> bool:
        """An entry that never registers with RQ (a sweeper, say) counts as ready after a few seconds alive."""
        return time.monotonic() - proc.started > 5 and proc.alive()

    def rq_pids(self) -> set[int]:
        """Pids of the RQ workers and schedulers registered in Redis."""
        pids = set()
        with self.redis_server.client() as c:
            for key in c.scan_iter("rq:worker:*"):
                if c.type(key) == b"hash" and (pid := c.hget(key, "pid")):
                    pids.add(int(pid))
            for key in c.scan_iter("rq:scheduler:*"):
                if c.type(key) == b"hash" and (pid := c.hget(key, "pid")):
                    pids.add(int(pid))
        return pids

    @staticmethod
    def _group_pids(proc: Proc) -> set[int]:
        """Pids in the process group of ``proc`` (its own and forked children such as RQ's scheduler)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == proc.pid:
                        pids.add(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return pids

    def owner_of(self, pid: int) -> Proc | None:
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        return next((p for p in self.procs if p.pid == group and p.alive()), None)

    def scheduler_holder(self) -> Proc | None:
        """The process holding RQ's scheduler lock (``rq:scheduler-lock:<queue>``), if one of ours does."""
        with self.redis_server.client() as c:
            for key in c.scan_iter("rq:scheduler-lock:*"):
                name = c.get(key)
                pid = c.hget(f"rq:scheduler:{name.decode()}", "pid") if name else None
                if pid and (owner := self.owner_of(int(pid))) is not None:
                    return owner
        return None

    def caller_of(self, call: LineCall) -> Proc | None:
        """The process that made ``call``: the owner of the loopback socket on the caller's port."""
        inode = _socket_inode(call.client_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                for fd in (entry / "fd").iterdir():
                    if os.readlink(fd) == target:
                        return self.owner_of(int(entry.name))
            except OSError:
                continue
        return None

    def of_kind(self, kind: str) -> list[Proc]:
        return [p for p in self.procs if p.kind == kind and p.alive()]

    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.kind != "web" and p.alive()]

    def stop_all(self, grace: float = 5) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.kill(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            proc.kill(signal.SIGKILL)  # the group: children that outlived their parent too

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}, {'alive' if p.alive() else f'exit {p.popen.returncode}'}) "
                         f"---\n{p.log_tail(lines)}" for p in self.procs)
