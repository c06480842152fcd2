"""Stand-ins over HTTP for Oho Chat, EngageLab LiveDesk, SEPSMS and MOPH Alert, with faults on command.

Same style as the LINE stub in ``tests/faults/line_stub.py``: each runs a loopback HTTP
server in a thread, records every call it received and what it answered, keeps the
provider's state where the service depends on it (a conversation's messages, an Oho room
with an agent or not, the SMS sent), and fails on command:

- ``fail_next(n, status)``, ``fail_for(seconds, status)``: answer ``status`` and do nothing;
- ``hang_next(n, seconds)``: answer only after ``seconds`` (past the client's timeout);
- ``after=True`` on either: the provider *does* act, then answers with the fault (a gateway
  that timed out in front of a provider that did the work), or hangs after acting;
- ``match``: the fault applies only to calls it accepts (one patient, one number, one CID).

``acted`` marks the calls the provider carried out (a message made, an SMS sent, a push sent);
that is what "exactly once" counts. ``on_accept(call)``, if set, runs after a call acted and
before the answer leaves: a test may kill the caller there (see ``Stack.caller_of``).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

#: Credentials the stack runs with: made up, each at least 32 characters (the service may require it).
OHO_API_KEY = "fault-suite-oho-api-key-0123456789abcdef"
LIVEDESK_API_KEY = "fault-suite-livedesk-key-0123456789abcdef"
LIVEDESK_API_SECRET = "fault-suite-livedesk-secret-0123456789abcd"
LIVEDESK_WEBHOOK_TOKEN = "fault-suite-livedesk-hook-0123456789abcdef"
LIVEDESK_INBOX_ID = 79
SEPSMS_API_KEY = "sk_sep_fault_suite_0123456789abcdef0123456789"
OTP_SECRET = "fault-suite-otp-secret-0123456789abcdef01"
MOPH_PASSWORD_HASH = "FAULTSUITE0123456789ABCDEF0123456789ABCDEF"
APPOINTMENTS_API_TOKEN = "fault-suite-appointments-token-0123456789ab"


@dataclass
class Call:
    """One request a stub received, and what it answered."""

    seq: int
    at: float                      # time.monotonic() when received
    method: str
    path: str
    query: dict
    body: object                   # decoded JSON, a dict of form fields, or None
    client_port: int
    headers: dict = field(default_factory=dict)
    status: int = 0                # 0 while unanswered (hanging)
    acted: bool = False            # the provider carried the call out
    answer: object = None

    @property
    def answered_ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Fault:
    status: int
    remaining: int | None = None   # calls left to fail (None: until ``until``)
    until: float | None = None
    hang_seconds: float = 0.0
    after: bool = False            # act first, then answer with the fault
    match: Callable[[Call], bool] | None = None
    body: object = None            # the answer's body (None: bare, like a proxy's error page)


class HttpStub:
    """The shared machinery; subclasses implement ``route`` (called under the lock)."""

    name = "stub"
    #: Only calls for which this is true are subject to faults (e.g. not the token endpoint).
    faultable: Callable[[Call], bool] = staticmethod(lambda call: True)

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._faults: list[Fault] = []
        self.on_accept: Callable[[Call], None] | None = None

    def start(self):
        # The server is made here, not in __init__: a stub may also serve as one account behind another
        # stub's address (``tests/faults/province.py``), never listening itself.
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                stub._handle(self, "GET")

            def do_POST(self):
                stub._handle(self, "POST")

            def do_PATCH(self):
                stub._handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name=f"{self.name}-stub", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.on_accept = None
        self.server.shutdown()
        self.server.server_close()

    # -- faults ------------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 503, *, after: bool = False, match=None, body=None) -> None:
        with self._lock:
            self._faults.append(Fault(status, remaining=n, after=after, match=match, body=body))

    def fail_for(self, seconds: float, status: int = 503, *, match=None, body=None) -> float:
        """Fail every (matching) call for ``seconds`` from now; returns the monotonic end time."""
        until = time.monotonic() + seconds
        with self._lock:
            self._faults.append(Fault(status, until=until, match=match, body=body))
        return until

    def hang_next(self, n: int, seconds: float, *, after: bool = True, match=None) -> None:
        """The next ``n`` (matching) calls get their answer only after ``seconds``; with ``after`` the
        provider acts at once (the answer is what is late), else it answers 503 late and does nothing."""
        with self._lock:
            self._faults.append(Fault(503, remaining=n, hang_seconds=seconds, after=after, match=match))

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()

    def _pick_fault(self, call: Call) -> Fault | None:
        if not self.faultable(call):
            return None
        now = time.monotonic()
        for fault in list(self._faults):
            if (fault.remaining is not None and fault.remaining <= 0) or (fault.until is not None and now >= fault.until):
                self._faults.remove(fault)
                continue
            if fault.match is not None and not fault.match(call):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault
        return None

    # -- records -----------------------------------------------------------------------------
    def calls_to(self, suffix: str, method: str = "POST") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    # -- the server side -----------------------------------------------------------------------
    def route(self, call: Call) -> tuple[int, object, dict]:
        """(status, answer, headers) for ``call``; set ``call.acted`` when the provider carried it out."""
        raise NotImplementedError

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        body: object = None
        content_type = request.headers.get("Content-Type") or ""
        if raw and content_type.startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        elif raw and content_type.startswith("application/x-www-form-urlencoded"):
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self._lock:
            call = Call(seq=len(self.calls), at=time.monotonic(), method=method, path=parts.path,
                        query={k: v[0] for k, v in parse_qs(parts.query).items()}, body=body,
                        client_port=request.client_address[1], headers={k.lower(): v for k, v in request.headers.items()})
            self.calls.append(call)
            fault = self._pick_fault(call)
            if fault is None or fault.after:
                status, answer, headers = self.route(call)
            if fault is not None and not (fault.hang_seconds and fault.after):  # a late answer is the real one
                status, answer, headers = fault.status, fault.body, {}
            call.answer = answer
            if not (fault is not None and fault.hang_seconds):
                call.status = status
        if call.acted and self.on_accept is not None:
            self.on_accept(call)
        if fault is not None and fault.hang_seconds:
            time.sleep(fault.hang_seconds)  # the caller times out meanwhile
            call.status = status
        self._respond(request, status, answer, headers)

    @staticmethod
    def _respond(request: BaseHTTPRequestHandler, status: int, answer: object, headers: dict) -> None:
        if answer is None:
            data, kind = b"<html><body>error</body></html>" if status >= 400 else b"", "text/html"
        elif isinstance(answer, str):
            data, kind = answer.encode(), "text/plain"
        else:
            data, kind = json.dumps(answer, ensure_ascii=False).encode(), "application/json"
        try:
            request.send_response(status)
            request.send_header("Content-Type", kind)
            request.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the caller is gone (killed, or timed out)


# ---------------------------------------------------------------------------------------------
# Oho Chat developer API
# ---------------------------------------------------------------------------------------------
def _envelope(status: int, message: str, data=None) -> tuple[int, dict, dict]:
    body = {"ok": status < 400, "status_code": status, "message": message}
    if data is not None:
        body["data"] = data
    return status, body, {}


class OhoStub(HttpStub):
    """Oho Chat developer API: contacts by (platform_id, user), chat rooms that are with the bot or an
    agent. request-agent on a room already with an agent answers 409 (Oho Chat developer API,
    "3.1 Request agent session", Response Conflict), close-chat on a bot room likewise."""

    name = "oho"

    def __init__(self, api_key: str = OHO_API_KEY):
        super().__init__()
        self.api_key = api_key
        self.contacts: dict[str, dict] = {}
        self.rooms: dict[str, str] = {}    # user -> "bot" | "agent"
        self.switches: list[tuple[str, str]] = []  # (user, "agent" | "bot") as carried out

    def route(self, call: Call) -> tuple[int, object, dict]:
        if call.headers.get("x-oho-api-key") != self.api_key:
            return _envelope(401, "You do not have valid permission")
        parts = call.path.strip("/").split("/")
        if call.method == "POST" and parts == ["contact"]:
            user = ((call.body or {}).get("social_profile") or {}).get("id")
            if user in self.contacts:
                return _envelope(409, "The contact already exists")
            self.contacts[user] = {"display_name": call.body.get("display_name"), "tags": [], "labels": [],
                                   "attributes": []}
            call.acted = True
            return _envelope(201, "Created contact successfully")
        if len(parts) == 5 and parts[0] == "contact":
            user = parts[4]
            if user not in self.contacts:
                return _envelope(404, "Not found contact")
            if call.method == "PATCH":
                self.contacts[user].update(call.body or {})
                call.acted = True
                return _envelope(200, "Update contact successfully")
            return _envelope(200, "ok", data=self.contacts[user])
        if len(parts) == 6 and parts[0] == "chat" and call.method == "POST":
            user, action = parts[4], parts[5]
            to = {"request-agent": "agent", "close-chat": "bot"}.get(action)
            if to is None:
                return _envelope(404, "Not found")
            if self.rooms.get(user, "bot") == to:
                return _envelope(409, "Chat room cannot be changed to agent requested" if to == "agent"
                                 else "Chat room session cannot be closed")
            self.rooms[user] = to
            self.switches.append((user, to))
            call.acted = True
            return _envelope(200, "Agent has been requested for the chat room" if to == "agent"
                             else "Chat room session has been closed")
        return _envelope(404, "Not found")

    def request_agent_calls(self, user: str) -> list[Call]:
        return [c for c in self.calls_to("/request-agent") if f"/user/{user}/" in c.path]


# ---------------------------------------------------------------------------------------------
# EngageLab LiveDesk (Chatwoot-style API channel)
# ---------------------------------------------------------------------------------------------
@dataclass
class DeskMessage:
    id: int
    conversation: int
    content: str
    message_type: str              # "incoming" | "outgoing"
    private: bool
    by_agent: bool = False
    seq: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))


class LiveDeskStub(HttpStub):
    """LiveDesk's API channel: contacts, conversations, messages (EngageLab LiveDesk "ส่งข้อความ":
    the answer is the message with its ``id``; Chatwoot's ``GET …/messages`` reads them back, newest
    last, 20 older than ``before``; ``GET …/conversations/:id`` answers its status). With ``echo_to`` set, every message made is also
    sent back through the webhook (``message_created``), as LiveDesk does: soon, maybe before the
    API's answer reaches the caller. The service must not need echoes (they are optional)."""

    name = "livedesk"
    faultable = staticmethod(lambda call: True)

    def __init__(self, api_key: str = LIVEDESK_API_KEY, api_secret: str = LIVEDESK_API_SECRET,
                 inbox_id: int = LIVEDESK_INBOX_ID, first_conversation: int = 141):
        super().__init__()
        self.inbox_id = inbox_id
        self.contacts: list[dict] = []
        self.conversations: dict[int, dict] = {}
        self.messages: list[DeskMessage] = []
        self._ids = itertools.count(3001)
        self._conversation_ids = itertools.count(first_conversation)  # per account, as LiveDesk numbers them
        self._contact_ids = itertools.count(512)
        self.echo_to: str | None = None    # the web's webhook URL, or None: no echoes
        self.echoes: list[tuple[int, int]] = []  # (message id, webhook status)
        self.authorization = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()

    def route(self, call: Call) -> tuple[int, object, dict]:
        if call.headers.get("authorization") != self.authorization:
            return 401, {"error": "Invalid Access Token"}, {}
        parts = call.path.strip("/").split("/")
        if parts == ["api", "v2", "accounts", "contacts"]:
            contact = {"id": next(self._contact_ids), **(call.body or {})}
            self.contacts.append(contact)
            call.acted = True
            return 200, {"payload": {"contact": {"id": contact["id"]}}}, {}
        if parts == ["api", "v2", "accounts", "conversations"]:
            conversation = {"id": next(self._conversation_ids), **(call.body or {})}
            self.conversations[conversation["id"]] = conversation
            call.acted = True
            return 200, {"id": conversation["id"], "inbox_id": self.inbox_id, "status": "open"}, {}
        if len(parts) == 5 and parts[:4] == ["api", "v2", "accounts", "conversations"] and call.method == "GET":
            found = self.conversations.get(int(parts[4])) if parts[4].isdigit() else None
            if found is None:
                return 404, {"error": "Resource could not be found"}, {}
            return 200, {"id": found["id"], "inbox_id": self.inbox_id, "status": "open", "messages": []}, {}
        if len(parts) == 6 and parts[:4] == ["api", "v2", "accounts", "conversations"] and parts[5] == "messages":
            conversation = int(parts[4])
            if conversation not in self.conversations:
                return 404, {"error": "Resource could not be found"}, {}
            if call.method == "GET":
                before = int(call.query.get("before") or 10**12)
                found = [m for m in self.messages if m.conversation == conversation and m.id < before][-20:]
                return 200, {"meta": {}, "payload": [self._message_json(m) for m in found]}, {}
            body = call.body if isinstance(call.body, dict) else {}
            if not body.get("content"):
                return 422, {"errors": ["Content can't be blank"]}, {}
            private = body.get("private") in (True, "true")
            message = DeskMessage(next(self._ids), conversation, str(body["content"]),
                                  str(body.get("message_type") or "outgoing"), private, seq=len(self.messages))
            self.messages.append(message)
            call.acted = True
            self._echo(message)
            return 200, self._message_json(message), {}
        if len(parts) == 8 and parts[5] == "messages" and parts[7] == "retry":
            call.acted = True
            return 200, {}, {}
        return 404, {"error": "Not found"}, {}

    def _message_json(self, message: DeskMessage) -> dict:
        return {"id": message.id, "content": message.content, "inbox_id": self.inbox_id,
                "conversation_id": message.conversation, "message_type": 1 if message.message_type == "outgoing" else 0,
                "content_type": "text", "status": "sent", "content_attributes": {}, "created_at": message.created_at,
                "private": message.private, "source_id": None, "sorting_id": message.seq,
                "sender": {"id": 3, "name": "Nurse A" if message.by_agent else "API", "type": "user"},
                "attachments": []}

    def event(self, message: DeskMessage) -> dict:
        """The ``message_created`` webhook event of ``message`` (Chatwoot's shape)."""
        return {"event": "message_created", "id": message.id, "content": message.content,
                "message_type": message.message_type, "private": message.private, "content_type": "text",
                "sender": {"id": 3, "name": "Nurse A" if message.by_agent else "API", "type": "user"},
                "conversation": {"id": message.conversation, "inbox_id": self.inbox_id, "status": "open"},
                "inbox": {"id": self.inbox_id}, "attachments": []}

    def _echo(self, message: DeskMessage) -> None:
        if self.echo_to is None:
            return
        url, event = self.echo_to, self.event(message)

        def send():
            try:
                status = requests.post(url, json=event, timeout=5).status_code
            except requests.RequestException:
                status = 0
            with self._lock:
                self.echoes.append((message.id, status))

        threading.Thread(target=send, daemon=True).start()

    def agent_writes(self, conversation: int, content: str) -> dict:
        """An agent types a reply in the conversation: made here, returned as its webhook event."""
        with self._lock:
            message = DeskMessage(next(self._ids), conversation, content, "outgoing", False, by_agent=True,
                                  seq=len(self.messages))
            self.messages.append(message)
        return self.event(message)

    def in_conversation(self, conversation: int, *, private: bool | None = None) -> list[DeskMessage]:
        with self._lock:
            return [m for m in self.messages if m.conversation == conversation and not m.by_agent
                    and (private is None or m.private == private)]


# ---------------------------------------------------------------------------------------------
# SEPSMS REST API v2
# ---------------------------------------------------------------------------------------------
def sepsms_error(code: str, message: str) -> dict:
    """SEPSMS REST API v2, "Errors": every error has this envelope."""
    return {"success": False, "error": {"code": code, "message": message}}


class SepsmsStub(HttpStub):
    """SEPSMS under ``/api/v2``: ``/otp/send`` makes a code and texts it (the answer holds the
    reference, never the code), ``/otp/verify`` checks it, ``/message/credit/balance``."""

    name = "sepsms"
    faultable = staticmethod(lambda call: call.path.endswith("/otp/send"))

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, str]] = []   # (destination, reference, code) as texted
        self._references = itertools.count(1)

    def route(self, call: Call) -> tuple[int, object, dict]:
        if call.headers.get("x-api-key") != SEPSMS_API_KEY:
            return 401, sepsms_error("auth.invalid_credentials", "API key is missing or invalid"), {}
        body = call.body if isinstance(call.body, dict) else {}
        if call.path == "/api/v2/otp/send":
            if not body.get("destination") or not body.get("origin"):
                return 400, sepsms_error("validation.failed", "destination and origin are required"), {}
            reference = f"R{next(self._references):05d}"
            code = "123456"[:int(body.get("codeLength") or 6)]
            self.sent.append((body["destination"], reference, code))
            call.acted = True
            return 200, {"result": {"uuid": str(uuid.uuid4()), "reference": reference,
                                    "destination": body["destination"], "expiresAt": None,
                                    "ttlSeconds": body.get("ttlSeconds") or 300}}, {}
        if call.path == "/api/v2/otp/verify":
            known = {ref: code for _, ref, code in self.sent}
            return 200, {"result": {"reference": body.get("reference"),
                                    "verified": known.get(body.get("reference")) == body.get("pin")}}, {}
        if call.path == "/api/v2/message/credit/balance":
            return 200, {"result": {"balance": 18420}}, {}
        return 404, sepsms_error("not_found", "no such endpoint"), {}

    def texted(self, destination: str) -> int:
        with self._lock:
            return sum(1 for d, _, _ in self.sent if d == destination)


# ---------------------------------------------------------------------------------------------
# MOPH Alert
# ---------------------------------------------------------------------------------------------
def fake_jwt(hours: float = 24, subject: str = "fault-suite") -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    claims = {"sub": subject, "exp": int(time.time() + hours * 3600)}
    return f"{part({'alg': 'RS512', 'typ': 'JWT'})}.{part(claims)}.sig"


class MophStub(HttpStub):
    """MOPH Alert: the token call (a bare JWT, as the MOPH Alert API document 3.1 shows) and send-now
    (MOPH Alert API document 3.5: ``{"datas": [cid…], "messages": [...]}`` → ``{"message": "",
    "message_code": 200}``). Each account (the token call's ``hospital_code``) gets its own token, so a
    push is known to be of the hospital whose account sent it (``pushed_by``)."""

    name = "moph"
    faultable = staticmethod(lambda call: "send-message" in call.path)

    def __init__(self):
        super().__init__()
        self.tokens: dict[str, str] = {}              # token -> hospital code
        self.pushed: list[tuple[str, float]] = []    # (cid, monotonic time) per patient pushed
        self.pushed_by: list[tuple[str, str]] = []   # (hospital code, cid) per patient pushed

    def route(self, call: Call) -> tuple[int, object, dict]:
        if call.path == "/token":
            if call.query.get("Action") != "get_moph_access_token" or not call.query.get("password_hash"):
                return 400, {"message": "bad request", "message_code": 400}, {}
            code = call.query.get("hospital_code", "")
            token = next((t for t, c in self.tokens.items() if c == code), None) or fake_jwt(subject=code)
            self.tokens[token] = code
            return 200, token, {}
        scheme, _, token = (call.headers.get("authorization") or "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return 401, {"message": "Unauthorized", "message_code": 401}, {}
        body = call.body if isinstance(call.body, dict) else {}
        if call.path == "/api/v2/send-message/send-now":
            cids, messages = body.get("datas"), body.get("messages")
            if not cids or not messages:
                return 400, {"message": "datas and messages are required", "message_code": 400}, {}
            now = time.monotonic()
            self.pushed.extend((cid, now) for cid in cids)
            self.pushed_by.extend((self.tokens[token], cid) for cid in cids)
            call.acted = True
            return 200, {"message": "", "message_code": 200}, {}
        return 404, {"message": "not found", "message_code": 404}, {}

    def pushes_to(self, cid: str) -> int:
        with self._lock:
            return sum(1 for c, _ in self.pushed if c == cid)

    @staticmethod
    def for_cid(cid: str) -> Callable[[Call], bool]:
        return lambda call: cid in ((call.body or {}).get("datas") or []) if isinstance(call.body, dict) else False


@dataclass
class Providers:
    """The four stand-ins of one stack, and the settings that point the processes at them."""

    oho: OhoStub = field(default_factory=OhoStub)
    livedesk: LiveDeskStub = field(default_factory=LiveDeskStub)
    sepsms: SepsmsStub = field(default_factory=SepsmsStub)
    moph: MophStub = field(default_factory=MophStub)

    def start(self) -> Providers:
        for stub in (self.oho, self.livedesk, self.sepsms, self.moph):
            stub.start()
        return self

    def close(self) -> None:
        for stub in (self.oho, self.livedesk, self.sepsms, self.moph):
            stub.close()

    def env(self) -> dict[str, str]:
        return {
            "OHO_API_KEY": OHO_API_KEY, "OHO_BASE_URL": self.oho.url,
            "LIVEDESK_API_KEY": LIVEDESK_API_KEY, "LIVEDESK_API_SECRET": LIVEDESK_API_SECRET,
            "LIVEDESK_BASE_URL": self.livedesk.url, "LIVEDESK_INBOX_ID": str(LIVEDESK_INBOX_ID),
            "LIVEDESK_WEBHOOK_TOKEN": LIVEDESK_WEBHOOK_TOKEN,
            # The default: agents' messages (made here by ``agent_writes``) and a post whose answer was
            # lost are read back from this stub (tests/workers/test_agent_message_guard.py has the rest).
            "LIVEDESK_READ_BACK": "on",
            # Staff always on duty: the scenarios must not depend on the time of day they run.
            "BUSINESS_HOURS": "Mon-Sun 00:00-24:00",
            "SMS_PROVIDER": "sepsms", "SEPSMS_API_KEY": SEPSMS_API_KEY, "SEPSMS_ORIGIN": "FAULTS",
            "SEPSMS_BASE_URL": f"{self.sepsms.url}/api/v2", "OTP_SECRET": OTP_SECRET,
            "SMS_LOW_CREDIT_THRESHOLD": "0",
            "MOPH_ALERT_BASE_URL": self.moph.url, "MOPH_TOKEN_URL": f"{self.moph.url}/token",
            "MOPH_USER": "fault-suite", "MOPH_PASSWORD_HASH": MOPH_PASSWORD_HASH, "MOPH_HOSPITAL_CODE": "10999",
            "APPOINTMENTS_API_TOKEN": APPOINTMENTS_API_TOKEN,
            "REMINDER_SCHEDULE": "",
        }
