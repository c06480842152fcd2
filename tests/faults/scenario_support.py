"""What the handoff and sends scenarios share: one stack (Procfile processes, redis-server, LINE and the
four provider stand-ins) per test module, LINE events of chosen content, and the figures line.

A module's scenarios share the processes (starting them costs seconds); each uses its own patients,
heals every stub when it ends, and waits until nothing is left to do before the next one starts.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis as redis_lib
import requests

from tests.faults.conftest import FIGURES
from tests.faults.figures import Figures
from tests.faults.line_stub import LineStub
from tests.faults.processes import Stack
from tests.faults.providers import APPOINTMENTS_API_TOKEN, LIVEDESK_WEBHOOK_TOKEN, Providers
from tests.faults.redis_server import RedisServer
from tests.faults.webhooks import SentEvent, WebhookSender, patient_id


@dataclass
class World:
    redis_server: RedisServer
    redis: redis_lib.Redis
    line: LineStub
    providers: Providers
    stack: Stack
    sender: WebhookSender

    def heal(self) -> None:
        self.line.heal()
        self.line.on_accept = None
        for stub in (self.providers.oho, self.providers.livedesk, self.providers.sepsms, self.providers.moph):
            stub.heal()
            stub.on_accept = None

    # -- LINE's side ---------------------------------------------------------------------------
    def event(self, patient: int, *, text: str | None = None, postback: str | None = None) -> SentEvent:
        """A LINE event of ``patient``: a text message (``text``) or a button press (``postback``)."""
        sender = self.sender
        with sender._lock:
            number = sender._counts.get(patient, 0) + 1
            sender._counts[patient] = number
        raw = {"mode": "active", "timestamp": int(time.time() * 1000),
               "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(), "deliveryContext": {"isRedelivery": False},
               "source": {"type": "user", "userId": patient_id(patient)}, "replyToken": uuid.uuid4().hex}
        if postback is not None:
            raw.update(type="postback", postback={"data": postback})
        else:
            raw.update(type="message", message={"type": "text", "id": str(uuid.uuid4().int)[:18],
                                                "text": text or f"p{patient:02d}-m{number:02d}", "quoteToken": "q"})
        sent = SentEvent(patient, number, raw)
        with sender._lock:
            sender.events.append(sent)
        return sent

    def send(self, *events: SentEvent) -> int:
        return self.sender.send(list(events))

    def pushes_to(self, patient: int, containing: str = "") -> list:
        """LINE pushes accepted for ``patient`` (whose text contains ``containing``)."""
        user = patient_id(patient)
        return [c for c in self.line.accepted() if c.kind == "push" and c.to == user
                and any(containing in t for t in c.texts)]

    def told(self, patient: int, containing: str = "") -> list:
        """What LINE accepted for ``patient`` (whose text contains ``containing``): replies with the
        tokens of the patient's events, and pushes."""
        tokens = {e.event.get("replyToken") for e in self.sender.events if e.patient == patient}
        return [c for c in self.line.accepted() if any(containing in t for t in c.texts)
                and (c.kind == "push" and c.to == patient_id(patient) or c.kind == "reply" and c.reply_token in tokens)]

    # -- LiveDesk's side -----------------------------------------------------------------------
    @property
    def livedesk_hook(self) -> str:
        return f"{self.stack.web_url}/webhooks/livedesk/{LIVEDESK_WEBHOOK_TOKEN}"

    def post_livedesk(self, event: dict) -> requests.Response:
        return requests.post(self.livedesk_hook, json=event, timeout=5)

    def conversation_of(self, patient: int) -> int | None:
        found = self.redis.hget(f"livedesk:user:{patient_id(patient)}", "conversation")
        return int(found) if found else None

    # -- the HIS's side ------------------------------------------------------------------------
    def appointments(self, rows: list[dict]) -> requests.Response:
        return requests.post(f"{self.stack.web_url}/api/v1/appointments", json=rows, timeout=10,
                             headers={"Authorization": f"Bearer {APPOINTMENTS_API_TOKEN}"})

    def notice_status(self, notice_id: str) -> str | None:
        answer = requests.get(f"{self.stack.web_url}/api/v1/appointments/notices/{notice_id}", timeout=5,
                              headers={"Authorization": f"Bearer {APPOINTMENTS_API_TOKEN}"})
        return answer.json().get("status") if answer.status_code == 200 else None

    def dead(self, key: str) -> int:
        return self.redis.llen(key)


def report(fig: Figures) -> Figures:
    """Print one scenario's figures and keep them for the run's summary."""
    print(fig.line())
    FIGURES.append(fig.line())
    return fig


def in_order(seqs: list[int]) -> bool:
    return seqs == sorted(seqs)
