"""Sends that cannot be repeated go out at most once: an OTP SMS (SEPSMS) and a MOPH Alert send-now.

When such a call may have been carried out upstream (a gateway error, a 5xx without the provider's
own error body, an answer that never came, a worker killed right after the provider accepted) the
service must not send again by itself: the patient is told "not sure" (OTP) or the notice becomes
``uncertain`` (MOPH). A 5xx that carries the provider's own error body did nothing and is retried.

The service runs as its Procfile says (``tests/faults/processes.py``), SEPSMS and MOPH stubbed over HTTP
(``tests/faults/providers.py``). Each fault is aimed at one phone number or one citizen ID, so the
cases of a scenario run side by side. Every CID and phone number here is made up.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from bot.phone import normalize_thai_mobile
from tests.faults.figures import Figures
from tests.faults.providers import MophStub, sepsms_error
from tests.faults.scenario_support import report
from tests.faults.waiting import poll_until
from tests.support import wait_for
from workers.queues import DEFAULT_QUEUE

pytestmark = pytest.mark.faults

#: Past the clients' read timeout (integrations/http.py DEFAULT_TIMEOUT: 15 s).
HANG_SECONDS = 17
UNCERTAIN_TEXT = "ไม่แน่ใจว่าส่ง SMS"        # VerificationDialog.send_uncertain
CODE_SENT_TEXT = "ส่งรหัส OTP ไปที่เบอร์"     # VerificationDialog.code_sent
FAILED_TEXT = "ระบบส่ง SMS ไม่สำเร็จ"          # VerificationDialog.send_failed
QUEUED_TEXT = "ภายในไม่กี่นาที"               # VerificationDialog.send_queued
BUSY_TEXT = "ยังส่งรหัสให้ไม่ได้"              # VerificationDialog.send_busy


@pytest.fixture(autouse=True)
def healed(world):
    yield
    world.heal()


def jobs_done(world, started: bool = True) -> bool:
    """No default-queue job queued, due within two minutes (RQ retries), or (``started``) running."""
    queue = Queue(DEFAULT_QUEUE, connection=world.redis)
    if queue.count or world.redis.zcount(ScheduledJobRegistry(queue=queue).key, "-inf", time.time() + 120):
        return False
    return not started or not StartedJobRegistry(queue=queue).count


def make_cid(first12: str) -> str:
    """A made-up, checksum-valid citizen ID."""
    total = sum(int(first12[i]) * (13 - i) for i in range(12))
    return first12 + str((11 - total % 11) % 10)


def test_otp_send_is_never_repeated_when_its_outcome_is_unknown(world):
    """Three patients ask for a code at once. SEPSMS texts the first but a gateway answers 502; texts the
    second and answers only after the client gave up; answers the third 500 with its own error body
    (nothing sent). First two: told "not sure", texted once, never again. Third: retried, texted once."""
    sepsms = world.providers.sepsms
    cases = {41: ("502 from a gateway", "0810000041"), 42: ("hang past the timeout", "0810000042"),
             43: ("500 with SEPSMS's error body", "0810000043")}
    numbers = {p: normalize_thai_mobile(n).for_provider("sepsms") for p, (_, n) in cases.items()}

    def to(patient):
        return lambda call: isinstance(call.body, dict) and call.body.get("destination") == numbers[patient]

    sepsms.fail_next(1, 502, after=True, match=to(41))
    sepsms.hang_next(1, HANG_SECONDS, after=True, match=to(42))
    sepsms.fail_next(1, 500, match=to(43), body=sepsms_error("internal.error", "temporary failure, nothing sent"))
    asked = {}
    for patient, (_, number) in cases.items():
        assert world.send(world.event(patient, postback="action=verify")) == 200
        asked[patient] = world.event(patient, text=number)
    for patient in cases:  # the numbers, as close together as patients typing them
        assert world.send(asked[patient]) == 200
    expected = {41: UNCERTAIN_TEXT, 42: UNCERTAIN_TEXT, 43: CODE_SENT_TEXT}
    wait_for(lambda: all(world.told(p, expected[p]) for p in cases), HANG_SECONDS + 45,
               what="every patient told how their code went")
    wait_for(lambda: jobs_done(world), 60, what="no OTP job left to run")
    problems = []
    for patient, (fault, _) in cases.items():
        calls = [c for c in sepsms.calls_to("/otp/send") if to(patient)(c)]
        told = {text: len(world.told(patient, text)) for text in (UNCERTAIN_TEXT, CODE_SENT_TEXT, FAILED_TEXT)}
        first_told = min(c.at for c in world.told(patient, expected[patient]))
        texted = sepsms.texted(numbers[patient])
        fig = report(Figures(
            scenario=f"test_otp_send[{fault}]", sent=1, delivered=1, answered=int(texted > 0),
            twice=int(texted > 1), set_aside=0, unanswered=int(texted == 0), out_of_order=0,
            first_to_last=first_told - asked[patient].sent_at, recover=None,
            notes=f"otp_send_calls={len(calls)} texted={texted} told_not_sure={told[UNCERTAIN_TEXT]} "
                  f"told_code_sent={told[CODE_SENT_TEXT]} told_failed={told[FAILED_TEXT]}"))
        want_calls = 2 if patient == 43 else 1
        want_told = {UNCERTAIN_TEXT: 0, CODE_SENT_TEXT: 0, FAILED_TEXT: 0, expected[patient]: 1}
        if (len(calls), texted, told) != (want_calls, 1, want_told):
            problems.append(fig.line())
    assert not problems, "\n".join(problems)


def test_otp_send_whose_worker_is_killed_mid_turn_is_told_once_and_never_repeated(world):
    """The worker answering a patient's turn calls SEPSMS itself; SEPSMS texts the code and the worker
    is killed (SIGKILL) before the answer. The turn is retried (the event is still in the inbox): the
    patient is told "not sure" once, by that turn's reply, and the SMS is never repeated, also not by
    the turn's backstop job."""
    sepsms = world.providers.sepsms
    patient, number = 44, normalize_thai_mobile("0810000044").for_provider("sepsms")
    killed = []

    def kill_the_sender(call):
        if killed or not (isinstance(call.body, dict) and call.body.get("destination") == number):
            return
        victim = world.stack.caller_of(call)
        if victim is not None:
            victim.kill()
            killed.append((victim, time.monotonic()))

    assert world.send(world.event(patient, postback="action=verify")) == 200
    sepsms.on_accept = kill_the_sender
    asked = world.event(patient, text="0810000044")
    assert world.send(asked) == 200
    wait_for(lambda: killed, 30, what="the worker killed after SEPSMS accepted")
    sepsms.on_accept = None
    victim, killed_at = killed[0]
    world.stack.start(victim.kind)
    wait_for(lambda: world.told(patient, UNCERTAIN_TEXT), 90, what="the patient told after the kill")
    told_at = time.monotonic()
    wait_for(lambda: jobs_done(world), 60, what="no OTP job left to run")
    told = {text: len(world.told(patient, text)) for text in (UNCERTAIN_TEXT, CODE_SENT_TEXT, FAILED_TEXT)}
    texted = sepsms.texted(number)
    fig = report(Figures(
        scenario="test_otp_send[worker killed mid-turn]", sent=1, delivered=1, answered=int(texted > 0),
        twice=int(texted > 1), set_aside=0, unanswered=int(texted == 0), out_of_order=0,
        first_to_last=told_at - killed_at, recover=told_at - killed_at,
        notes=f"texted={texted} told_not_sure={told[UNCERTAIN_TEXT]} told_code_sent={told[CODE_SENT_TEXT]} "
              f"pushes={len(world.pushes_to(patient))} killed={victim.name}"))
    assert (texted, told) == (1, {UNCERTAIN_TEXT: 1, CODE_SENT_TEXT: 0, FAILED_TEXT: 0}), fig.line()


def test_a_morning_rush_is_sent_at_sepsms_pace_and_nobody_is_told_it_failed(world):
    """Eight patients ask for a code within a second; SEPSMS takes 5 OTP sends a minute. Every patient
    is texted once and told the code's reference once; those over the pace are told first that the code
    is on its way; SEPSMS never gets more than 5 OTP sends in any 60 s; nobody is told "failed"."""
    sepsms = world.providers.sepsms
    patients = range(51, 59)
    numbers = {p: f"08100000{p}" for p in patients}
    to_sepsms = {p: normalize_thai_mobile(n).for_provider("sepsms") for p, n in numbers.items()}
    for patient in patients:
        assert world.send(world.event(patient, postback="action=verify")) == 200
    asked = [world.event(patient, text=numbers[patient]) for patient in patients]
    start = time.monotonic()
    assert world.send(*asked) == 200
    wait_for(lambda: all(world.told(p, CODE_SENT_TEXT) for p in patients), 150,
               what="every patient told their code's reference")
    wait_for(lambda: jobs_done(world), 60, what="no OTP job left to run")
    sends = sorted(c.at for c in sepsms.calls_to("/otp/send") if c.acted)
    busiest = max(sum(1 for t in sends if s <= t < s + 60) for s in sends)
    problems = []
    for patient in patients:
        told = {text: len(world.told(patient, text)) for text in (CODE_SENT_TEXT, QUEUED_TEXT, FAILED_TEXT,
                                                                  BUSY_TEXT, UNCERTAIN_TEXT)}
        texted = sepsms.texted(to_sepsms[patient])
        if texted != 1 or told[CODE_SENT_TEXT] != 1 or told[FAILED_TEXT] + told[BUSY_TEXT] + told[UNCERTAIN_TEXT]:
            problems.append(f"patient {patient}: texted={texted} told={told}")
    queued = [p for p in patients if world.told(p, QUEUED_TEXT)]
    last = max(min(c.at for c in world.told(p, CODE_SENT_TEXT)) for p in patients)
    fig = report(Figures(
        scenario="test_otp_morning_rush[8 patients, 5 a minute]", sent=8, delivered=8,
        answered=8 - len(problems), twice=0, set_aside=0, unanswered=len(problems), out_of_order=0,
        first_to_last=last - start, recover=None,
        notes=f"told_on_its_way={len(queued)} most_sends_in_60s={busiest} "
              f"pushes={sum(len(world.pushes_to(p)) for p in patients)}"))
    assert not problems and busiest <= 5 and queued, "\n".join(problems + [fig.line()])


def test_moph_send_now_is_never_sent_twice(world):
    """Four notices at once. MOPH pushes the first but a gateway answers 504; pushes the second and answers
    after the client gave up; pushes the third, and its worker is killed (SIGKILL) before the answer; the
    fourth goes normally. First three: ``uncertain``, pushed once, never again (also after RQ retries
    the killed worker's job); the fourth ``sent`` once."""
    moph = world.providers.moph
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    cases = {"504 from a gateway": make_cid("110170099001"), "hang past the timeout": make_cid("110170099002"),
             "worker killed after MOPH accepted": make_cid("110170099003"), "no fault": make_cid("110170099004")}
    rows = [{"appointment_id": f"FAULT-{n}", "cid": cid, "date": day, "time": "09:30", "clinic": "คลินิกอายุรกรรม",
             "status": "booked"} for n, cid in enumerate(cases.values(), 1)]
    moph.fail_next(1, 504, after=True, match=MophStub.for_cid(cases["504 from a gateway"]))
    moph.hang_next(1, HANG_SECONDS, after=True, match=MophStub.for_cid(cases["hang past the timeout"]))
    killed = []

    def kill_the_sender(call):
        if killed or not MophStub.for_cid(cases["worker killed after MOPH accepted"])(call):
            return
        victim = world.stack.caller_of(call)
        if victim is not None:
            victim.kill()
            killed.append((victim, time.monotonic()))

    moph.on_accept = kill_the_sender
    start = time.monotonic()
    answer = world.appointments(rows)
    assert answer.status_code == 202, answer.text
    notices = dict(zip(cases, (item["notice_id"] for item in answer.json()["items"])))
    wait_for(lambda: killed, 30, what="the worker killed after MOPH accepted")
    moph.on_accept = None
    victim, killed_at = killed[0]
    world.stack.start(victim.kind)
    expected = {case: "uncertain" for case in cases} | {"no fault": "sent"}
    # The killed worker's job comes back when RQ sees the worker dead (its heartbeat, ~90 s) and retries it.
    statuses = {}

    def settled():
        statuses.update({case: world.notice_status(notices[case]) for case in cases})
        return statuses == expected and jobs_done(world)

    ok = poll_until(settled, 200, interval=1)
    settled_at = time.monotonic()
    problems = []
    for case, cid in cases.items():
        calls = [c for c in moph.calls_to("/send-now") if MophStub.for_cid(cid)(c)]
        pushed = moph.pushes_to(cid)
        last_status = next((c.at for c in reversed(calls)), start)
        fig = report(Figures(
            scenario=f"test_moph_send_now[{case}]", sent=1, delivered=1, answered=int(pushed > 0),
            twice=int(pushed > 1), set_aside=0, unanswered=int(pushed == 0), out_of_order=0,
            first_to_last=last_status - start if pushed else None,
            recover=(settled_at - killed_at) if case.startswith("worker killed") and ok else None,
            notes=f"send_now_calls={len(calls)} pushed={pushed} status={statuses.get(case)}"
                  + (f" killed={victim.name}" if case.startswith("worker killed") else "")))
        if (len(calls), pushed, statuses.get(case)) != (1, 1, expected[case]):
            problems.append(fig.line())
    assert ok and not problems, "\n".join(problems or [f"not settled: {statuses}"])
