"""Shared stubs for the handoff tests (no tests here): Oho and LiveDesk at the HTTP boundary
(``responses``, stateful enough to behave like the real services; they record what reached
them, the tests assert), LINE's extra endpoints on the LINE stub server, settings with handoff
configured, services whose clients skip retry sleeps, a clock, and helpers to play the scheduler."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from functools import cached_property
from itertools import count

import pytest
import requests
import responses
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bot.thai_dates import BANGKOK
from integrations.livedesk import LiveDeskClient
from integrations.oho import OhoClient
from tests.conftest import make_settings
from tests.support import FakeClock
from workers.handoff.feature import HandoffFeature
from workers.handoff.service import HandoffService
from workers.line.events import LineEventHandler
from workers.queues import QUEUE_NAMES, get_queue
from workers.services import Services
from workers.verification.store import VerificationStore

OHO = "https://oho.test"
LIVEDESK = "https://livedesk.test"
OHO_KEY = "oho-test-key-not-real"
HOOK_TOKEN = "ld-hook-token-not-real-0123456789abcdef"
BOT_ID = "U" + "b0" * 16
USER = "U" + "e" * 32
BOT_INFO = {"userId": BOT_ID, "basicId": "@000test", "displayName": "Test Hospital", "chatMode": "bot",
            "markAsReadMode": "auto"}
PROFILE = {"userId": USER, "displayName": "Somchai T.", "pictureUrl": "https://example.test/p.png"}
JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"


def handoff_settings(redis_server, line_stub, **overrides):
    """Settings with Oho and LiveDesk configured (stubbed), staff always on duty unless overridden."""
    values = dict(oho_api_key=OHO_KEY, oho_base_url=OHO, livedesk_api_key="ld-test-key",
                  livedesk_api_secret="ld-test-secret", livedesk_base_url=LIVEDESK, livedesk_inbox_id=79,
                  livedesk_webhook_token=HOOK_TOKEN, business_hours="Mon-Sun 00:00-24:00",
                  handoff_no_agent_minutes=10, handoff_idle_minutes=60,
                  # Read-back has tests of its own (tests/workers/test_agent_message_guard.py).
                  livedesk_read_back="off")
    return make_settings(redis_server, line_stub, **{**values, **overrides})


@pytest.fixture
def settings(redis_server, line_stub):
    return handoff_settings(redis_server, line_stub)


class QuickServices(Services):
    """The production services, but the provider clients skip the sleeps between their short in-process retries."""

    @cached_property
    def oho(self):
        return OhoClient.from_settings(self.settings, sleep=lambda _: None)

    @cached_property
    def livedesk(self):
        return LiveDeskClient.from_settings(self.settings, sleep=lambda _: None)


@pytest.fixture
def services(settings, redis):
    return QuickServices(settings, redis_connection=redis)


def Clock(start: dt.datetime = dt.datetime(2026, 1, 7, 10, 0, tzinfo=BANGKOK)) -> FakeClock:
    """The tests' clock, starting on a Wednesday 10:00 in Bangkok unless told otherwise."""
    return FakeClock(start)


def handler_at(services, clock: Clock) -> tuple[LineEventHandler, HandoffService]:
    """A LINE event handler whose handoff feature (and service) run on ``clock``; the rest is the real one."""
    service = services.build_handoff(clock=clock)
    feature = HandoffFeature(service, VerificationStore(services.redis, prefix=services.hospital.prefix), handoff=True)
    return LineEventHandler(services.dialog, services.line, services.redis, [feature],
                            prefix=services.hospital.prefix), service


@pytest.fixture
def line_extra(line_stub):
    """LINE's bot info, profile and content endpoints on the LINE stub."""
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json(BOT_INFO)
    line_stub.expect_request(f"/v2/bot/profile/{USER}", method="GET").respond_with_json(PROFILE)
    line_stub.expect_request(re.compile(r"/v2/bot/message/\d+/content"), method="GET").respond_with_data(
        JPEG, content_type="image/jpeg")
    return line_stub


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def oho(http):
    return OhoStub(http)


@pytest.fixture
def livedesk(http):
    return LiveDeskStub(http)


def envelope(status: int, message: str = "", data=None) -> tuple[int, dict, str]:
    body = {"ok": status < 400, "status_code": status, "message": message}
    if data is not None:
        body["data"] = data
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class OhoStub:
    """Oho as the seed describes it: contacts by triple, PATCH replaces lists, 409 for 'already'."""

    def __init__(self, rsps, contact: dict | None = None):
        self.contact = contact
        self.room = "bot"
        self.down = False
        self.refuse_create = False
        self.requests: list[tuple[str, str, dict | None]] = []
        self.api_keys: set[str | None] = set()
        contact_url = f"{OHO}/contact/line/{BOT_ID}/user/{USER}"
        chat_url = f"{OHO}/chat/line/{BOT_ID}/user/{USER}"
        rsps.add_callback(responses.GET, contact_url, callback=self._get)
        rsps.add_callback(responses.PATCH, contact_url, callback=self._patch)
        rsps.add_callback(responses.POST, f"{OHO}/contact", callback=self._create)
        rsps.add_callback(responses.POST, f"{chat_url}/request-agent", callback=lambda r: self._switch(r, "agent"))
        rsps.add_callback(responses.POST, f"{chat_url}/close-chat", callback=lambda r: self._switch(r, "bot"))

    def _log(self, request):
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, request.path_url.replace(f"/line/{BOT_ID}/user/{USER}", ""), body))
        self.api_keys.add(request.headers.get("x-oho-api-key"))

    def _get(self, request):
        self._log(request)
        if self.down:
            return envelope(503, "Service Unavailable")
        if self.contact is None:
            return envelope(404, "Not found contact")
        return envelope(200, "ok", data=self.contact)

    def _create(self, request):
        self._log(request)
        if self.down:
            return envelope(503, "Service Unavailable")
        if self.contact is not None:
            return envelope(409, "The contact already exists")
        body = json.loads(request.body)
        # Oho Chat developer API, "2.2 Create Contact": the required fields, enforced as Oho would.
        required = ("profile_picture_url", "platform_display_name", "display_name", "first_name")
        if self.refuse_create or not all(isinstance(body.get(k), str) and body[k] for k in required):
            return envelope(400, "Bad request")
        self.contact = {"display_name": body["display_name"], "tags": [], "labels": [], "attributes": []}
        return envelope(201, "Created contact successfully")

    def _patch(self, request):
        self._log(request)
        if self.down:
            return envelope(503, "Service Unavailable")
        if self.contact is None:
            return envelope(404, "The contact not found")
        self.contact.update(json.loads(request.body))  # Oho replaces what it is given
        return envelope(200, "Update contact successfully")

    def _switch(self, request, to: str):
        self._log(request)
        if self.down:
            return envelope(503, "Service Unavailable")
        if self.room == to:
            return envelope(409, "Chat room cannot be changed")
        self.room = to
        return envelope(200, "done")

    def calls(self, method: str, suffix: str = "") -> list:
        return [body for m, path, body in self.requests if m == method and path.endswith(suffix)]


class LiveDeskStub:
    """LiveDesk's API channel: contacts, conversations, messages (JSON or multipart), with ids."""

    def __init__(self, rsps):
        self.messages: list[dict] = []
        self.contacts: list[dict] = []
        self.conversations: list[dict] = []
        self.down = False
        self.gone: set[int] = set()
        self.reject: set[str] = set()   # contents answered with 422
        self.time_out: set[str] = set()  # contents LiveDesk makes, but whose answer never comes back
        self.reset: set[str] = set()     # contents LiveDesk makes, then the connection is reset (once each)
        self.unavailable: set[str] = set()  # contents answered 503 without being made (once each)
        # EngageLab LiveDesk "การตอบกลับเมื่อล้มเหลว": contents made but answered status failed, this many
        # times (the post's answer, then each retry's); ``fail_notes``: every private note fails so.
        self.fail: dict[str, int] = {}
        self.fail_notes = False
        self.external_error = "131047: Re-engagement message is not allowed"
        self.retried: list[int] = []      # message ids whose /retry was called
        self.retry_time_out = False       # the next retry goes through, but its answer never comes back
        self.authorizations: set[str | None] = set()
        self._ids = count(5001)
        self._conversation_ids = count(141)
        rsps.add_callback(responses.POST, f"{LIVEDESK}/api/v2/accounts/contacts", callback=self._contact)
        rsps.add_callback(responses.POST, f"{LIVEDESK}/api/v2/accounts/conversations", callback=self._conversation)
        rsps.add_callback(responses.POST, re.compile(rf"{LIVEDESK}/api/v2/accounts/conversations/\d+/messages$"),
                          callback=self._message)
        rsps.add_callback(responses.GET, re.compile(rf"{LIVEDESK}/api/v2/accounts/conversations/\d+/messages"),
                          callback=self._list)
        rsps.add_callback(responses.GET, re.compile(rf"{LIVEDESK}/api/v2/accounts/conversations/\d+$"),
                          callback=self._show)
        rsps.add_callback(responses.POST,
                          re.compile(rf"{LIVEDESK}/api/v2/accounts/conversations/\d+/messages/\d+/retry$"),
                          callback=self._retry)
        self.read_back_missing: bool | int = False  # a LiveDesk without Chatwoot's read endpoint (404)
        self.read_back_down = False     # the read answers 503, posting works
        self.reads: list[int] = []      # conversations read back (GET …/messages)
        self.status: dict[int, str] = {}  # conversation id -> open | resolved (Chatwoot's ``status``)

    def agent_says(self, message_id: int, content: str, conversation: int = 141, **fields) -> None:
        """An agent writes in LiveDesk (as Chatwoot keeps it); the webhook is the test's to post."""
        self.messages.append({"id": message_id, "conversation": conversation, "content": content,
                              "message_type": 1, "private": False, "sender_type": "User",
                              "sender": {"id": 3, "type": "user"}, "attachments": [],
                              "created_at": int(time.time()), **fields})

    def resolve(self, conversation: int = 141) -> None:
        """An agent resolves the conversation in LiveDesk (the webhook is the test's to post)."""
        self.status[conversation] = "resolved"

    def _refused_read(self, request, conversation: int):
        """A read's refusal: all reads (``read_back_missing``, a LiveDesk without them), a 503, or a
        conversation LiveDesk does not have (Chatwoot: 404), e.g. one it deleted."""
        if failure := self._check(request):
            return failure
        if self.read_back_missing:  # True: 404; or the status of another refusal
            status = 404 if self.read_back_missing is True else self.read_back_missing
            return status, {}, json.dumps({"error": "refused"})
        if self.read_back_down:
            return 503, {}, json.dumps({"error": "down"})
        if conversation in self.gone or conversation not in self.status:
            return 404, {}, json.dumps({"error": "Resource could not be found"})
        return None

    def _show(self, request):
        conversation = int(request.path_url.split("?")[0].split("/")[-1])
        if refused := self._refused_read(request, conversation):
            return refused
        self.reads.append(conversation)
        return 200, {}, json.dumps({"id": conversation, "inbox_id": 79, "status": self.status[conversation],
                                    "meta": {}, "messages": []})

    def _list(self, request):
        conversation = int(request.path_url.split("?")[0].split("/")[-2])
        if refused := self._refused_read(request, conversation):
            return refused
        before = int(request.params.get("before") or 10**12)
        found = [m for m in self.messages if m["conversation"] == conversation and m["id"] < before][-20:]
        self.reads.append(conversation)
        return 200, {}, json.dumps({"meta": {}, "payload": [
            {**m, "message_type": {"incoming": 0, "outgoing": 1}.get(m["message_type"], m["message_type"]),
             "attachments": [a if isinstance(a, dict) else {"file_type": a[1].split("/")[0], "data_url": a[0]}
                             for a in m.get("attachments") or []]}
            for m in found]})

    def _check(self, request):
        self.authorizations.add(request.headers.get("Authorization"))
        return (503, {}, json.dumps({"error": "down"})) if self.down else None

    def _contact(self, request):
        if failure := self._check(request):
            return failure
        self.contacts.append(json.loads(request.body))
        return 200, {}, json.dumps({"payload": {"contact": {"id": 512 + len(self.contacts) - 1}}})

    def _conversation(self, request):
        if failure := self._check(request):
            return failure
        body = json.loads(request.body)
        conversation = {"id": next(self._conversation_ids), **body}
        self.conversations.append(conversation)
        self.status[conversation["id"]] = "open"
        return 200, {}, json.dumps({"id": conversation["id"], "inbox_id": body["inbox_id"], "status": "open"})

    def _message(self, request):
        if failure := self._check(request):
            return failure
        conversation = int(request.path_url.split("/")[-2])
        if conversation in self.gone:
            return 404, {}, json.dumps({"error": "Resource could not be found"})
        if request.headers["Content-Type"].startswith("multipart/"):
            fields, files = _multipart(request)
            message = {"content": fields.get("content", ""), "message_type": fields.get("message_type"),
                       "private": fields.get("private") == "true", "attachments": files}
        else:
            body = json.loads(request.body)
            message = {"content": body["content"], "message_type": body.get("message_type"),
                       "private": body.get("private", False), "attachments": [],
                       "in_reply_to": (body.get("content_attributes") or {}).get("in_reply_to")}
        if message["content"] in self.reject:
            return 422, {}, json.dumps({"errors": ["Content is invalid"]})
        if message["content"] in self.unavailable:
            self.unavailable.discard(message["content"])
            return 503, {}, json.dumps({"error": "down"})
        message.update(id=next(self._ids), conversation=conversation, status="sent", created_at=int(time.time()))
        self.messages.append(message)
        if self.fail.get(message["content"]) or (message["private"] and self.fail_notes):
            return self._failed(message)
        if message["content"] in self.time_out:
            self.time_out.discard(message["content"])  # once: the retry gets its answer
            return requests.exceptions.ReadTimeout("read timed out")
        if message["content"] in self.reset:
            self.reset.discard(message["content"])
            return requests.exceptions.ConnectionError("Connection reset by peer")
        return 200, {}, json.dumps({"id": message["id"], "conversation_id": conversation, "status": "sent",
                                    "content": message["content"], "private": message["private"]})

    def _failed(self, message: dict):
        """The document's failed answer: the message exists, marked failed, with the channel's reason."""
        if message["content"] in self.fail:
            self.fail[message["content"]] -= 1
        message["status"] = "failed"
        return 200, {}, json.dumps({"id": message["id"], "status": "failed",
                                    "content_attributes": {"external_error": self.external_error}})

    def _retry(self, request):
        """EngageLab LiveDesk "ส่งข้อความที่ล้มเหลวใหม่อีกครั้ง"; like Chatwoot (and the sandbox), a message that
        is not failed is answered 422."""
        if failure := self._check(request):
            return failure
        parts = request.path_url.split("/")
        conversation, message_id = int(parts[-4]), int(parts[-2])
        message = next((m for m in self.messages if m["id"] == message_id and m["conversation"] == conversation),
                       None)
        if message is None:
            return 404, {}, json.dumps({"error": "Resource could not be found"})
        self.retried.append(message_id)
        if message["status"] != "failed":
            return 422, {}, json.dumps({"message": "Only failed messages can be retried"})
        if self.fail.get(message["content"]) or (message["private"] and self.fail_notes):
            return self._failed(message)
        message["status"] = "sent"
        if self.retry_time_out:
            self.retry_time_out = False
            return requests.exceptions.ReadTimeout("read timed out")
        return 200, {}, json.dumps({"id": message_id, "conversation_id": conversation, "status": "sent"})

    def public(self) -> list[tuple[str, str]]:
        """(message_type, content) of the non-private messages, in order."""
        return [(m["message_type"], m["content"]) for m in self.messages if not m["private"]]

    def notes(self) -> list[str]:
        return [m["content"] for m in self.messages if m["private"]]


def _multipart(request):
    raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.body
    message = BytesParser(policy=email_policy).parsebytes(raw)
    fields, files = {}, []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            files.append((part.get_filename(), part.get_content_type(), part.get_payload(decode=True)))
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return fields, files


# -- LINE stub and scheduler helpers ---------------------------------------------------------------

def requests_to(line_stub, path: str) -> list:
    return [request for request, _ in line_stub.log if request.path == path]


def pushes(line_stub) -> list:
    return requests_to(line_stub, "/v2/bot/message/push")


def replies(line_stub) -> list:
    return requests_to(line_stub, "/v2/bot/message/reply")


def scheduled(redis, func: str | None = None) -> list[Job]:
    """Jobs waiting in the scheduled registries (timers and retries), optionally of one function."""
    jobs = []
    for name in QUEUE_NAMES:
        registry = ScheduledJobRegistry(queue=get_queue(redis, name))
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
            if func is None or job.func_name == func:
                jobs.append(job)
    return jobs


def make_due(redis, func: str) -> int:
    """Enqueue the scheduled jobs of ``func`` now, as RQ's scheduler does when their time comes."""
    jobs = scheduled(redis, func)
    for job in jobs:
        queue = get_queue(redis, job.origin)
        ScheduledJobRegistry(queue=queue).remove(job)
        queue.enqueue_job(job)
    return len(jobs)


def agent_event(message_id: int, content: str = "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ", conversation: int = 141, **extra) -> dict:
    event = {"event": "message_created", "id": message_id, "content": content, "message_type": "outgoing",
             "private": False, "content_type": "text", "sender": {"id": 3, "name": "Nurse A", "type": "user"},
             "conversation": {"id": conversation, "status": "open"}, "attachments": []}
    event.update(extra)
    return event


def resolved_event(conversation: int = 141) -> dict:
    return {"event": "conversation_status_changed", "id": conversation, "status": "resolved"}


def post_livedesk(client, payload, token: str = HOOK_TOKEN, **kwargs):
    return client.post(f"/webhooks/livedesk/{token}", json=payload, **kwargs)
