"""One deployment, many hospitals (issue 27), end to end: the Procfile's processes serve every hospital of
a registry directory (``HOSPITALS_DIR``) and follow it while they run.

Hospitals A and B have their own LINE channels (secret, token, bot user id), knowledge bases (their
names and phone numbers), Oho and LiveDesk accounts (keys, inbox, webhook token), MOPH accounts and HIS
tokens; every secret is given by reference. What would leak between them is made to collide: one
patient has the same LINE user id at both (one LINE provider), both LiveDesk accounts number their
conversations from 42, both HIS submit appointment "123" for the same citizen, with one OTP_SECRET.
LINE is one stub (the call's access token tells the hospital), the providers are one address each
with an account per hospital (``tests/faults/province.py``).

The scenarios share one set of processes; the broken file comes last (it takes B away for a while).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest

from tests.faults.line_stub import LineStub
from tests.faults.processes import Stack
from tests.faults.province import HospitalAccount, Province, line_event, write_whole
from tests.faults.redis_server import RedisServer
from tests.support import wait_for
from workers.hospitals import REFRESH_SECONDS

pytestmark = pytest.mark.faults

A, B = HospitalAccount("a", 1), HospitalAccount("b", 2)
#: One patient of both hospitals: LINE user ids are per provider, and a province may put both channels under one.
PATIENT = "U" + hashlib.md5(b"province-patient").hexdigest()
#: Patients of one scenario each (PATIENT's handoff at B stays open).
NEWCOMER, STRANGER, BYSTANDER = ("U" + hashlib.md5(name).hexdigest() for name in (b"newcomer", b"stranger", b"by"))
CONTACT = "เบอร์โทร"                          # the contact topic: its answer names the hospital and its phone
STARTED = "กำลังส่งต่อให้เจ้าหน้าที่"         # handoff_started_message
#: The issue's bound for a hospital added to the registry to answer its first webhook.
ADDED_WITHIN = 15.0
#: A made-up, checksum-valid citizen ID.
CID = "1101700991237"


@pytest.fixture(scope="module")
def province(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("province")
    registry, secrets = base / "hospitals", base / "secrets"
    registry.mkdir()
    secrets.mkdir()
    server = RedisServer(base / "redis")
    server.start()
    line = LineStub().start()
    world = Province([A, B], line).start()
    for hospital in (A, B):
        hospital.write(registry)
    stack = Stack(server, line, base / "logs", extra_env={**world.env(), "HOSPITALS_DIR": str(registry)})
    world.stack, world.registry, world.secrets, world.redis = stack, registry, secrets, server.client()
    failed = True
    try:
        stack.start_all()
        yield world
        failed = any(item.module is request.module and getattr(item, "report_call", None) is not None
                     and item.report_call.failed for item in request.session.items)
    finally:
        if failed:
            print("\n" + stack.logs())
        stack.stop_all()
        world.redis.close()
        world.close()
        line.close()
        server.kill()


def answered(province: Province, event: dict, within: float = 15):
    """The reply LINE accepted for ``event`` (waited for)."""
    return wait_for(lambda: next(iter(province.answers(event)), None), within,
                    what=f"the answer to {event.get('message', event.get('postback'))}")


def appointment(appointment_id: str) -> dict:
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    return {"appointment_id": appointment_id, "cid": CID, "date": day, "time": "09:30",
            "clinic": "คลินิกอายุรกรรม", "status": "booked"}


def open_handoff(province: Province, hospital: HospitalAccount) -> dict:
    """The patient presses "talk to staff" at ``hospital``; returns the press once it is answered."""
    press = line_event(PATIENT, postback="action=handoff")
    assert province.post_line(hospital.id, [press]).status_code == 200
    return press


def conversation(province: Province, hospital: HospitalAccount) -> int | None:
    found = province.redis.hget(f"h:{hospital.id}:livedesk:user:{PATIENT}", "conversation")
    return int(found) if found else None


def agent_reply(province: Province, hospital: HospitalAccount, conversation_id: int, text: str) -> None:
    """An agent of ``hospital`` answers in the conversation: LiveDesk makes the message and calls the
    hospital's webhook."""
    event = province.livedesk[hospital.id].agent_writes(conversation_id, text)
    answer = province.post_livedesk(hospital.id, event)
    assert answer.status_code == 200 and answer.json()["outcome"] == "queued", answer.text


def test_one_patient_of_two_hospitals_stays_two_patients_end_to_end(province):
    """The same LINE user id at A and B: each hospital answers from its own knowledge base through its own
    token; a handoff at each gets the same conversation id (42) of each LiveDesk account, and B's agent's reply
    reaches
    the patient through B's LINE account only (A's through A's); appointment "123" of the same citizen
    is pushed by each hospital's MOPH account; the patient's unfollow at A erases A's record and leaves
    B's, whose agent still reaches the patient."""
    # Both LiveDesk accounts give the patient the same conversation id (42 on fresh accounts).
    number = province.same_next_conversation("a", "b")
    # Questions: each hospital's own answer, through its own LINE account (and the conversation opened in
    # each hospital's LiveDesk, where the chat is filed).
    asked = {h.id: line_event(PATIENT, text=CONTACT) for h in (A, B)}
    for h in (A, B):
        assert province.post_line(h.id, [asked[h.id]]).status_code == 200
    for h, other in ((A, B), (B, A)):
        reply = answered(province, asked[h.id])
        assert province.token_of(reply) == h.id, reply
        assert h.phone in reply.texts[0] and other.phone not in reply.texts[0], reply.texts

    # Handoffs: the same conversation id at each hospital's LiveDesk account, request-agent under each one's bot.
    presses = {h.id: open_handoff(province, h) for h in (A, B)}
    for h in (A, B):
        reply = answered(province, presses[h.id])
        assert province.token_of(reply) == h.id and STARTED in reply.texts[0], reply
        wait_for(lambda h=h: conversation(province, h) == number, 20, what=f"{h.id}'s conversation")
        oho = province.oho[h.id]
        wait_for(lambda oho=oho: oho.rooms.get(PATIENT) == "agent", 20, what=f"{h.id}'s Oho room with an agent")
        assert {c.path.split("/")[3] for c in oho.request_agent_calls(PATIENT)} == {h.bot}

    # B's agent answers in B's conversation, then A's in A's: each through its own hospital's LINE account.
    b_text, a_text = "เจ้าหน้าที่โรงพยาบาลบีตอบค่ะ", "เจ้าหน้าที่โรงพยาบาลเอตอบค่ะ"
    agent_reply(province, B, number, b_text)
    wait_for(lambda: province.pushes(PATIENT, b_text), 20, what="B's agent reply pushed")
    agent_reply(province, A, number, a_text)
    wait_for(lambda: province.pushes(PATIENT, a_text), 20, what="A's agent reply pushed")
    assert [province.token_of(c) for c in province.pushes(PATIENT, b_text)] == ["b"]
    assert [province.token_of(c) for c in province.pushes(PATIENT, a_text)] == ["a"]

    # Appointment "123" of the same citizen from both HIS: two notices, each pushed by its hospital's account.
    notices = {}
    for h in (A, B):
        answer = province.submit(h.id, [appointment("123")])
        assert answer.status_code == 202 and answer.json()["queued"] == 1, answer.text
        notices[h.id] = answer.json()["items"][0]["notice_id"]
    wait_for(lambda: all(province.notice_status(h.id, notices[h.id]) == "sent" for h in (A, B)), 30,
             what="both notices sent")
    assert sorted(province.moph.pushed_by) == [(A.moph_code, CID), (B.moph_code, CID)]

    # The patient unfollows A: A's record of them goes, B's stays, and B's agent still reaches them.
    assert province.post_line("a", [line_event(PATIENT, kind="unfollow")]).status_code == 200
    at_a = (f"h:a:handoff:state:{PATIENT}", f"h:a:handoff:transcript:{PATIENT}")
    wait_for(lambda: not province.redis.exists(*at_a), 20, what="A's handoff state and transcript erased")
    assert province.redis.exists(f"h:b:handoff:state:{PATIENT}", f"h:b:handoff:transcript:{PATIENT}") == 2
    assert conversation(province, B) == number
    later = "เจ้าหน้าที่โรงพยาบาลบีตอบอีกครั้งค่ะ"
    agent_reply(province, B, number, later)
    wait_for(lambda: province.pushes(PATIENT, later), 20, what="B's agent reply after the unfollow at A")
    assert [province.token_of(c) for c in province.pushes(PATIENT, later)] == ["b"]


def test_a_hospital_added_while_running_answers_its_first_webhook_within_15_s(province):
    """Hospital C's file (secrets by file: a running process's environment cannot be added to) is put in
    the registry; LINE delivers C's first event until it is taken. Its answer, with C's token and from
    C's knowledge base, reaches LINE within 15 s of the file appearing, and no process was restarted."""
    c = HospitalAccount("c", 3)
    province.add(c)
    running = {proc.name: proc.pid for proc in province.stack.procs}
    assert province.post_line("c", []).status_code == 404  # not a hospital yet
    event = line_event(NEWCOMER, text=CONTACT)
    written_at = time.monotonic()
    c.write(province.registry, province.secrets)

    def taken() -> bool:
        if province.post_line("c", [event]).status_code == 200:
            return True
        event["deliveryContext"] = {"isRedelivery": True}  # LINE delivers again what got no 2xx
        return False

    wait_for(taken, ADDED_WITHIN, what="C's webhook taken", interval=0.5)
    reply = answered(province, event, within=max(0.1, ADDED_WITHIN - (time.monotonic() - written_at)))
    took = reply.at - written_at
    print(f"hospital added: first webhook answered {took:.1f} s after its file appeared")
    assert province.token_of(reply) == "c" and c.phone in reply.texts[0], reply
    assert took <= ADDED_WITHIN
    assert {proc.name: proc.pid for proc in province.stack.procs} == running
    assert all(proc.alive() for proc in province.stack.procs), province.stack.logs()


def test_one_hospitals_credentials_open_no_other_hospitals_paths(province):
    """Through the web process: A's LINE signature on B's path, B's signature for A's bot, A's LiveDesk hook
    token and A's HIS token on B's paths are refused; nothing of them is answered."""
    event = line_event(STRANGER, text=CONTACT)
    signed_by_a = province.post_line("b", [event], secret=A.secret)
    assert signed_by_a.status_code == 400 and signed_by_a.json()["error"] == "invalid signature"
    for_a = province.post_line("b", [event], destination=A.bot)
    assert for_a.status_code == 400 and "destination" in for_a.json()["error"]
    assert province.post_livedesk("b", {"event": "message_created"}, token=A.livedesk_hook).status_code == 404
    assert province.submit("b", [appointment("refused")], token=A.his_token).status_code == 401
    # The same event, right this time, is answered by B alone (so it was not answered before).
    assert province.post_line("b", [event]).status_code == 200
    reply = answered(province, event)
    assert province.token_of(reply) == "b" and len(province.answers(event)) == 1


def test_a_broken_hospital_file_answers_503_while_the_others_answer(province):
    """B's file gets a secret written into it (refused: secrets are given by reference): B's paths answer
    503 with Retry-After (LINE delivers again later) while A answers as before; B's file fixed, B answers
    again, through its own token."""
    path = province.registry / "b.toml"
    good = path.read_text()
    reference = f'"env:{B.env_name("line_channel_secret")}"'
    assert reference in good
    write_whole(path, good.replace(reference, f'"{B.secret}"'))
    broken_at = time.monotonic()
    wait_for(lambda: seen_by_every_web_process(broken_at) and province.post_line("b", []).status_code == 503, 15,
             what="B not served")
    refused = province.post_line("b", [line_event(BYSTANDER, text=CONTACT)])
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    assert province.post_livedesk("b", {"event": "message_created"}).status_code == 503
    assert province.submit("b", [appointment("124")]).status_code == 503

    at_a = line_event(BYSTANDER, text=CONTACT)
    assert province.post_line("a", [at_a]).status_code == 200
    assert province.token_of(answered(province, at_a)) == "a"

    write_whole(path, good)
    fixed_at = time.monotonic()
    event = line_event(BYSTANDER, text=CONTACT)
    wait_for(lambda: seen_by_every_web_process(fixed_at) and province.post_line("b", [event]).status_code == 200,
             15, what="B served again")
    reply = answered(province, event)
    assert province.token_of(reply) == "b" and B.phone in reply.texts[0]


def seen_by_every_web_process(changed_at: float) -> bool:
    """Whether each web process now sees a change of the registry made at ``changed_at``: each re-reads it on
    its first request more than REFRESH_SECONDS after its last read (until then, one may answer as before)."""
    return time.monotonic() - changed_at > REFRESH_SECONDS
