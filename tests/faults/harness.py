"""The fault suite's parts: a real redis-server, a LINE stand-in over HTTP, the Procfile's processes, a webhook sender.

Everything runs as separate processes or threads talking over loopback, so a
fault is injected where it happens in production: a process killed with
SIGKILL, Redis going away, LINE answering 500. Nothing of the service is
imported to run it; the tests only read Redis and the stub's records.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis as redis_lib
import requests

from tests.support import wait_for
from workers.embedded_redis import redis_server_binary

ROOT = Path(__file__).resolve().parents[2]
CHANNEL_SECRET = "fa017" + "0" * 27  # made up, in LINE's forms (32 hex; a long token)
ACCESS_TOKEN = "fault.suite.access.token.made.up." + "F" * 139


_LIVE: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Backstop for the fixtures' finalizers: no child process group outlives the test run."""
    for popen in list(_LIVE):
        if popen.poll() is None:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Like ``tests.support.wait_for`` but answers False at the deadline (for tests that report figures
    either way)."""
    try:
        wait_for(condition, timeout, interval=interval)
        return True
    except AssertionError:
        return False


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------
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
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        _LIVE.add(self.proc)
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


# ---------------------------------------------------------------------------------------------
# LINE stand-in
# ---------------------------------------------------------------------------------------------
MESSAGE_PATHS = ("/v2/bot/message/reply", "/v2/bot/message/push")


@dataclass
class LineCall:
    """One call the stub received, and what it answered."""

    seq: int
    at: float                      # time.monotonic() when received
    path: str
    kind: str                      # "reply", "push", "loading", "other"
    status: int = 0
    reply_token: str | None = None
    retry_key: str | None = None
    to: str | None = None
    texts: list[str] = field(default_factory=list)
    client_port: int = 0           # the caller's end of the connection (see ``Stack.caller_of``)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Fault:
    status: int                    # answer with this status (0: hang past the client's timeout)
    remaining: int | None = None   # calls left to fail (None: until ``until``)
    until: float | None = None     # monotonic time the fault ends
    hang_seconds: float = 0.0
    paths: tuple[str, ...] = MESSAGE_PATHS


class LineStub:
    """LINE's Messaging API on loopback, with LINE's semantics and faults on command.

    - a reply token is good for one accepted reply; a second use answers 400 "Invalid reply token";
    - a push whose ``X-Line-Retry-Key`` was accepted before answers 409 (and sends nothing);
    - ``fail_next(n, status)``, ``fail_for(seconds, status)``, ``hang_next(n, seconds)`` make
      the next message calls (reply and push) fail; failed calls consume nothing;
    - ``on_accept(call)``, if set, runs after a call was accepted (recorded, so the message is
      "out") and before the answer is sent: a test may kill the caller there, or block.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: list[LineCall] = []
        self._used_tokens: set[str] = set()
        self._accepted_keys: set[str] = set()
        self._faults: list[_Fault] = []
        self.on_accept: Callable[[LineCall], None] | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                stub._handle(self, "POST")

            def do_GET(self):
                stub._handle(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="line-stub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LineStub:
        self._thread.start()
        return self

    def close(self) -> None:
        self.on_accept = None
        self.server.shutdown()
        self.server.server_close()

    # -- faults ------------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._faults.append(_Fault(status=status, remaining=n))

    def fail_for(self, seconds: float, status: int = 503) -> float:
        """Fail every message call for ``seconds`` from now; returns the monotonic end time."""
        until = time.monotonic() + seconds
        with self._lock:
            self._faults.append(_Fault(status=status, until=until))
        return until

    def hang_next(self, n: int, seconds: float) -> None:
        """The next ``n`` message calls get no answer for ``seconds`` (then 503), nothing sent."""
        with self._lock:
            self._faults.append(_Fault(status=503, remaining=n, hang_seconds=seconds))

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- records -----------------------------------------------------------------------------
    def accepted(self) -> list[LineCall]:
        with self._lock:
            return [c for c in self.calls if c.kind in ("reply", "push") and c.accepted]

    def failed_message_calls(self) -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.kind in ("reply", "push") and not c.accepted and c.status)

    # -- the server side -----------------------------------------------------------------------
    def _pick_fault(self, path: str) -> _Fault | None:
        now = time.monotonic()
        for fault in list(self._faults):
            if path not in fault.paths:
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                    continue
                fault.remaining -= 1
                return fault
            if fault.until is not None:
                if now >= fault.until:
                    self._faults.remove(fault)
                    continue
                return fault
        return None

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path.split("?")[0]
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        kind = {"/v2/bot/message/reply": "reply", "/v2/bot/message/push": "push",
                "/v2/bot/chat/loading/start": "loading"}.get(path, "other")
        with self._lock:
            call = LineCall(seq=len(self.calls), at=time.monotonic(), path=path, kind=kind,
                            reply_token=body.get("replyToken"), retry_key=request.headers.get("X-Line-Retry-Key"),
                            to=body.get("to"), client_port=request.client_address[1],
                            texts=[m.get("text") or m.get("altText") or "" for m in body.get("messages") or []])
            self.calls.append(call)
            fault = self._pick_fault(path) if method == "POST" else None
            status, answer, headers = self._decide(call, fault)
            call.status = status if fault is None or not fault.hang_seconds else 0
        if fault is not None and fault.hang_seconds:
            time.sleep(fault.hang_seconds)  # the caller times out meanwhile
            call.status = status
        if call.accepted and kind in ("reply", "push") and self.on_accept is not None:
            self.on_accept(call)
        self._respond(request, status, answer, headers)

    def _decide(self, call: LineCall, fault: _Fault | None) -> tuple[int, dict, dict]:
        """LINE's answer to ``call`` (under the lock)."""
        if fault is not None:
            headers = {"Retry-After": "1"} if fault.status == 429 else {}
            return fault.status, {"message": "injected failure"}, headers
        request_id = uuid.uuid4().hex
        if call.kind == "reply":
            if not call.reply_token or call.reply_token in self._used_tokens:
                return 400, {"message": "Invalid reply token"}, {}
            self._used_tokens.add(call.reply_token)
            return 200, {"sentMessages": [{"id": request_id[:18], "quoteToken": "q"}]}, {}
        if call.kind == "push":
            if call.retry_key and call.retry_key in self._accepted_keys:
                return 409, {"message": "The retry key is already accepted"}, \
                    {"x-line-accepted-request-id": request_id}
            if call.retry_key:
                self._accepted_keys.add(call.retry_key)
            return 200, {"sentMessages": [{"id": request_id[:18], "quoteToken": "q"}]}, {}
        if call.kind == "loading":
            return 202, {}, {}
        if call.path.startswith("/v2/bot/profile/"):
            return 200, {"userId": call.path.rsplit("/", 1)[-1], "displayName": "ผู้ป่วยทดสอบ"}, {}
        if call.path == "/v2/bot/info":
            return 200, {"userId": "U" + "0" * 32, "basicId": "@test", "displayName": "Test",
                         "chatMode": "bot", "markAsReadMode": "auto"}, {}
        return 404, {"message": "Not found"}, {}

    @staticmethod
    def _respond(request: BaseHTTPRequestHandler, status: int, answer: dict, headers: dict) -> None:
        data = json.dumps(answer).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.send_header("x-line-request-id", uuid.uuid4().hex)
            for name, value in headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the caller is gone (killed, or timed out)


# ---------------------------------------------------------------------------------------------
# The Procfile's processes
# ---------------------------------------------------------------------------------------------
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
            popen = subprocess.Popen(["/bin/sh", "-c", "exec " + self.entries[kind]], cwd=ROOT,
                                     env=self.env(port), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _LIVE.add(popen)
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


# ---------------------------------------------------------------------------------------------
# The webhook sender (LINE's side of the webhook)
# ---------------------------------------------------------------------------------------------
def sign(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def patient_id(patient: int) -> str:
    return "U" + hashlib.md5(f"patient-{patient}".encode()).hexdigest()


@dataclass
class SentEvent:
    patient: int
    number: int                    # the patient's message number, 1-based
    event: dict
    sent_at: float | None = None   # first attempt
    delivered_at: float | None = None  # first 2xx
    attempts: int = 0

    @property
    def id(self) -> str:
        return self.event["webhookEventId"]

    @property
    def user(self) -> str:
        return self.event["source"]["userId"]

    @property
    def reply_token(self) -> str:
        return self.event["replyToken"]


class WebhookSender:
    """Posts signed webhooks to the web process; optionally redelivers what got no 2xx, as LINE does."""

    def __init__(self, stack: Stack, redeliver: bool = False, timeout: float = 5):
        self.stack = stack
        self.redeliver = redeliver
        self.timeout = timeout
        self.events: list[SentEvent] = []
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._undelivered: list[list[SentEvent]] = []
        self.statuses: dict[str, int] = {}

    def event(self, patient: int) -> SentEvent:
        with self._lock:
            number = self._counts.get(patient, 0) + 1
            self._counts[patient] = number
            raw = {
                "type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
                "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
                "deliveryContext": {"isRedelivery": False},
                "source": {"type": "user", "userId": patient_id(patient)},
                "replyToken": uuid.uuid4().hex,
                "message": {"type": "text", "id": str(uuid.uuid4().int)[:18],
                            "text": f"p{patient:02d}-m{number:02d}", "quoteToken": "q"},
            }
            sent = SentEvent(patient, number, raw)
            self.events.append(sent)
            return sent

    def send(self, events: list[SentEvent]) -> int:
        """One webhook with these events; returns the status (0: no answer)."""
        now = time.monotonic()
        for e in events:
            e.sent_at = e.sent_at or now
            e.attempts += 1
        body = json.dumps({"destination": "U" + "0" * 32, "events": [e.event for e in events]},
                          ensure_ascii=False).encode()
        try:
            status = requests.post(f"{self.stack.web_url}/callback", data=body, timeout=self.timeout,
                                   headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)}
                                   ).status_code
        except requests.RequestException:
            status = 0
        key = str(status)
        with self._lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1
        if 200 <= status < 300:
            for e in events:
                e.delivered_at = e.delivered_at or time.monotonic()
        elif self.redeliver:
            for e in events:
                e.event["deliveryContext"] = {"isRedelivery": True}
            with self._lock:
                self._undelivered.append(events)
        return status

    def send_new(self, patient_batch: list[int]) -> int:
        """One webhook carrying the next message of each patient in ``patient_batch``."""
        return self.send([self.event(p) for p in patient_batch])

    def redeliver_pending(self) -> int:
        """Resend each batch that got no 2xx once; returns how many batches are still undelivered."""
        with self._lock:
            batches, self._undelivered = self._undelivered, []
        for batch in batches:
            self.send(batch)
        with self._lock:
            return len(self._undelivered)

    def undelivered(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._undelivered)


# ---------------------------------------------------------------------------------------------
# Slow clients (a slow-body attack, as the review of issue 24 made it)
# ---------------------------------------------------------------------------------------------
class SlowClients:
    """``n`` connections that each send the headers of a 100 kB ``POST /callback`` and then one body byte
    every 0.5-2 s, from one thread (``part="headers"``: the request line, then one byte of a header
    that never ends). A connection the server answers or closes is opened again, so ``n`` are held
    all along; ``answers`` counts what the server said ("408", "closed", …) and ``held_for`` how long
    each cut connection had been open.
    """

    START = {"body": b"POST /callback HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
                     b"X-Line-Signature: c2xvdw==\r\nContent-Length: 100000\r\n\r\n{",
             "headers": b"POST /callback HTTP/1.1\r\nHost: slow\r\nX-Slow: "}

    def __init__(self, port: int, n: int, part: str = "body"):
        self.port, self.n, self.start = port, n, self.START[part]
        self.connects = 0
        self.answers: dict[str, int] = {}
        self.held_for: list[float] = []
        self._opened: dict[socket.socket, float] = {}
        self._due: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        self._thread.start()
        wait_for(lambda: self.connects >= self.n, 20, what=f"{self.n} slow connections open")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            while len(self._due) < self.n and not self._stop.is_set():
                try:
                    self._open()
                except OSError:
                    break
            now = time.monotonic()
            wait = min(self._due.values(), default=now + 0.2) - now
            readable, _, _ = select.select(list(self._due), [], [], min(max(wait, 0.0), 0.2))
            for s in readable:
                self._cut(s)
            now = time.monotonic()
            for s, due in list(self._due.items()):
                if due <= now:
                    try:
                        s.send(b"a")
                        self._due[s] = now + random.uniform(0.5, 2)
                    except OSError:
                        self._cut(s)
        for s in list(self._due):
            self._close(s)

    def _open(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(self.start)
        self.connects += 1
        self._opened[s] = time.monotonic()
        self._due[s] = time.monotonic() + random.uniform(0.5, 2)

    def _cut(self, s: socket.socket) -> None:
        """The server answered or closed: note what it said and after how long."""
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        self.answers[status] = self.answers.get(status, 0) + 1
        self.held_for.append(time.monotonic() - self._opened[s])
        self._close(s)

    def _close(self, s: socket.socket) -> None:
        self._due.pop(s, None)
        self._opened.pop(s, None)
        s.close()


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
@dataclass
class Figures:
    scenario: str
    sent: int
    delivered: int                 # got a 2xx from the webhook
    answered: int                  # delivered events with at least one accepted answer
    twice: int                     # answered more than once
    set_aside: int                 # entries in the dead list
    unanswered: int
    out_of_order: int              # patients whose answers came out of order
    first_to_last: float | None    # first message sent -> last first-answer accepted (s); "-" while any is unanswered
    recover: float | None          # end of the fault -> last first-answer accepted (s); likewise
    notes: str = ""

    def line(self) -> str:
        def secs(v):
            return "-" if v is None else f"{v:.1f}s"
        return (f"{self.scenario}: sent={self.sent} delivered={self.delivered} answered={self.answered} "
                f"twice={self.twice} set_aside={self.set_aside} unanswered={self.unanswered} "
                f"out_of_order={self.out_of_order} first_to_last={secs(self.first_to_last)} "
                f"recover={secs(self.recover)}{(' ' + self.notes) if self.notes else ''}")


def answers_by_event(events: list[SentEvent], line: LineStub, retry_key: Callable[[str], str]) -> dict[str, list[LineCall]]:
    """Accepted LINE calls per event: a reply with its reply token, or a push with its answer's retry key."""
    by_token = {e.reply_token: e.id for e in events}
    by_key = {retry_key(e.id): e.id for e in events}
    found: dict[str, list[LineCall]] = {e.id: [] for e in events}
    for call in line.accepted():
        eid = by_token.get(call.reply_token) if call.kind == "reply" else by_key.get(call.retry_key)
        if eid is not None:
            found[eid].append(call)
    return found


def figures(scenario: str, events: list[SentEvent], line: LineStub, connection: redis_lib.Redis,
            dead_key: str, retry_key: Callable[[str], str], fault_end: float | None = None,
            notes: str = "") -> tuple[Figures, dict[str, list[LineCall]]]:
    answers = answers_by_event(events, line, retry_key)
    delivered = [e for e in events if e.delivered_at is not None]
    answered = [e for e in delivered if answers[e.id]]
    firsts = [min(c.at for c in answers[e.id]) for e in answered]
    out_of_order = 0
    for patient in {e.patient for e in events}:
        mine = sorted((e for e in answered if e.patient == patient), key=lambda e: e.number)
        order = [min(c.seq for c in answers[e.id]) for e in mine]
        out_of_order += order != sorted(order)
    start = min((e.sent_at for e in events if e.sent_at), default=None)
    last = max(firsts, default=None) if len(answered) == len(delivered) else None
    try:
        set_aside = connection.llen(dead_key)
    except redis_lib.RedisError:
        set_aside = -1
    return Figures(
        scenario=scenario, sent=len(events), delivered=len(delivered), answered=len(answered),
        twice=sum(1 for e in events if len(answers[e.id]) > 1), set_aside=set_aside,
        unanswered=len(delivered) - len(answered), out_of_order=out_of_order,
        first_to_last=(last - start) if last is not None and start is not None else None,
        recover=(last - fault_end) if last is not None and fault_end is not None else None,
        notes=notes,
    ), answers
