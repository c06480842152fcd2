"""Reply first: a verification turn calls the SMS provider itself and answers with the turn's
(free) reply token; a slow provider's outcome is pushed when it comes; SEPSMS's pace holds a
send for its next slot and the patient is told the code is on its way.

Signed LINE webhooks → the real RQ worker → LINE stub; SEPSMS / ThaiBulkSMS stubbed with
``responses``, answering with the documents' bodies (``tests/verification_support.py``).
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from rq.registry import ScheduledJobRegistry
from werkzeug import Response

from integrations.errors import ProviderError
from tests.support import wait_for
from tests.verification_support import (  # noqa: F401  (fixtures used by name)
    SEP,
    USER,
    clock,
    code_sent,
    lapse_tellings,
    patient,
    provider,
    rsps,
    run_scheduled,
    settings,
    sms,
)
from workers.queues import DEFAULT_QUEUE, get_queue
from workers.verification.outcome import Outcome
from workers.verification.store import verified_phone
from workers.verification.turn_budget import TURN_THREADS


def scheduled(redis) -> list[str]:
    return ScheduledJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE)).get_job_ids()


def last_reply(patient) -> str:
    """The text of the last reply (a late push may already have come too)."""
    replies = [r for r, _ in patient.line_stub.log if r.path == "/v2/bot/message/reply"]
    return replies[-1].get_json()["messages"][0]["text"]


def wrong_code(sms) -> str:
    return "000000" if sms.code != "000000" else "111111"


def test_a_whole_verification_is_answered_by_replies_only(patient, sms, redis, clock, provider):
    texts = [patient.say("ยืนยันตัวตน"), patient.say("081-234-5678")]
    texts += [patient.say(wrong_code(sms)), patient.say(sms.code)]
    assert [len(t) for t in texts] == [1, 1, 1, 1]
    assert sms.references[0] in texts[1][0] and "สำเร็จ" in texts[-1][0]
    paths = [r.path for r, _ in patient.line_stub.log]
    replies, pushes = paths.count("/v2/bot/message/reply"), paths.count("/v2/bot/message/push")
    print(f"\nverification via {provider}, 4 patient turns (start, number, wrong code, right code): "
          f"{replies} replies, {pushes} pushes")
    assert (replies, pushes) == (4, 0)
    assert scheduled(redis) == []  # every backstop was cancelled with the turn's reply


@pytest.fixture
def slow(services, sms):
    """A provider that answers after the turn's budget (made short, so the test is quick)."""
    services.verification.turn_budget.seconds = 0.2
    sms.delay = 0.6
    return sms


def test_a_slow_send_is_answered_on_its_way_and_its_outcome_pushed(patient, slow, redis, run_worker, clock):
    patient.say("ยืนยันตัวตน")
    patient.say("081-234-5678")  # the turn does not wait for the provider: its reply says "sending…"
    assert "กำลังส่ง" in last_reply(patient)
    [pushed] = wait_for(lambda: patient.pushes(), what="the outcome's push")
    assert slow.references[0] in pushed.get_json()["messages"][0]["text"]
    assert len(slow.sends) == 1
    wait_for(lambda: scheduled(redis) == [], what="the backstop cancelled once the push was recorded")
    assert redis.hget(f"verify:request:{_request_id(redis)}", "told") == b"1"
    run_scheduled(redis, run_worker)
    assert len(slow.sends) == 1 and len(patient.pushes()) == 1


@pytest.mark.parametrize("provider", ["sepsms"])  # ThaiBulkSMS codes are checked here, not by the provider
def test_a_slow_check_shows_the_loading_animation_and_pushes_the_outcome(patient, sms, services, redis,
                                                                        run_worker, clock):
    code_sent(patient, sms)
    services.verification.turn_budget.seconds, sms.delay = 0.2, 0.6
    replies_before = [r for r, _ in patient.line_stub.log if r.path == "/v2/bot/message/reply"]
    patient.say(sms.code)  # nothing to say yet: LINE shows the bot typing
    assert [r for r, _ in patient.line_stub.log if r.path == "/v2/bot/message/reply"] == replies_before
    assert any(r.path == "/v2/bot/chat/loading/start" for r, _ in patient.line_stub.log)
    [pushed] = wait_for(lambda: patient.pushes(), what="the outcome's push")
    assert "สำเร็จ" in pushed.get_json()["messages"][0]["text"]
    wait_for(lambda: scheduled(redis) == [], what="the backstop cancelled once the push was recorded")
    assert not redis.keys("verify:pin:*")  # the typed code is gone once told
    run_scheduled(redis, run_worker)
    assert len(patient.pushes()) == 1 and verified_phone(redis, USER)


def test_a_code_the_turn_never_checked_is_checked_by_the_backstop(patient, sms, services, redis, run_worker,
                                                                  clock):
    """A worker killed after the check turn wrote the typed code and its backstop job."""
    from bot.verification import CheckCode
    from workers.verification.feature import VerificationFeature

    code_sent(patient, sms)
    feature = next(f for f in services.conversation_features if isinstance(f, VerificationFeature))
    with redis.pipeline(transaction=True) as pipe:  # the turn's first transaction, and then nothing
        pipe.multi()
        feature._prepare(pipe, USER, CheckCode(_request_id(redis), sms.code, 1))
        pipe.execute()
    run_scheduled(redis, run_worker)
    [told] = patient.news()
    assert "สำเร็จ" in told and verified_phone(redis, USER)
    run_scheduled(redis, run_worker)
    assert len(patient.pushes()) == 1


# -- SEPSMS's pace: 5 OTP sends a minute ------------------------------------------------------------

def fill_otp_window(redis, *, free_in: float) -> None:
    """Five OTP sends recorded by the shared limiter, the oldest leaving the window in ``free_in`` s."""
    now = time.time()
    redis.zadd("ratelimit:sepsms:otp", {f"earlier-{i}": now - 60 + free_in + i for i in range(5)})
    redis.expire("ratelimit:sepsms:otp", 61)


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_send_over_sepsms_pace_is_queued_and_the_patient_told_it_is_on_its_way(patient, sms, redis, run_worker,
                                                                                  clock):
    patient.say("ยืนยันตัวตน")
    fill_otp_window(redis, free_in=3)  # room for a slow turn on a busy machine
    [queued] = patient.say("081-234-5678")
    assert "ภายในไม่กี่นาที" in queued and "คุยกับเจ้าหน้าที่" in str(patient.line_stub.log[-1][0].get_json())
    assert sms.sends == [] and "ไม่สำเร็จ" not in queued
    request_id = _request_id(redis)
    assert scheduled(redis) == [f"otp-send-{request_id}"]  # the backstop, moved to the next slot
    wait_for(lambda: sms_slot_free(redis), what="the next OTP slot")
    run_scheduled(redis, run_worker)
    assert len(sms.sends) == 1
    [sent] = patient.news()
    assert sms.references[0] in sent
    assert "สำเร็จ" in patient.say(sms.code)[0]


def sms_slot_free(redis) -> bool:
    return redis.zcount("ratelimit:sepsms:otp", time.time() - 60, "+inf") < 5


@pytest.mark.parametrize("provider", ["sepsms"])
def test_sepsms_429_with_retry_after_holds_the_send_and_nothing_is_lost(patient, sms, rsps, redis, run_worker,
                                                                        clock):
    patient.say("ยืนยันตัวตน")
    rsps.add("POST", f"{SEP}/otp/send", status=429, headers={"Retry-After": "1"},
             json={"success": False, "error": {"code": "rate_limit.exceeded", "message": "Too many requests"}})
    rsps.registered().insert(0, rsps.registered().pop())  # this answer first, then the stub's usual one
    [queued] = patient.say("081-234-5678")
    assert "ภายในไม่กี่นาที" in queued
    assert redis.get("ratelimit:sepsms:otp:paused")  # every worker waits out SEPSMS's Retry-After
    wait_for(lambda: not redis.get("ratelimit:sepsms:otp:paused"), what="SEPSMS's pause to end")
    run_scheduled(redis, run_worker)
    assert len(sms.sends) == 2  # the refused one and the one that went out
    assert sms.references[0] in patient.news()[0]


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_send_that_would_wait_too_long_is_refused_with_a_way_out(patient, sms, redis, run_worker, clock):
    patient.say("ยืนยันตัวตน")
    redis.set("ratelimit:sepsms:otp:paused", f"{time.time() + 600:.3f}", ex=600)  # SEPSMS said: 10 minutes
    [busy] = patient.say("081-234-5678")
    assert "ลองใหม่ในอีกประมาณ 10 นาที" in busy
    last = patient.line_stub.log[-1][0].get_json()["messages"][0]
    assert {"ยกเลิก", "คุยกับเจ้าหน้าที่"} <= {i["action"]["label"] for i in last["quickReply"]["items"]}
    assert sms.sends == [] and scheduled(redis) == []


def _request_id(redis) -> str:
    return json.loads(redis.get(f"verify:state:{USER}"))["request_id"]


# -- one code and one check at a time (the patient does not wait for us) --------------------------

@pytest.fixture
def held(patient, sms, redis, clock):
    """A patient whose code is held for SEPSMS's next slot."""
    patient.say("ยืนยันตัวตน")
    fill_otp_window(redis, free_in=30)
    [queued] = patient.say("081-234-5678")
    assert "ภายในไม่กี่นาที" in queued
    return _request_id(redis)


@pytest.mark.parametrize("provider", ["sepsms"])
def test_resend_or_a_code_while_the_code_is_held_is_told_it_is_on_its_way(patient, sms, redis, held, clock):
    clock.advance(65)  # past the resend cooldown, still held
    assert "ภายในไม่กี่นาที" in patient.press("action=verify-resend")[0]
    assert "ภายในไม่กี่นาที" in patient.say("123456")[0]  # typed before the SMS came: no attempt spent
    state = json.loads(redis.get(f"verify:state:{USER}"))
    assert (state["request_id"], state["attempts"]) == (held, 0)
    assert sms.sends == [] and scheduled(redis) == [f"otp-send-{held}"]


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_held_send_the_patient_cancelled_is_never_sent(patient, sms, redis, run_worker, held, clock):
    assert "ยกเลิก" in patient.say("ยกเลิก")[0]
    redis.delete("ratelimit:sepsms:otp")  # the slot has come
    run_scheduled(redis, run_worker)
    assert sms.sends == [] and patient.pushes() == []
    assert redis.hget(f"verify:request:{held}", "told") == b"1"


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_code_typed_while_the_last_one_is_checked_waits_for_that_check(patient, sms, services, redis, clock):
    code_sent(patient, sms)
    services.verification.turn_budget.seconds, sms.delay = 0.2, 0.6
    patient.say(sms.code)
    assert "กำลังตรวจสอบรหัส" in patient.say(sms.code)[0]  # typed again during the loading animation
    wait_for(lambda: patient.pushes(), what="the first check's outcome")
    assert len(sms.checks) == 1 and json.loads(redis.get(f"verify:state:{USER}"))["attempts"] == 1


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_check_whose_push_failed_is_told_again_without_checking_again(patient, sms, services, redis, run_worker,
                                                                         line_stub, clock):
    code_sent(patient, sms)
    services.verification.turn_budget.seconds, sms.delay = 0.2, 0.6
    line_stub.clear_all_handlers()
    line_stub.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push", "/v2/bot/chat/loading/start"):
        line_stub.expect_request(path).respond_with_json({})
    patient.say(sms.code)
    services.verification.turn_budget.wait_for_late_work()  # the late push was refused
    lapse_tellings(redis)  # the backstop runs a minute after the turn
    run_scheduled(redis, run_worker)
    pushed = [p.get_json()["messages"][0]["text"] for p in patient.pushes()]
    assert len(pushed) == 2 and all("สำเร็จ" in t for t in pushed)
    assert len(sms.checks) == 1  # the verdict was kept: SEPSMS was asked once


@pytest.mark.parametrize("provider", ["sepsms"])
def test_the_code_clock_moves_once_for_a_send_that_went_out_late(patient, sms, redis, run_worker, held, clock):
    redis.hset(f"verify:request:{held}", "created_at",
               float(redis.hget(f"verify:request:{held}", "created_at")) - 100)  # asked for 100 s earlier
    redis.delete("ratelimit:sepsms:otp")
    run_scheduled(redis, run_worker)
    asked_at = json.loads(redis.get(f"verify:state:{USER}"))["sent_at"]
    for text in ("รหัสอะไรคะ", "12 34", "๑๒๓"):  # hints: each turn saves the state
        patient.say(text)
    state = json.loads(redis.get(f"verify:state:{USER}"))
    assert 99 < state["sent_at"] - asked_at < 102 and 99 < state["paced"] < 102


# -- one attempt tells each outcome -------------------------------------------------------------------------

def test_a_retried_turn_and_the_backstop_never_both_tell_an_outcome(patient, sms, services, redis, line_stub,
                                                                    clock):
    """The code went out, but the patient was not told yet (the turn's worker died before its last
    step): the backstop pushes the reference just as the turn's retry reaches the same outcome."""
    code_sent(patient, sms)
    request_id, event_id = _request_id(redis), json.loads(redis.get(f"verify:state:{USER}"))["event_id"]
    redis.hdel(f"verify:request:{request_id}", "told")
    lapse_tellings(redis)  # the turn's worker died a minute ago
    service, by_the_turn = services.verification, []

    def push_while_the_turn_retries(request):
        by_the_turn.append(service.send_outcome(request_id, final=False, holder=f"turn:{event_id}"))
        return Response("{}", content_type="application/json")

    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/push").respond_with_handler(push_while_the_turn_retries)
    service.send_code(request_id, final=True, holder="job:backstop")
    assert by_the_turn == [None]  # the backstop is telling it: the turn's reply does not
    [pushed] = patient.pushes()
    assert sms.references[0] in pushed.get_json()["messages"][0]["text"]
    assert len(sms.sends) == 1


def test_a_holder_whose_push_failed_tells_again_and_no_one_else_meanwhile(patient, sms, services, redis,
                                                                          line_stub, clock):
    code_sent(patient, sms)
    request_id = _request_id(redis)
    redis.hdel(f"verify:request:{request_id}", "told")
    lapse_tellings(redis)  # the turn's worker died a minute ago
    service = services.verification
    line_stub.clear_all_handlers()
    line_stub.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({})
    with pytest.raises(ProviderError):
        service.send_code(request_id, final=False, holder="job:backstop")  # LINE 503: RQ retries the job
    service.send_code(request_id, final=False, holder="job:another")
    assert len(patient.pushes()) == 1  # only the refused one: the telling is the backstop's
    service.send_code(request_id, final=False, holder="job:backstop")  # its retry
    assert len(patient.pushes()) == 2 and redis.hget(f"verify:request:{request_id}", "told") == b"1"
    lapse_tellings(redis)
    redis.hdel(f"verify:request:{request_id}", "told")
    service.send_code(request_id, final=False, holder="job:another")  # a holder that died is taken over
    assert len(patient.pushes()) == 3


def test_an_attempt_that_let_another_tell_looks_again_should_that_one_fail(patient, sms, services, redis,
                                                                           line_stub, run_worker, clock):
    """The backstop holds the telling when the turn's retry comes, and then LINE refuses its push for
    good: the turn left a job that tells the outcome once the backstop's telling has lapsed."""
    code_sent(patient, sms)
    request_id, event_id = _request_id(redis), json.loads(redis.get(f"verify:state:{USER}"))["event_id"]
    redis.hdel(f"verify:request:{request_id}", "told")
    lapse_tellings(redis)
    service, by_the_turn = services.verification, []

    def refused_while_the_turn_retries(request):
        by_the_turn.append(service.send_outcome(request_id, final=False, holder=f"turn:{event_id}"))
        return Response('{"message": "down"}', status=503, content_type="application/json")

    line_stub.clear_all_handlers()
    line_stub.expect_oneshot_request("/v2/bot/message/push").respond_with_handler(refused_while_the_turn_retries)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({})
    with pytest.raises(ProviderError):
        service.send_code(request_id, final=True, holder="job:backstop")  # its last attempt
    assert by_the_turn == [None]
    assert len([j for j in scheduled(redis) if j.startswith(f"otp-send-{request_id}-again-")]) == 1
    lapse_tellings(redis)
    run_scheduled(redis, run_worker)
    pushed = [p.get_json()["messages"][0]["text"] for p in patient.pushes()]
    assert len(pushed) == 2 and sms.references[0] in pushed[1]  # the refused one, then the one that came
    assert redis.hget(f"verify:request:{request_id}", "told") == b"1" and len(sms.sends) == 1


def test_a_slow_late_push_keeps_its_thread_so_the_next_turn_goes_to_the_backstop_at_once(services, line_stub,
                                                                                        patient):
    """Four slow outcomes whose pushes hang on LINE hold the four turn threads: the next turn does not
    wait out its budget behind them, the backstop does its work now."""
    service, budget = services.verification, services.verification.turn_budget
    budget.seconds = 0.05
    pushes_may_go, elsewhere, arrived = threading.Event(), [], []

    def hanging_push(request):
        arrived.append(request.path)
        pushes_may_go.wait(10)
        return Response("{}", content_type="application/json")

    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/push").respond_with_handler(hanging_push)
    for n in range(TURN_THREADS):
        provider_answers = threading.Event()
        late = Outcome(USER, f"r{n}", {"type": "text", "text": f"late {n}"}, ("test-late", str(n)), final=False)
        outcome = budget.run(lambda gate=provider_answers, told=late: gate.wait(10) and told,
                             lambda: elsewhere.append(n), service.tell_late)
        assert outcome == (False, None)  # slower than the budget: pushed when it comes
        provider_answers.set()
    wait_for(lambda: arrived, what="a late push at LINE")  # the others' threads wait their turn, places held
    started = time.monotonic()
    assert budget.run(lambda: pytest.fail("ran behind the hanging pushes"),
                      lambda: elsewhere.append("next"), service.tell_late) == (False, None)
    assert elsewhere == ["next"] and time.monotonic() - started < budget.seconds
    pushes_may_go.set()
    wait_for(lambda: len(patient.pushes()) == TURN_THREADS, what="the late pushes")
    budget.wait_for_late_work()  # the pushes told: every place is free again
    assert budget.run(lambda: None, lambda: elsewhere.append("after"), service.tell_late) == (True, None)
