"""LINE's side of the webhook: signed webhooks of numbered patient messages, redelivered as LINE does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass

import requests

from tests.faults.line_stub import CHANNEL_SECRET
from tests.faults.processes import Stack


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
    """Posts signed webhooks to the web process; optionally redelivers what got no 2xx, as LINE does.
    ``path``, ``secret`` and ``destination``: one hospital's (default: the implicit hospital's)."""

    def __init__(self, stack: Stack, redeliver: bool = False, timeout: float = 5, *, path: str = "/callback",
                 secret: str = CHANNEL_SECRET, destination: str = "U" + "0" * 32):
        self.stack = stack
        self.redeliver = redeliver
        self.timeout = timeout
        self.path = path
        self.secret = secret
        self.destination = destination
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
        body = json.dumps({"destination": self.destination, "events": [e.event for e in events]},
                          ensure_ascii=False).encode()
        try:
            status = requests.post(f"{self.stack.web_url}{self.path}", data=body, timeout=self.timeout,
                                   headers={"Content-Type": "application/json",
                                            "X-Line-Signature": sign(body, self.secret)}).status_code
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
