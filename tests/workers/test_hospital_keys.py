"""The key audit (issue 27, isolation by construction): two hospitals on one Redis never share a key.

Hospital A and hospital B are two ``Services`` on one real Redis (``Hospital("a")``, ``Hospital("b")``),
each behind its own app (its webhooks) and run by a real RQ worker on its own queues; LINE, Oho,
LiveDesk, SEPSMS and MOPH are stubbed at the HTTP boundary. Both serve one patient with the same LINE
user id (one LINE provider), both LiveDesk accounts number conversations from the same start, and
both are sent appointment "123", with one OTP_SECRET: the cases that would leak. After A's stories,
B's run (a question answered, a phone verified, a handoff with an agent's reply and its close, an
unanswered question, an appointment notice and its reminder, an unfollow) leaves every key of A as it
was (``DUMP``), and every key it wrote is B's (``h:b:``) or deliberately shared.
"""

from __future__ import annotations

import itertools
import re
import time
from types import SimpleNamespace

import pytest

from bot.appointments import parse_appointment
from bot.handoff.state import AgentMessage, HandoffState
from bot.hospitals import Hospital
from bot.otp import otp_key
from bot.verification import OtpRules, VerificationState
from handlers.app import create_app
from tests.handoff_stubs import (  # noqa: F401  (fixtures used by name)
    USER,
    LiveDeskStub,
    OhoStub,
    QuickServices,
    agent_event,
    handoff_settings,
    http,  # noqa: F811
    line_extra,  # noqa: F811
    post_livedesk,
    resolved_event,
)
from tests.moph_support import MOPH_SETTINGS, SEND_NOW, MophStub, appointment_row
from tests.support import ACCESS_TOKEN, LineWebhook, text_event
from tests.verification_support import SMS_SETTINGS, SmsStub
from workers.__main__ import build_worker
from workers.appointments.status import NoticeStatus
from workers.line.inbox import accept_events, line_inbox
from workers.pdpa import erase_user
from workers.queues import QUEUE_NAMES, queue_key
from workers.services import Services
from workers.verification.backstop import Backstop
from workers.verification.store import Budgeted, VerificationStore, verified_phone

APPOINTMENT = "123"
AGENT_MESSAGE = 9001        # LiveDesk message ids are per account: both hospitals' agents write #9001
#: Keys every hospital shares on purpose (the design in /work/brief/issue27.md).
SHARED = re.compile(r"^(maintenance:lock|redis:findings-logged|readyz:.*|moph:token:.*|moph:token-lock:.*"
                    r"|ratelimit:sepsms:.*|sandbox:.*|verify:sends:number:.*)$")
#: RQ's own keys that name no queue and no job.
RQ_GLOBAL = re.compile(r"^rq:(queues|workers|suspended|clean_groups|worker:[^:]+|scheduler:[^:]+)$")
#: RQ's keys that name one of our queues, and those that name a job (id first).
RQ_QUEUE = re.compile(r"^rq:(queue|wip|started|finished|failed|scheduled|deferred|canceled|workers"
                      r"|scheduler-lock|clean_registries|intermediate):(?P<queue>.+)$")
RQ_JOB = re.compile(r"^rq:(job|results|executions|execution):(?P<job>[^:]+)")
RANDOM_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UNKNOWN = "ขอสูตรแกงเขียวหวาน 2 ที่"


def token_of(letter: str) -> str:
    return ACCESS_TOKEN[:-132] + letter * 132


def hospital_settings(redis_server, line_stub, letter: str):
    """Everything configured (LINE, Oho, LiveDesk, SEPSMS, MOPH), with the same OTP_SECRET for both
    hospitals; only the LINE access token tells them apart at the LINE stub."""
    return handoff_settings(redis_server, line_stub, **{**SMS_SETTINGS, **MOPH_SETTINGS}, sms_provider="sepsms",
                            line_channel_access_token=token_of(letter))


class HospitalUnderTest:
    """One hospital: its services, its app's client and webhook, and a worker on its own queues."""

    def __init__(self, hospital_id: str, settings, redis, jobs_here, line_stub):
        self.services = QuickServices(settings, hospital=Hospital(hospital_id, settings), redis_connection=redis)
        self.prefix = self.services.hospital.prefix
        self.client = create_app(settings, services=self.services).test_client()
        self.webhook = LineWebhook(self.client)
        self.redis, self.jobs_here, self.line_stub = redis, jobs_here, line_stub
        self.token = settings.line_channel_access_token.get_secret_value()

    def run_worker(self) -> None:
        self.jobs_here(self.services)  # jobs find their hospital's services, as a worker finds them by queue
        queues = [self.prefix + name for name in QUEUE_NAMES]
        build_worker(self.services, connection=self.redis, queue_names=queues).work(burst=True)

    def say(self, text: str) -> list[dict]:
        return self.send(text_event(text, user=USER))

    def send(self, event: dict) -> list[dict]:
        seen = len(self.line_stub.log)
        assert self.webhook.post([event]).status_code == 200
        self.run_worker()
        return self.sent_since(seen)

    def sent_since(self, seen: int) -> list[dict]:
        """The messages LINE took with this hospital's token since ``seen``."""
        sent = [r for r, answer in self.line_stub.log[seen:] if r.path.startswith("/v2/bot/message/")
                and answer.status_code < 300 and r.headers.get("Authorization") == f"Bearer {self.token}"]
        return [m for r in sent for m in r.get_json()["messages"]]


@pytest.fixture
def stubs(http, line_extra):
    """Oho, LiveDesk, SEPSMS and MOPH on one ``responses`` mock; LINE on the LINE stub server."""
    return SimpleNamespace(oho=OhoStub(http), livedesk=LiveDeskStub(http), sms=SmsStub(http, "sepsms"),
                           moph=MophStub(http), line=line_extra)


@pytest.fixture
def hospital_a(redis_server, line_stub, redis, jobs_here):
    return HospitalUnderTest("a", hospital_settings(redis_server, line_stub, "A"), redis, jobs_here, line_stub)


@pytest.fixture
def hospital_b(redis_server, line_stub, redis, jobs_here):
    return HospitalUnderTest("b", hospital_settings(redis_server, line_stub, "B"), redis, jobs_here, line_stub)


def stories(h: HospitalUnderTest, stubs) -> None:
    """What a hospital's patient and staff do, checked as they go (each hospital gets its own answers)."""
    assert h.say("โรงพยาบาลเปิดกี่โมง"), "a question answered"
    # A phone verified: the code sent (SEPSMS), then checked.
    assert h.say("ยืนยันตัวตน")
    assert h.say("081-234-5678")
    assert h.say(stubs.sms.code)
    assert verified_phone(h.redis, USER, prefix=h.prefix) == "0812345678"
    # A question the bot could not answer, counted for the hospital.
    h.say(UNKNOWN)
    assert h.services.unanswered.most_asked(1, 5)
    # A handoff: the request to an agent, the mirror, an agent's reply pushed, the close.
    h.say("ขอคุยกับเจ้าหน้าที่")
    handoff = h.services.handoff
    assert handoff.store.state(USER) is not None
    _, conversation = handoff.store.livedesk_ids(USER)
    assert conversation == 141  # each LiveDesk account numbers its conversations from the same start
    seen = len(h.line_stub.log)
    assert post_livedesk(h.client, agent_event(AGENT_MESSAGE, conversation=conversation)).get_json()["outcome"] \
        == "queued"
    h.run_worker()
    assert [m["text"] for m in h.sent_since(seen)][:1] == ["สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ"]
    assert post_livedesk(h.client, resolved_event(conversation)).get_json()["outcome"] == "checking"
    h.run_worker()
    assert handoff.store.state(USER) is None
    # Appointment "123": its notice sent through MOPH, its reminder scheduled.
    sends = len(stubs.moph.calls(SEND_NOW))
    [submitted] = h.services.appointment_notices.submit([parse_appointment(appointment_row(APPOINTMENT))])
    assert submitted.status == NoticeStatus.QUEUED and submitted.reminders
    h.run_worker()
    assert len(stubs.moph.calls(SEND_NOW)) == sends + 1


def unfollow(h: HospitalUnderTest) -> None:
    event = text_event("", user=USER, type="unfollow")
    del event["message"], event["replyToken"]
    h.send(event)


def snapshot(redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key but the shared ones: its ``DUMP`` and its time to live (ms) now."""
    return {key: (redis.dump(key), redis.pttl(key)) for key in redis.scan_iter(count=1000)
            if not SHARED.match(key.decode()) and not RQ_GLOBAL.match(key.decode())}


def not_hospitals(redis, keys, prefix: str) -> list[str]:
    """Those of ``keys`` that are neither the hospital's (``prefix``) nor shared on purpose."""
    job_prefix = prefix.replace(":", "_")
    wrong = []
    for key in (k.decode() for k in keys):
        if key.startswith(prefix) or SHARED.match(key) or RQ_GLOBAL.match(key):
            continue
        if (queue := RQ_QUEUE.match(key)) and queue["queue"].startswith(prefix):
            continue
        if job := RQ_JOB.match(key):
            origin = (redis.hget(f"rq:job:{job['job']}", "origin") or b"").decode()
            if (RANDOM_JOB_ID.match(job["job"]) or job["job"].startswith(job_prefix)) and origin.startswith(prefix):
                continue
        wrong.append(key)
    return wrong


@pytest.mark.usefixtures("jobs_here")
def test_hospital_b_writes_only_its_own_keys_and_leaves_every_key_of_a_as_it_was(redis, stubs, hospital_a,
                                                                                  hospital_b):
    stories(hospital_a, stubs)
    before, taken_at = snapshot(redis), time.monotonic()
    assert not_hospitals(redis, before, "h:a:") == []
    assert any(key.startswith(b"h:a:verify:phone:") for key in before)

    stubs.livedesk._conversation_ids = itertools.count(141)  # B's LiveDesk account numbers from 141 too
    stories(hospital_b, stubs)
    assert any(key.startswith(b"h:b:handoff:transcript:") for key in redis.scan_iter(count=1000))
    written = set(redis.scan_iter(count=1000))
    unfollow(hospital_b)

    after = set(redis.scan_iter(count=1000))
    assert not_hospitals(redis, (after | written) - set(before), "h:b:") == []
    assert redis.llen(queue_key("default", prefix="h:b:")) == 0  # B's jobs ran on B's queues
    elapsed_ms = (time.monotonic() - taken_at) * 1000
    changed = [key.decode() for key, (dumped, ttl) in before.items()
               if redis.dump(key) != dumped and not (redis.dump(key) is None and 0 < ttl <= elapsed_ms + 1000)]
    assert changed == []
    # B's unfollow erased B's record of the patient, not A's.
    assert redis.exists(f"h:a:verify:phone:{USER}") and not redis.exists(f"h:b:verify:phone:{USER}")


# -- the implicit hospital: today's names ---------------------------------------------------------------

def test_the_implicit_hospital_keeps_todays_key_names(redis, settings):
    services = Services(settings, redis_connection=redis)
    assert services.hospital.prefix == ""
    accept_events(redis, [text_event("สวัสดี", user=USER)], prefix=services.hospital.prefix)
    store = services.handoff.store
    store.open(USER, HandoffState(session="s1", reason="asked", since=time.time()))
    store.set_conversation(USER, 42)
    VerificationStore(redis, prefix=services.hospital.prefix).save_state(USER, VerificationState(step="phone"))
    Backstop(redis, prefix=services.hospital.prefix).schedule_send("r1", 60)
    keys = {key.decode() for key in redis.scan_iter(count=1000)}
    assert {f"line:inbox:{USER}", "line:inbox-due", f"line:inbox-pending:{USER}", "rq:queue:line",
            f"handoff:state:{USER}", "handoff:open", "livedesk:conversation:42", f"livedesk:user:{USER}",
            f"verify:state:{USER}", "rq:job:otp-send-r1", "rq:scheduled:default"} <= keys
    assert not [key for key in keys if key.startswith("h:")]


# -- the four leaks, store by store -----------------------------------------------------------------------

@pytest.fixture
def two(redis_server, line_stub, redis):
    def build(hospital_id):
        settings = hospital_settings(redis_server, line_stub, hospital_id.upper())
        return Services(settings, hospital=Hospital(hospital_id, settings), redis_connection=redis)
    return build("a"), build("b")


def test_one_line_user_id_is_two_patients(two, redis):
    a, b = two
    event = text_event("สวัสดี", user=USER)
    assert accept_events(redis, [event], prefix=a.hospital.prefix).queued == 1
    assert accept_events(redis, [event], prefix=b.hospital.prefix).queued == 1  # not a duplicate at B
    assert line_inbox(redis, prefix=a.hospital.prefix).length(USER) == 1
    a.handoff.store.open(USER, HandoffState(session="s-a", reason="asked", since=time.time()))
    a.verification.store.save_state(USER, VerificationState(step="code"))
    assert b.handoff.store.state(USER) is None
    assert not b.verification.store.state(USER).active


def test_livedesk_conversation_42_of_each_hospital_is_its_own_patient(two, redis):
    a, b = two
    patient_a, patient_b = "U" + "a" * 32, "U" + "b" * 32
    a.handoff.store.set_conversation(patient_a, 42)
    b.handoff.store.set_conversation(patient_b, 42)
    assert a.handoff.store.user_of_conversation(42) == patient_a
    assert b.handoff.store.user_of_conversation(42) == patient_b
    # B's agent reply in B's conversation 42 goes to B's patient, in B's outbox only.
    message = AgentMessage(id=AGENT_MESSAGE, conversation_id=42, content="สวัสดีค่ะ")
    assert b.handoff.on_agent_message(message) == "queued"
    assert b.handoff.patient_outbox.length(patient_b) == 1
    assert a.handoff.patient_outbox.length(patient_a) == 0 and a.handoff.patient_outbox.length(patient_b) == 0
    assert a.handoff.on_agent_message(message) == "queued"  # A's #9001 is another message


def test_appointment_123_of_each_hospital_is_notified(two):
    a, b = two
    row = parse_appointment(appointment_row(APPOINTMENT))
    [at_a] = a.appointment_notices.submit([row])
    [at_b] = b.appointment_notices.submit([row])
    assert at_a.notice_id == at_b.notice_id  # one OTP_SECRET: the same names, under two prefixes
    assert (at_a.status, at_b.status) == (NoticeStatus.QUEUED, NoticeStatus.QUEUED)
    assert a.appointment_notices.statuses([at_a.notice_id]) != [None]
    assert b.appointment_notices.statuses([at_b.notice_id]) != [None]


def test_an_erasure_at_one_hospital_leaves_the_other_hospitals_record(two, redis):
    a, b = two
    for services in (a, b):
        services.verification.store.save_verified(USER, "0812345678", "2026-01-07T10:00:00+07:00", "sepsms",
                                                  keep_days=30)
        services.handoff.store.open(USER, HandoffState(session="s", reason="asked", since=time.time()))
        services.unanswered.record(USER, "e1", UNKNOWN)
    erase_user(redis, USER, on_request=False, prefix=a.hospital.prefix)
    assert not redis.exists(f"h:a:verify:phone:{USER}", f"h:a:handoff:state:{USER}", f"h:a:unanswered:user:{USER}")
    assert redis.exists(f"h:b:verify:phone:{USER}", f"h:b:handoff:state:{USER}", f"h:b:unanswered:user:{USER}") == 3
    assert b.unanswered.most_asked(1, 5) and not a.unanswered.most_asked(1, 5)


def test_one_phone_number_has_one_send_budget_across_hospitals(two):
    """A number sent its codes at hospital A is not sent more through hospital B (SMS pumping through
    each hospital of a province in turn); B's own patients and B's other numbers are not held up."""
    a, b = two
    rules, now = OtpRules(), time.time()
    at = {services: Budgeted.of(otp_key(services.settings), user, "0812345678")
          for services, user in ((a, "U" + "a" * 32), (b, "U" + "b" * 32))}
    for _ in range(rules.sends_per_number):
        assert a.verification.store.take_send_slot(at[a], now, rules) is None
    refusal = b.verification.store.take_send_slot(at[b], now, rules)
    assert refusal is not None and refusal.why == "patient"
    other_number = Budgeted.of(otp_key(b.settings), "U" + "b" * 32, "0898765432")
    assert b.verification.store.take_send_slot(other_number, now, rules) is None
