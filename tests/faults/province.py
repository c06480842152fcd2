"""Several hospitals on one stack (issue 27): a registry directory of hospital files (``HOSPITALS_DIR``),
each hospital's made-up credentials and knowledge base, and the providers' stand-ins serving each
hospital's own account at the one address all hospitals share (the providers' base URLs are
process-wide settings; a hospital's account is its credentials).

Every credential here is made up, in the provider's form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.faults.line_stub import LineCall, LineStub
from tests.faults.processes import ROOT, Stack
from tests.faults.providers import (
    MOPH_PASSWORD_HASH,
    SEPSMS_API_KEY,
    Call,
    HttpStub,
    LiveDeskStub,
    MophStub,
    OhoStub,
    SepsmsStub,
)

#: Where each hospital's LiveDesk account starts numbering its conversations: the same for every
#: hospital, so the same conversation id names a patient of each (the leak the prefixes close).
FIRST_CONVERSATION = 42
KNOWLEDGE = ROOT / "bot" / "data" / "knowledge.yaml"


def _hex(hospital_id: str, what: str, length: int = 32) -> str:
    return hashlib.sha256(f"{hospital_id}/{what}".encode()).hexdigest()[:length]


@dataclass(frozen=True)
class HospitalAccount:
    """One hospital's identity at LINE and the providers, and what its knowledge base says."""

    id: str
    number: int

    @property
    def secret(self) -> str:          # LINE channel secret: 32 hex
        return _hex(self.id, "line-secret")

    @property
    def token(self) -> str:           # LINE long-lived channel access token
        return f"made.up.{self.id}." + _hex(self.id, "line-token", 64) * 2

    @property
    def bot(self) -> str:             # the LINE bot's user id (a webhook's destination)
        return "U" + _hex(self.id, "bot")

    @property
    def oho_key(self) -> str:
        return f"oho-{self.id}-" + _hex(self.id, "oho")

    @property
    def livedesk_key(self) -> str:
        return f"livedesk-{self.id}-" + _hex(self.id, "livedesk-key")

    @property
    def livedesk_secret(self) -> str:
        return f"livedesk-{self.id}-" + _hex(self.id, "livedesk-secret")

    @property
    def inbox(self) -> int:
        return 70 + self.number

    @property
    def livedesk_hook(self) -> str:   # the secret segment of its LiveDesk webhook path
        return f"hook-{self.id}-" + _hex(self.id, "livedesk-hook")

    @property
    def his_token(self) -> str:       # its HIS's bearer token for the appointments API
        return f"his-{self.id}-" + _hex(self.id, "his")

    @property
    def moph_code(self) -> str:       # its MOPH hospital code
        return f"1{self.number:04d}"

    @property
    def name(self) -> str:            # its knowledge base's hospital name and phone
        return f"โรงพยาบาลทดสอบ{self.id.upper()}"

    @property
    def phone(self) -> str:
        return f"0{self.number}-{self.number}00-000{self.number}"

    def secrets(self) -> dict[str, str]:
        """The setting of each secret of the hospital file, and its value."""
        return {"line_channel_secret": self.secret, "line_channel_access_token": self.token,
                "oho_api_key": self.oho_key, "livedesk_api_key": self.livedesk_key,
                "livedesk_api_secret": self.livedesk_secret, "livedesk_webhook_token": self.livedesk_hook,
                "sepsms_api_key": SEPSMS_API_KEY,
                "moph_password_hash": MOPH_PASSWORD_HASH, "appointments_api_token": self.his_token}

    def env_name(self, setting: str) -> str:
        return f"H_{self.id.upper()}_{setting.upper()}"

    def env(self) -> dict[str, str]:
        """Its secrets as the environment of the processes (``env:NAME`` references)."""
        return {self.env_name(setting): value for setting, value in self.secrets().items()}

    def file(self, knowledge: Path, secrets_dir: Path | None = None) -> str:
        """Its hospital file: secrets by ``env:NAME``, or (``secrets_dir``) by ``file:/path``, since a hospital
        added while the processes run cannot have put anything in their environment."""
        lines = [f'line_bot_user_id = "{self.bot}"', f'bot_knowledge_file = "{knowledge}"',
                 f"livedesk_inbox_id = {self.inbox}", 'livedesk_read_back = "on"',
                 'business_hours = "Mon-Sun 00:00-24:00"', 'sms_provider = "sepsms"', 'sepsms_origin = "FAULTS"',
                 "sms_low_credit_threshold = 0", f'moph_user = "moph-{self.id}"',
                 f'moph_hospital_code = "{self.moph_code}"', 'reminder_schedule = ""']
        for setting, value in self.secrets().items():
            if secrets_dir is None:
                lines.append(f'{setting} = "env:{self.env_name(setting)}"')
            else:
                path = secrets_dir / f"{self.id}-{setting}"
                path.write_text(value + "\n")
                lines.append(f'{setting} = "file:{path}"')
        return "\n".join(lines) + "\n"

    def knowledge(self, directory: Path) -> Path:
        """The shipped knowledge base with this hospital's name and phone."""
        text = KNOWLEDGE.read_text(encoding="utf-8")
        text, named = re.subn(r'(?m)^  name: ".*"$', f'  name: "{self.name}"', text, count=1)
        text, phoned = re.subn(r'(?m)^  phone: ".*"$', f'  phone: "{self.phone}"', text, count=1)
        assert named == phoned == 1, "the shipped knowledge base's hospital block changed"
        path = directory / f"{self.id}-knowledge.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def write(self, registry: Path, secrets_dir: Path | None = None) -> Path:
        """Put its file in the registry; returns the file."""
        path = registry / f"{self.id}.toml"
        write_whole(path, self.file(self.knowledge(registry.parent), secrets_dir))
        return path


def write_whole(path: Path, text: str) -> None:
    """Write ``path`` aside and rename it into place, as an operator's deploy does: the processes reading
    the registry never see half a file."""
    staged = path.parent.parent / f".{path.name}"
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)


class Accounts(HttpStub):
    """One provider's address serving several accounts: the call's credential (``header``) picks the
    account's stand-in, which answers as the provider does (an unknown credential: refused by it)."""

    def __init__(self, name: str, header: str, accounts: dict[str, HttpStub]):
        super().__init__()
        self.name, self.header, self.accounts = name, header, accounts

    def route(self, call: Call) -> tuple[int, object, dict]:
        account = self.accounts.get(call.headers.get(self.header) or "") or next(iter(self.accounts.values()))
        with account._lock:
            account.calls.append(call)
            return account.route(call)


class Province:
    """The hospitals' accounts at LINE and every provider, the stand-ins that serve them, and how LINE, the
    agents and the HIS of each hospital call the web process."""

    def __init__(self, hospitals: list[HospitalAccount], line: LineStub):
        self.hospitals = {h.id: h for h in hospitals}
        self.line = line
        self.oho = {h.id: OhoStub(api_key=h.oho_key) for h in hospitals}
        self.livedesk = {h.id: LiveDeskStub(h.livedesk_key, h.livedesk_secret, h.inbox, FIRST_CONVERSATION)
                         for h in hospitals}
        self.oho_server = Accounts("oho", "x-oho-api-key", {h.oho_key: self.oho[h.id] for h in hospitals})
        self.livedesk_server = Accounts("livedesk", "authorization",
                                        {self.livedesk[h.id].authorization: self.livedesk[h.id] for h in hospitals})
        self.sepsms, self.moph = SepsmsStub(), MophStub()
        for h in hospitals:
            line.bot_ids[h.token] = h.bot
        # Set by the test's fixture once made: the processes, the registry directory, Redis.
        self.stack: Stack | None = None
        self.registry: Path | None = None
        self.secrets: Path | None = None
        self.redis = None

    def start(self) -> Province:
        for stub in self.servers():
            stub.start()
        return self

    def close(self) -> None:
        for stub in self.servers():
            stub.close()

    def servers(self) -> tuple[HttpStub, ...]:
        return self.oho_server, self.livedesk_server, self.sepsms, self.moph

    def env(self) -> dict[str, str]:
        """The process-wide settings (the providers' addresses) and the secrets the hospital files refer to."""
        env = {"OHO_BASE_URL": self.oho_server.url, "LIVEDESK_BASE_URL": self.livedesk_server.url,
               "SEPSMS_BASE_URL": f"{self.sepsms.url}/api/v2", "MOPH_ALERT_BASE_URL": self.moph.url,
               "MOPH_TOKEN_URL": f"{self.moph.url}/token",
               "OTP_SECRET": "province-otp-secret-0123456789abcdef"}  # the deployment's: every hospital's
        for h in self.hospitals.values():
            env.update(h.env())
        return env

    def add(self, hospital: HospitalAccount) -> None:
        """A hospital's accounts, made while the stand-ins run (its file is written by the test)."""
        self.hospitals[hospital.id] = hospital
        self.line.bot_ids[hospital.token] = hospital.bot

    def same_next_conversation(self, *hospitals: str) -> int:
        """Make these hospitals' LiveDesk accounts give the same id to their next conversation (each
        account numbers its own: they meet); returns it."""
        accounts = [self.livedesk[h] for h in hospitals]
        number = max([FIRST_CONVERSATION] + [c + 1 for account in accounts for c in account.conversations])
        for account in accounts:
            with account._lock:
                account._conversation_ids = itertools.count(number)
        return number

    # -- LINE's side -----------------------------------------------------------------------------
    def post_line(self, hospital: str, events: list[dict], *, secret: str | None = None,
                  destination: str | None = None) -> requests.Response:
        """A webhook to ``hospital``'s path, signed with its channel secret (or ``secret``), for its bot (or
        ``destination``)."""
        h = self.hospitals[hospital]
        body = json.dumps({"destination": destination or h.bot, "events": events}, ensure_ascii=False).encode()
        signature = base64.b64encode(hmac.new((secret or h.secret).encode(), body, hashlib.sha256).digest()).decode()
        return requests.post(f"{self.stack.web_url}/h/{hospital}/callback", data=body, timeout=10,
                             headers={"Content-Type": "application/json", "X-Line-Signature": signature})

    def answers(self, event: dict) -> list[LineCall]:
        """What LINE accepted in answer to ``event``: replies with its reply token."""
        return [c for c in self.line.accepted() if c.kind == "reply" and c.reply_token == event.get("replyToken")]

    def pushes(self, user: str, containing: str) -> list[LineCall]:
        """Pushes LINE accepted for ``user`` whose text contains ``containing`` (from any hospital's account)."""
        return [c for c in self.line.accepted()
                if c.kind == "push" and c.to == user and any(containing in t for t in c.texts)]

    def token_of(self, call: LineCall) -> str | None:
        """The hospital whose LINE account made ``call`` (None: no hospital's)."""
        return next((h.id for h in self.hospitals.values() if h.token == call.token), None)

    # -- the agents' side (LiveDesk) ---------------------------------------------------------------
    def post_livedesk(self, hospital: str, event: dict, *, token: str | None = None) -> requests.Response:
        hook = token or self.hospitals[hospital].livedesk_hook
        return requests.post(f"{self.stack.web_url}/h/{hospital}/webhooks/livedesk/{hook}", json=event, timeout=10)

    # -- the HIS's side ----------------------------------------------------------------------------
    def submit(self, hospital: str, rows: list[dict], *, token: str | None = None) -> requests.Response:
        return requests.post(f"{self.stack.web_url}/h/{hospital}/api/v1/appointments", json=rows, timeout=10,
                             headers={"Authorization": f"Bearer {token or self.hospitals[hospital].his_token}"})

    def notice_status(self, hospital: str, notice_id: str) -> str | None:
        answer = requests.get(f"{self.stack.web_url}/h/{hospital}/api/v1/appointments/notices/{notice_id}",
                              timeout=5, headers={"Authorization": f"Bearer {self.hospitals[hospital].his_token}"})
        return answer.json().get("status") if answer.status_code == 200 else None


def line_event(user: str, *, text: str | None = None, postback: str | None = None, kind: str | None = None) -> dict:
    """A LINE webhook event of ``user``: a text message, a button press (``postback``) or ``kind``
    (``unfollow``: no reply token)."""
    event = {"mode": "active", "timestamp": int(time.time() * 1000),
             "webhookEventId": "01" + uuid.uuid4().hex[:24].upper(), "deliveryContext": {"isRedelivery": False},
             "source": {"type": "user", "userId": user}}
    if kind is not None:
        event["type"] = kind
        return event
    event["replyToken"] = uuid.uuid4().hex
    if postback is not None:
        event.update(type="postback", postback={"data": postback})
    else:
        event.update(type="message", message={"type": "text", "id": str(uuid.uuid4().int)[:18], "text": text,
                                               "quoteToken": "q"})
    return event
