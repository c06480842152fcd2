"""Phone verification end to end, for each SMS_PROVIDER: signed LINE webhooks → real RQ worker →
LINE stub, with SEPSMS / ThaiBulkSMS / Oho stubbed at the HTTP boundary by ``responses``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import pytest
import requests
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from tests.conftest import make_settings
from tests.support import play_backoffs
from tests.verification_support import (  # noqa: F401  (fixtures used by name)
    BOT_ID,
    MSISDN,
    OHO,
    PHONE,
    SEP,
    SMS_SETTINGS,
    TBS,
    USER,
    Patient,
    SmsStub,
    clock,
    code_sent,
    patient,
    provider,
    rsps,
    run_scheduled,
    settings,
    sms,
)
from workers.queues import DEFAULT_QUEUE, get_queue
from workers.verification.feature import VerificationFeature
from workers.verification.store import verification_in_progress, verified_phone

# -- the conversation --------------------------------------------------------------------------------

def test_wrong_then_right_code_verifies_and_merges_the_oho_contact(patient, sms, rsps, redis, provider, clock,
                                                                   caplog):
    caplog.set_level("DEBUG")
    [sent] = code_sent(patient, sms)  # the turn's reply carries the outcome: no "sending…" first
    assert sms.references[-1] in sent and "5 นาที" in sent and "5678" in sent
    [send] = sms.sends
    if provider == "sepsms":
        body = json.loads(send.request.body)
        assert send.request.headers["X-API-Key"] == "sk_sep_test_0000"
        assert body["destination"] == MSISDN and body["origin"] == "HOSPITAL"
        assert body["ttlSeconds"] == 300 and body["codeLength"] == 6
        assert "{code}" in body["template"] and "{ref}" in body["template"]
    else:
        form = {k: v[0] for k, v in parse_qs(send.request.body).items()}
        assert send.request.headers["Authorization"].startswith("Basic ")
        assert form["msisdn"] == MSISDN and form["sender"] == "HOSPITAL" and form["expire"] == "00:06"  # more than 5 minutes (ThaiBulkSMS error 138)

    wrong = "000000" if sms.code != "000000" else "111111"
    assert "เหลือโอกาสอีก 2 ครั้ง" in patient.say(wrong)[0]
    assert "สำเร็จ" in patient.say(sms.code)[0]

    assert verified_phone(redis, USER) == PHONE
    assert not verification_in_progress(redis, USER)
    assert patient.pushes() == []  # four turns, four replies: LINE's free messages only
    assert len(ScheduledJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE))) == 0  # no backstop left
    if provider == "sepsms":
        assert [json.loads(c.request.body)["pin"] for c in sms.checks] == [wrong, sms.code]
    else:
        assert sms.checks == []  # checked locally
    patches = [json.loads(c.request.body) for c in rsps.calls if c.request.method == "PATCH"]
    assert {"phone": PHONE} in patches
    assert {"tags": ["vip", "diabetes", "verified"]} in patches  # others' tags survive
    [attributes] = [p["attributes"] for p in patches if "attributes" in p]
    assert attributes[0] == {"display_name": "hn", "value": {"text": "HN-0001"}}
    assert attributes[1]["display_name"] == "phone_verified_at"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", attributes[1]["value"]["text"])

    # PDPA: neither the number nor a code in any log line or Redis key.
    keys = b" ".join(redis.keys("*")).decode()
    for secret in ("812345678", sms.code, wrong):
        assert secret not in caplog.text
        assert secret not in keys
    # And the code is typed once: a later message is the knowledge base's again.
    assert "สำเร็จ" not in " ".join(patient.say(sms.code))


def test_lockout_after_max_attempts_makes_no_further_check(patient, sms, redis, provider, clock):
    code_sent(patient, sms)
    wrong = "000000" if sms.code != "000000" else "111111"
    assert "เหลือโอกาสอีก 2 ครั้ง" in patient.say(wrong)[0]
    assert "เหลือโอกาสอีก 1 ครั้ง" in patient.say(wrong)[0]
    assert "ครบ 3 ครั้ง" in patient.say(wrong)[0]
    assert "ครบ 3 ครั้ง" in patient.say(sms.code)[0]  # even the right code: that code is dead
    assert len(sms.checks) == (3 if provider == "sepsms" else 0)
    assert verified_phone(redis, USER) is None


def test_non_digits_get_a_hint_and_no_check(patient, sms, clock):
    code_sent(patient, sms)
    for text in ("รหัสอะไรคะ", "12 34", "๑๒๓"):
        [hint] = patient.say(text)
        assert "6 หลัก" in hint
    assert sms.checks == []


def test_expired_code_is_not_checked(patient, sms, redis, clock):
    code_sent(patient, sms)
    clock.advance(301)
    assert "หมดอายุ" in patient.say(sms.code)[0]
    assert sms.checks == [] and verified_phone(redis, USER) is None


def test_resend_waits_for_the_cooldown(patient, sms, redis, clock):
    code_sent(patient, sms)
    assert "รออีก 60 วินาที" in patient.press("action=verify-resend")[0]
    assert len(sms.sends) == 1
    old = sms.code
    clock.advance(61)
    [sent] = patient.press("action=verify-resend")
    assert len(sms.sends) == 2 and sms.references[1] in sent
    if old != sms.code:
        assert "ไม่ถูกต้อง" in patient.say(old)[0]  # only the newest code counts
    assert "สำเร็จ" in patient.say(sms.code)[0]


def test_at_most_three_sends_per_number_per_15_minutes(patient, sms, clock):
    code_sent(patient, sms)
    for _ in range(2):
        clock.advance(61)
        patient.press("action=verify-resend")
    clock.advance(61)
    [refused] = patient.press("action=verify-resend")
    assert "ครบจำนวน" in refused and "นาที" in refused
    assert len(sms.sends) == 3


def test_at_most_three_sends_per_line_user_per_hour(patient, sms, clock):
    for number in ("0812345678", "0899999999", "0811111111"):
        patient.press("action=verify")
        assert "ส่งรหัส OTP" in patient.say(number)[0]
        clock.advance(61)
    patient.press("action=verify")
    assert "ครบจำนวน" in patient.say("0822222222")[0]
    clock.advance(15 * 60)  # the first number's own budget is back, the user's is not
    patient.press("action=verify")
    assert "ครบจำนวน" in patient.say("0812345678")[0]
    assert len(sms.sends) == 3


def test_cancel_while_asking_for_the_number(patient, sms, redis, clock, services):
    patient.say("ยืนยันตัวตน")
    assert "ยกเลิก" in patient.press("action=cancel&flow=verify")[0]
    assert patient.say(PHONE) == [m["text"] for m in services.dialog.on_text(PHONE).messages]
    patient.say("ยืนยันตัวตน")
    assert "ยกเลิก" in patient.say("ยกเลิก")[0]
    assert sms.sends == [] and not verification_in_progress(redis, USER)


def test_cancel_while_waiting_for_the_code(patient, sms, redis, clock, services):
    code_sent(patient, sms)
    assert "ยกเลิก" in patient.press("action=cancel&flow=verify")[0]
    assert patient.say(sms.code) == [m["text"] for m in services.dialog.on_text(sms.code).messages]
    assert sms.checks == [] and verified_phone(redis, USER) is None


def test_emergency_passes_through_and_the_flow_goes_on(patient, sms, redis, clock, services):
    code_sent(patient, sms)
    assert patient.say("เจ็บหน้าอก") == [m.get("text", m.get("altText")) for m in
                                         services.dialog.answer_emergency().messages]
    assert "สำเร็จ" in patient.say(sms.code)[0]


def test_asking_for_staff_ends_the_flow(patient, sms, redis, clock, services):
    code_sent(patient, sms)
    assert patient.say("คุยกับเจ้าหน้าที่") == [m["text"] for m in services.dialog.answer_topic("staff").messages]
    assert not verification_in_progress(redis, USER)
    patient.press("action=verify")
    patient.press("action=handoff")
    assert not verification_in_progress(redis, USER)


def test_another_question_while_waiting_for_the_code_gets_its_answer(patient, sms, redis, clock, services):
    code_sent(patient, sms)
    parking = [m["text"] for m in services.dialog.answer_topic("parking").messages]
    assert patient.say("ที่จอดรถอยู่ไหน") == parking  # not "the number contains letters"
    assert verification_in_progress(redis, USER)  # the code on its way still counts
    assert "6 หลัก" in patient.say("รหัสอะไรคะ")[0]  # what nobody knows still gets the hint
    assert "สำเร็จ" in patient.say(sms.code)[0]


def test_another_question_instead_of_the_number_leaves_the_flow(patient, sms, redis, clock, services):
    patient.say("ยืนยันตัวตน")
    parking = [m["text"] for m in services.dialog.answer_topic("parking").messages]
    assert patient.say("ที่จอดรถอยู่ไหน") == parking
    assert not verification_in_progress(redis, USER)
    assert patient.say(PHONE) == [m["text"] for m in services.dialog.on_text(PHONE).messages]
    assert sms.sends == []


def test_another_menu_button_leaves_the_flow(patient, sms, redis, clock, services):
    patient.say("ยืนยันตัวตน")
    assert patient.press("action=topic&id=parking") == [
        m["text"] for m in services.dialog.answer_topic("parking").messages]
    assert not verification_in_progress(redis, USER)


# -- sending exactly once ------------------------------------------------------------------------

def test_a_failed_reply_of_the_code_turn_is_pushed_without_a_second_sms(patient, sms, redis, run_worker,
                                                                        line_stub, clock):
    patient.say("ยืนยันตัวตน")
    line_stub.clear_all_handlers()
    line_stub.expect_oneshot_request("/v2/bot/message/reply").respond_with_json({"message": "busy"}, status=503)
    for path in ("/v2/bot/message/reply", "/v2/bot/message/push", "/v2/bot/chat/loading/start"):
        line_stub.expect_request(path).respond_with_json({})
    [pushed] = patient.say("081-234-5678")  # the reply was refused: the same answer is pushed
    assert sms.references[0] in pushed and len(sms.sends) == 1 and len(patient.pushes()) == 1
    assert play_backoffs(redis) == 0  # the event is done
    run_scheduled(redis, run_worker)  # and there is nothing left for the backstop
    assert len(sms.sends) == 1 and len(patient.pushes()) == 1


def test_the_backstop_tells_the_patient_when_the_turn_died(patient, sms, redis, run_worker, services, clock):
    """A worker killed after the turn wrote its request and before it called the provider: the
    backstop job, due BACKSTOP_SECONDS later, sends the code once and pushes the reference."""
    from bot.phone import normalize_thai_mobile
    from bot.verification import AWAIT_CODE, SendCode, VerificationState

    feature = next(f for f in services.conversation_features if isinstance(f, VerificationFeature))
    with redis.pipeline(transaction=True) as pipe:  # the turn's first transaction, and then nothing
        pipe.multi()
        feature.store.save_state(USER, VerificationState(AWAIT_CODE, PHONE, "a" * 32, clock(), pending="send"), pipe)
        feature._prepare(pipe, USER, SendCode("a" * 32, normalize_thai_mobile(PHONE)))
        pipe.execute()
    assert ScheduledJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE)).get_job_ids() == ["otp-send-" + "a" * 32]
    run_scheduled(redis, run_worker)
    [told] = patient.news()
    assert len(sms.sends) == 1 and sms.references[0] in told
    run_scheduled(redis, run_worker)
    assert len(sms.sends) == 1 and len(patient.pushes()) == 1


@pytest.mark.parametrize("status", [502, 503, 504, 500])
def test_a_gateway_error_or_a_bare_5xx_is_uncertain_and_never_repeated(patient, sms, rsps, redis, clock, provider,
                                                                       status):
    url = f"{SEP}/otp/send" if provider == "sepsms" else f"{TBS}/sms"
    rsps.replace("POST", url, status=status, body="<html>Bad Gateway</html>")
    [uncertain] = code_sent(patient, sms)
    assert "ไม่แน่ใจ" in uncertain
    queue = get_queue(redis, DEFAULT_QUEUE)
    assert len(ScheduledJobRegistry(queue=queue)) == 0 and FailedJobRegistry(queue=queue).count == 0


def test_a_send_without_an_answer_is_never_repeated(patient, sms, redis, run_worker, clock):
    sms.fail_next_send = requests.ReadTimeout("read timed out")
    [uncertain] = code_sent(patient, sms)
    assert "ไม่แน่ใจ" in uncertain
    assert len(sms.sends) == 1
    queue = get_queue(redis, DEFAULT_QUEUE)
    assert len(ScheduledJobRegistry(queue=queue)) == 0 and FailedJobRegistry(queue=queue).count == 0


def test_a_refused_send_is_retried_then_told(patient, sms, rsps, redis, run_worker, clock, provider):
    url = f"{SEP}/otp/send" if provider == "sepsms" else f"{TBS}/sms"
    # The provider's own error body: it says it sent nothing, so a retry is safe.
    body = ({"success": False, "error": {"code": "server.error", "message": "try again"}} if provider == "sepsms"
            else {"error": {"code": 500, "name": "ERROR_INTERNAL", "description": "try again"}})
    rsps.replace("POST", url, status=500, json=body)
    [sending] = code_sent(patient, sms)
    assert "กำลังส่ง" in sending  # tried in the turn; the job tries again
    for _ in range(4):
        run_scheduled(redis, run_worker)
    assert "ส่ง SMS ไม่สำเร็จ" in patient.news()[0]
    # The turn's try, the job's and its three retries: the provider said each time it sent nothing.
    assert len(sms.sends) == 5


def test_out_of_credit_is_told_and_logged_for_the_operator(patient, sms, rsps, redis, clock, provider, caplog):
    if provider == "sepsms":
        rsps.replace("POST", f"{SEP}/otp/send", status=402,
                     json={"success": False, "error": {"code": "credit.insufficient", "message": "no credit"}})
    else:
        rsps.replace("POST", f"{TBS}/sms", status=423,
                     json={"error": {"code": 116, "name": "ERROR_INSUFFICIENT_CREDIT", "description": "x"}})
    [told] = code_sent(patient, sms)
    assert "ส่ง SMS ไม่สำเร็จ" in told
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert provider in error.getMessage() and "cannot go out" in error.getMessage()
    assert len(ScheduledJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE))) == 0


@pytest.mark.parametrize("provider", ["thaibulksms"])
def test_a_number_thaibulksms_refuses_is_told_as_such(patient, rsps, redis, clock):
    rsps.replace("POST", f"{TBS}/sms", json={"remaining_credit": 1, "total_use_credit": 0, "phone_number_list": [],
                                             "bad_phone_number_list": [{"number": MSISDN, "message": "bad"}]})
    [told] = code_sent(patient, None)
    assert "ไม่สามารถส่ง SMS ไปยังเบอร์นี้" in told
    assert FailedJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE)).count == 0


# -- without SMS settings ---------------------------------------------------------------------------

def test_without_sms_settings_the_knowledge_base_answers(redis_server, line_stub, redis, jobs_here, run_worker):
    from handlers.app import create_app
    from tests.support import LineWebhook
    from workers.services import Services

    settings = make_settings(redis_server, line_stub)
    assert settings.missing_for("sms")
    services = jobs_here(Services(settings, redis_connection=redis))
    assert not [f for f in services.conversation_features if isinstance(f, VerificationFeature)]
    patient = Patient(LineWebhook(create_app(settings, services=services).test_client()), run_worker, line_stub)
    assert patient.say("ยืนยันตัวตน") == [m["text"] for m in services.dialog.answer_topic("verify").messages]


# -- with LiveDesk: a private note for staff ----------------------------------------------------------

LIVEDESK = "https://livedesk.test"
LIVEDESK_SETTINGS = dict(livedesk_api_key="ld-test-key", livedesk_api_secret="ld-test-secret",
                         livedesk_base_url=LIVEDESK, livedesk_inbox_id=7, livedesk_webhook_token="ld-hook-token-for-tests-0123456789ab")


@pytest.fixture
def with_livedesk(redis_server, line_stub, redis, jobs_here, run_worker, rsps, provider):
    """Handoff configured too (LiveDesk mirror and Oho): (patient, sms, services)."""
    from handlers.app import create_app
    from tests.support import LineWebhook
    from workers.services import Services

    settings = make_settings(redis_server, line_stub, sms_provider=provider, **SMS_SETTINGS, **LIVEDESK_SETTINGS)
    line_stub.expect_request(f"/v2/bot/profile/{USER}").respond_with_json({"userId": USER, "displayName": "S."})
    line_stub.expect_request("/v2/bot/info").respond_with_json(
        {"userId": BOT_ID, "basicId": "@000test", "displayName": "Test Hospital", "chatMode": "bot",
         "markAsReadMode": "auto"})
    rsps.post(f"{LIVEDESK}/api/v2/accounts/contacts", json={"payload": {"contact": {"id": 11}}})
    rsps.post(f"{LIVEDESK}/api/v2/accounts/conversations", json={"id": 22})
    rsps.post(f"{LIVEDESK}/api/v2/accounts/conversations/22/messages", json={"id": 33})
    rsps.post(f"{OHO}/contact", json={"ok": True, "status_code": 200, "message": "ok"})
    rsps.post(re.compile(f"{OHO}/chat/.*"), json={"ok": True, "status_code": 200, "message": "ok"})
    services = jobs_here(Services(settings, redis_connection=redis))
    patient = Patient(LineWebhook(create_app(settings, services=services).test_client()), run_worker, line_stub)
    return patient, SmsStub(rsps, provider), services


@pytest.mark.parametrize("provider", ["sepsms"])
def test_staff_get_a_private_note_in_livedesk(with_livedesk, rsps, redis):
    patient, sms, _ = with_livedesk
    code_sent(patient, sms)
    assert "สำเร็จ" in patient.say(sms.code)[0]
    posts = [json.loads(c.request.body) for c in rsps.calls if c.request.url.endswith("/22/messages")]
    [note] = [p["content"] for p in posts if p.get("private") and "ยืนยันเบอร์" in p["content"]]
    assert "5678" in note and "0812345678" not in note
    for typed in ("081-234-5678", sms.code):  # what the patient typed never reaches LiveDesk
        assert all(typed not in p["content"] for p in posts)


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_handoff_taking_over_ends_the_flow(with_livedesk, redis):
    patient, sms, services = with_livedesk
    code_sent(patient, sms)
    assert verification_in_progress(redis, USER)
    told = patient.say("เจ็บหน้าอก")
    assert told[0] == services.dialog.answer_emergency().messages[0]["text"]  # 1669 first, always
    assert not verification_in_progress(redis, USER)


class CrashOnce:
    """A first conversation feature that fails the first time a turn ends: a worker killed between
    deciding a turn and mirroring it, so the turn runs again."""

    def __init__(self):
        self.crashed = False

    def on_turn(self, turn, proposed, reads):
        return None

    def after_send(self, turn, proposed, sent, reads):
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("worker killed")


@pytest.mark.parametrize("provider", ["sepsms"])
def test_a_retried_code_turn_stays_hidden_from_livedesk(with_livedesk, rsps, redis, line_stub):
    from tests.support import text_event
    from workers.line.events import LineEventHandler

    patient, sms, services = with_livedesk
    code_sent(patient, sms)
    handler = LineEventHandler(services.dialog, services.line, redis, [CrashOnce(), *services.conversation_features],
                               prefix="")
    event = text_event(sms.code, user=USER)
    with pytest.raises(RuntimeError):
        handler.handle(event)
    patient.run_worker()  # the check job verifies: the verification is no longer in progress
    assert verified_phone(redis, USER) == PHONE
    handler.handle(event)  # the retried turn
    patient.run_worker()
    posts = [json.loads(c.request.body) for c in rsps.calls if c.request.url.endswith("/22/messages")]
    assert any("hidden: identity verification" in p["content"] for p in posts)
    assert all(sms.code not in p["content"] for p in posts)
