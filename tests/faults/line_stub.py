"""LINE's Messaging API on loopback (the stand-in the Procfile's processes call), and the made-up
credentials the stack runs with."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHANNEL_SECRET = "fa017" + "0" * 27  # made up, in LINE's forms (32 hex; a long token)
ACCESS_TOKEN = "fault.suite.access.token.made.up." + "F" * 139

MESSAGE_PATHS = ("/v2/bot/message/reply", "/v2/bot/message/push")
DEFAULT_BOT_ID = "U" + "0" * 32


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
    token: str | None = None       # the channel access token it came with (which LINE account sent it)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Fault:
    status: int                    # answer with this status (0: hang past the client's timeout)
    remaining: int | None = None   # calls left to fail (None: until ``until``)
    until: float | None = None     # monotonic time the fault ends
    hang_seconds: float = 0.0
    paths: tuple[str, ...] | None = MESSAGE_PATHS  # None: every call
    token: str | None = None       # only calls with this channel access token (None: any)


class LineStub:
    """LINE's Messaging API on loopback, with LINE's semantics and faults on command.

    - a reply token is good for one accepted reply; a second use answers 400 "Invalid reply token";
    - a push whose ``X-Line-Retry-Key`` was accepted before answers 409 (and sends nothing), whichever
      channel's token it came with: LINE does not say a retry key is per channel, so the strict reading;
    - ``fail_next(n, status)``, ``fail_for(seconds, status)``, ``hang_next(n, seconds)`` make
      the next message calls (reply and push) fail; failed calls consume nothing;
    - ``slow_for_token(token, seconds)``: every call with one channel's access token (one hospital's
      LINE account) is answered only after ``seconds``, as it would have been (until ``heal()``);
    - ``on_accept(call)``, if set, runs after a call was accepted (recorded, so the message is
      "out") and before the answer is sent: a test may kill the caller there, or block;
    - ``bot_ids``: the bot user id ``/v2/bot/info`` answers per channel access token (several LINE
      accounts on one stub); any other token gets ``DEFAULT_BOT_ID``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: list[LineCall] = []
        self._used_tokens: set[str] = set()
        self._accepted_keys: set[str] = set()
        self._faults: list[_Fault] = []
        self.on_accept: Callable[[LineCall], None] | None = None
        self.bot_ids: dict[str, str] = {}
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

    def slow_for_token(self, token: str, seconds: float) -> None:
        with self._lock:
            self._faults.append(_Fault(status=0, until=float("inf"), hang_seconds=seconds, paths=None, token=token))

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
    def _pick_fault(self, path: str, token: str | None) -> _Fault | None:
        now = time.monotonic()
        for fault in list(self._faults):
            if fault.paths is not None and path not in fault.paths:
                continue
            if fault.token is not None and token != fault.token:
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
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        with self._lock:
            call = LineCall(seq=len(self.calls), at=time.monotonic(), path=path, kind=kind,
                            reply_token=body.get("replyToken"), retry_key=request.headers.get("X-Line-Retry-Key"),
                            to=body.get("to"), client_port=request.client_address[1],
                            token=token if scheme == "Bearer" else None,
                            texts=[m.get("text") or m.get("altText") or "" for m in body.get("messages") or []])
            self.calls.append(call)
            fault = self._pick_fault(path, call.token) if method == "POST" else None
            slow = fault.hang_seconds if fault is not None and not fault.status else 0.0
            if not slow:
                status, answer, headers = self._decide(call, fault)
                call.status = status if fault is None or not fault.hang_seconds else 0
        if slow:  # slow, not failing: decided late, as it would have been on time (the caller may be gone)
            time.sleep(slow)
            with self._lock:
                status, answer, headers = self._decide(call, None)
                call.status = status
        elif fault is not None and fault.hang_seconds:
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
            return 200, {"userId": self.bot_ids.get(call.token, DEFAULT_BOT_ID), "basicId": "@test",
                         "displayName": "Test",
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
