"""Test helpers: LINE-shaped events and signed webhook posts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

# Made up, in LINE's forms (start-up refuses others): a channel secret is 32 hex characters, a
# long-lived access token about 170 characters.
CHANNEL_SECRET = "7e57c4a77e15ec7e7" + "0" * 15
ACCESS_TOKEN = "test.access.token.made.up.for.the.tests." + "A" * 132


def sign(body: bytes, secret: str = CHANNEL_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def text_event(text: str, user: str = "U" + "a" * 32, **extra) -> dict:
    """A message event shaped like LINE's documentation example."""
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(),
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": user},
        "replyToken": uuid.uuid4().hex,
        "message": {"type": "text", "id": str(uuid.uuid4().int)[:18], "text": text, "quoteToken": "q"},
    }
    event.update(extra)
    return event


class LineWebhook:
    """Posts signed webhook bodies to the app, like LINE does."""

    def __init__(self, client):
        self.client = client

    def post(self, events: list[dict] | None = None, *, body: bytes | None = None, signature: str | None = None):
        if body is None:
            body = json.dumps({"destination": "U" + "0" * 32, "events": events or []}).encode()
        headers = {"Content-Type": "application/json",
                   "X-Line-Signature": sign(body) if signature is None else signature}
        return self.client.post("/callback", data=body, headers=headers)


class FakeClock:
    """The one clock tests move by hand: epoch seconds, as ``time.time`` gives them.

    Starts at ``start`` (an aware datetime or epoch seconds; default: now). Services take
    a ``clock`` callable, so a test passes this instead of waiting.
    """

    def __init__(self, start=None):
        if start is None:
            start = time.time()
        self.now = float(start.timestamp() if hasattr(start, "timestamp") else start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 0, *, minutes: float = 0) -> None:
        self.now += seconds + minutes * 60


def play_backoffs(redis) -> int:
    """Move the clock past every queued item's backoff and run the sweeper as a worker's
    maintenance thread would: the due users' drains are queued. Returns how many."""
    from workers.maintenance import sweep

    for key in redis.scan_iter("*-due"):
        redis.zadd(key, {member: 0 for member in redis.zrange(key, 0, -1)})
    return sweep(redis)


def wait_for(condition, timeout: float = 10.0, what: str = "condition", interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy (and return that), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def count_round_trips(monkeypatch) -> list[int]:
    """From now on (until ``monkeypatch.undo()``), a 1 for each Redis round trip any client makes:
    redis-py writes once per round trip (a command, a pipeline, a script)."""
    from redis.connection import AbstractConnection

    trips: list[int] = []
    real_send = AbstractConnection.send_packed_command

    def send(self, *args, **kwargs):
        trips.append(1)
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
    return trips


def invoke_with_worker(cli, run_worker, args, **kwargs):
    """``cli.invoke(args=args)`` with a real RQ worker running beside it, as in production: a command
    that waits for jobs (``flask pdpa erase`` waits for the user's queued drains) sees them run.
    ``run_worker()`` runs the queues empty, here in the main thread (RQ's signal handlers need it)."""
    import threading

    result = {}
    command = threading.Thread(target=lambda: result.update(done=cli.invoke(args=args, **kwargs)))
    command.start()
    while command.is_alive():
        run_worker()
        command.join(0.05)
    return result["done"]
