"""What Redis keeps about patients, and for how long: after a conversation with staff, a verification
and a dead-lettered event, no key without an expiry holds message text or a phone number; an
unfollow and ``flask pdpa erase`` remove what the service stores about the user."""

from __future__ import annotations

import zlib

import pytest

from tests.handoff_stubs import (  # noqa: F401
    USER,
    agent_event,
    handoff_settings,
    http,
    line_extra,
    livedesk,
    oho,
    post_livedesk,
    services,
)
from tests.support import invoke_with_worker, text_event
from tests.verification_support import SMS_SETTINGS, Patient, SmsStub

PHONE, MSISDN = "0812345678", "66812345678"
SAID = ["สวัสดีครับ ผมปวดท้องมาสามวันแล้ว", "ขอคุยกับเจ้าหน้าที่", "ผมแพ้ยาเพนิซิลลินครับ"]
AGENT = "รับทราบค่ะ พยาบาลจะโทรกลับนะคะ"
DEAD = "ข้อความนี้ส่งไม่สำเร็จ โทร 0898765432"


@pytest.fixture
def settings(redis_server, line_stub):
    sms = {k: v for k, v in SMS_SETTINGS.items() if k.startswith(("sepsms_", "otp_"))}
    return handoff_settings(redis_server, line_stub, sms_provider="sepsms", **sms)


@pytest.fixture
def sms(http):
    return SmsStub(http, "sepsms")


@pytest.fixture
def patient(webhook, run_worker, line_extra, sms, oho, livedesk):
    return Patient(webhook, run_worker, line_extra, user=USER)


def a_conversation_a_verification_and_a_dead_letter(patient, sms, client, line_stub, redis):
    patient.say("ยืนยันตัวตน")
    patient.say(PHONE)
    patient.say(sms.code)
    # LINE refuses an answer for good: the event is set aside in the dead-letter list.
    line_stub.expect_oneshot_request("/v2/bot/message/reply", method="POST").respond_with_json(
        {"message": "Invalid reply token"}, status=400)
    line_stub.expect_oneshot_request("/v2/bot/message/push", method="POST").respond_with_json(
        {"message": "The request body has 1 error(s)"}, status=400)
    patient.say(DEAD)
    assert redis.llen("line:dead-events") == 1
    for text in SAID:
        patient.say(text)
    post_livedesk(client, agent_event(9001, AGENT))
    patient.run_worker()
    assert redis.get(f"verify:phone:{USER}") is not None


def contents(redis, key: bytes) -> bytes:
    kind = redis.type(key).decode()
    if kind == "string":
        return redis.get(key) or b""
    if kind == "hash":
        return b" ".join(k + b"=" + v for k, v in redis.hgetall(key).items())
    if kind == "list":
        return b" ".join(redis.lrange(key, 0, -1))
    if kind == "set":
        return b" ".join(redis.smembers(key))
    if kind == "zset":
        return b" ".join(redis.zrange(key, 0, -1))
    if kind == "stream":
        return b" ".join(v for _, fields in redis.xrange(key) for v in fields.values())
    return key


def test_no_key_without_an_expiry_holds_patient_words_or_numbers(patient, sms, client, line_stub, redis):
    a_conversation_a_verification_and_a_dead_letter(patient, sms, client, line_stub, redis)
    secrets = [PHONE, MSISDN, "+" + MSISDN, "0898765432", AGENT, DEAD, *SAID]
    forever = [key for key in redis.scan_iter(count=1000) if redis.ttl(key) == -1]
    assert forever, "the scan must see something (RQ's queues, registries, workers)"
    leaks = {key.decode(): [s for s in secrets if s.encode() in contents(redis, key)] for key in forever}
    assert {key: found for key, found in leaks.items() if found} == {}
    # And where the words are kept, they expire.
    for key in (f"handoff:transcript:{USER}", f"verify:phone:{USER}", "line:dead-events"):
        assert redis.ttl(key) > 0, key


def test_an_unfollow_erases_the_patient(patient, sms, client, line_stub, redis, webhook):
    a_conversation_a_verification_and_a_dead_letter(patient, sms, client, line_stub, redis)
    unfollow = text_event("", user=USER, type="unfollow")
    del unfollow["message"], unfollow["replyToken"]
    webhook.post([unfollow])
    patient.run_worker()
    for key in (f"verify:phone:{USER}", f"verify:state:{USER}", f"handoff:state:{USER}",
                f"handoff:transcript:{USER}", f"oho:contact:{USER}"):
        assert not redis.exists(key), key
    assert not [k for k in redis.scan_iter("verify:request:*") if redis.hget(k, "user") == USER.encode()]
    assert 0 < redis.ttl(f"livedesk:user:{USER}")  # the staff record's ids stay a while, then expire


def job_records_naming(redis, user: str) -> dict[str, list[str]]:
    """RQ's records that carry ``user``, read as Redis has them (job hashes with their compressed data
    and failure texts, result streams): key -> the fields that name the user."""
    found: dict[str, list[str]] = {}
    for key in redis.scan_iter("rq:*", count=1000):
        kind = redis.type(key)
        if kind == b"hash":
            fields = redis.hgetall(key)
            for name, value in fields.items():
                if name in (b"data", b"exc_info"):
                    try:
                        value = zlib.decompress(value)
                    except zlib.error:
                        pass
                if user.encode() in value:
                    found.setdefault(key.decode(), []).append(name.decode())
        elif kind == b"stream" and user.encode() in contents(redis, key):
            found.setdefault(key.decode(), []).append("entries")
        elif kind in (b"list", b"zset", b"set") and user.encode() in contents(redis, key):
            found.setdefault(key.decode(), []).append("members")
    return found


def test_budget_keys_name_neither_the_user_nor_the_number(patient, sms, redis):
    """The SMS budgets and wrong-code counts outlive an unfollow and an erasure: their names are keyed
    digests, so what is kept names nobody (it once held ``verify:sends:user:<LINE user id>``)."""
    patient.say("ยืนยันตัวตน")
    patient.say(PHONE)
    patient.say("000000" if sms.code != "000000" else "111111")  # a wrong code
    patient.say(sms.code)
    assert redis.get(f"verify:phone:{USER}") is not None
    budgets = [key.decode() for pattern in ("verify:sends:*", "verify:wrong:*") for key in redis.scan_iter(pattern)]
    assert {key.split(":")[1] for key in budgets} == {"sends", "wrong"}
    assert any(":user:" in key for key in budgets) and any(":number:" in key for key in budgets)
    assert [key for key in budgets if USER in key or PHONE[1:] in key or USER[1:] in key] == []


def test_pdpa_erase_removes_everything_and_says_what(patient, sms, client, line_stub, redis, app):
    a_conversation_a_verification_and_a_dead_letter(patient, sms, client, line_stub, redis)
    before = job_records_naming(redis, USER)
    # drain_inbox(["U…"]) and the handoff's jobs, finished; the dead-lettered drain, failed; the timers, scheduled.
    assert any(key.startswith("rq:job:") and "data" in fields for key, fields in before.items())
    assert any(key.startswith("rq:job:") and "exc_info" not in fields for key, fields in before.items())
    cli = app.test_cli_runner()
    # Its handoff is open: closed first, and the drain that closing queues is waited for.
    result = invoke_with_worker(cli, patient.run_worker, ["pdpa", "erase", USER, "--yes"])
    assert result.exit_code == 0
    for what in ("verified phone number", "staff-note transcript", "LiveDesk contact mapping",
                 "set-aside LINE events (1)", "job records naming the user"):
        assert what in result.output
    assert "still queued or running" not in result.output
    assert PHONE not in result.output
    left = [key.decode() for key in redis.scan_iter() if USER.encode() in key
            and not key.startswith(b"handoff:claim:")]
    assert left == []
    assert job_records_naming(redis, USER) == {}
    assert redis.llen("line:dead-events") == 0
    assert "Nothing was stored" in cli.invoke(args=["pdpa", "erase", USER, "--yes"]).output
    assert cli.invoke(args=["pdpa", "erase", "0812345678"]).exit_code != 0


MONTH = 30 * 24 * 3600


def mappings_of(redis, user: str) -> dict[str, int]:
    """Every key that maps a LiveDesk conversation (or contact) to ``user``, with its TTL."""
    keys = [k for k in redis.scan_iter("livedesk:conversation:*") if redis.get(k) == user.encode()]
    keys += list(redis.scan_iter(f"livedesk:user:{user}"))
    return {key.decode(): redis.ttl(key) for key in keys}


def two_conversations_and_an_old_mapping(webhook, run_worker, livedesk, redis) -> None:
    """Conversation 141, replaced by 142 when LiveDesk lost it, and 77: a mapping an older version left
    without an expiry."""
    webhook.post([text_event("ที่จอดรถ", user=USER)])
    run_worker()
    livedesk.gone.add(141)
    webhook.post([text_event("ขอบคุณค่ะ", user=USER)])
    run_worker()
    assert [c["id"] for c in livedesk.conversations] == [141, 142]
    redis.set("livedesk:conversation:77", USER)


def test_livedesk_mappings_expire_with_the_patients_data(webhook, run_worker, line_extra, oho, livedesk, redis):
    """Issue 24, finding 2/5: ``livedesk:conversation:<id>`` stayed forever (a stale one later answered 404)."""
    two_conversations_and_an_old_mapping(webhook, run_worker, livedesk, redis)
    found = mappings_of(redis, USER)
    del found["livedesk:conversation:77"]
    assert set(found) == {f"livedesk:user:{USER}", "livedesk:conversation:141", "livedesk:conversation:142"}
    assert all(0 < ttl <= MONTH for ttl in found.values()), found  # the replaced 141 too: late replies, then gone


def test_an_unfollow_gives_every_mapping_an_end(webhook, run_worker, line_extra, oho, livedesk, redis):
    two_conversations_and_an_old_mapping(webhook, run_worker, livedesk, redis)
    unfollow = text_event("", user=USER, type="unfollow")
    del unfollow["message"], unfollow["replyToken"]
    webhook.post([unfollow])
    run_worker()
    found = mappings_of(redis, USER)
    assert len(found) == 4 and all(0 < ttl <= MONTH for ttl in found.values()), found


def test_pdpa_erase_removes_every_conversation_mapping(webhook, run_worker, line_extra, oho, livedesk, redis, app):
    two_conversations_and_an_old_mapping(webhook, run_worker, livedesk, redis)
    redis.set("livedesk:conversation:78", "U" + "f" * 32)  # another patient's: kept
    result = app.test_cli_runner().invoke(args=["pdpa", "erase", USER, "--yes"])
    assert result.exit_code == 0 and "LiveDesk contact mapping (4 keys)" in result.output
    assert mappings_of(redis, USER) == {}
    assert redis.get("livedesk:conversation:78") is not None
