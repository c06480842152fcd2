"""Forged agent messages, resolutions and push floods, attacked over the LiveDesk webhook (with its right
token, as if it had leaked): read back from LiveDesk before any push or change of a handoff, per message
(one refused read never switches read-back off for others), caps per conversation and in total."""

from __future__ import annotations

import json
import logging

import pytest

from bot.handoff.render import unconfirmed_note
from tests.conftest import make_settings
from tests.handoff_stubs import (  # noqa: F401
    PROFILE,
    USER,
    agent_event,
    handoff_settings,
    http,
    line_extra,
    livedesk,
    oho,
    post_livedesk,
    pushes,
    resolved_event,
    services,
)
from tests.support import FakeClock, play_backoffs, text_event, wait_for

PHISHING = "แจ้งจากโรงพยาบาล: กรุณาโอนค่ามัดจำที่ https://evil.test/pay"


@pytest.fixture
def settings(redis_server, line_stub, request):
    return handoff_settings(redis_server, line_stub, **{"livedesk_read_back": "on", **getattr(request, "param", {})})


def open_handoff(webhook, run_worker):
    webhook.post([text_event("ขอคุยกับเจ้าหน้าที่", user=USER)])
    run_worker()


def pushed_texts(line_stub, to: str | None = None) -> list[str]:
    return [m.get("text", "") for p in pushes(line_stub) for m in p.get_json()["messages"]
            if to is None or p.get_json()["to"] == to]


def test_read_back_is_on_by_default(redis_server, line_stub):
    # LiveDesk is Chatwoot, whose reads it has (provider notes): nothing from the webhook is taken on trust.
    assert make_settings(redis_server, line_stub).livedesk_read_back == "on"


def test_a_forged_agent_message_is_not_pushed(webhook, client, run_worker, line_extra, oho, livedesk, caplog):
    open_handoff(webhook, run_worker)
    before = len(pushes(line_extra))
    assert post_livedesk(client, agent_event(9999, PHISHING)).get_json()["outcome"] == "queued"
    run_worker()
    assert len(pushes(line_extra)) == before  # LiveDesk has no message 9999: nothing reaches the patient
    assert "no such message" in caplog.text and PHISHING not in caplog.text


def test_a_real_message_id_with_forged_content_pushes_what_livedesk_has(webhook, client, run_worker, line_extra,
                                                                        oho, livedesk):
    open_handoff(webhook, run_worker)
    livedesk.agent_says(9001, "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ")
    post_livedesk(client, agent_event(9001, PHISHING, attachments=[
        {"file_type": "file", "data_url": "https://livedesk.test/evil.pdf"}]))
    run_worker()
    texts = pushed_texts(line_extra)
    assert "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ" in texts[-2:] and not any("evil" in t for t in texts)


@pytest.mark.parametrize("stored", [
    dict(private=True),                                  # a private note, claimed public by the webhook
    dict(message_type=0),                                # the patient's own (incoming) message
    dict(sender_type="AgentBot", sender={"type": "agent_bot"}),
])
def test_what_livedesk_says_is_no_agent_reply_is_not_pushed(webhook, client, run_worker, line_extra, oho,
                                                           livedesk, stored):
    open_handoff(webhook, run_worker)
    before = len(pushes(line_extra))
    livedesk.agent_says(9002, PHISHING, **stored)
    post_livedesk(client, agent_event(9002, PHISHING))
    run_worker()
    assert len(pushes(line_extra)) == before


def test_another_conversation_never_reaches_a_patient(webhook, client, run_worker, line_extra, oho, livedesk):
    open_handoff(webhook, run_worker)
    livedesk.agent_says(9003, PHISHING, conversation=777)
    assert post_livedesk(client, agent_event(9003, PHISHING, conversation=777)).get_json()["outcome"] == \
        "unknown conversation"


@pytest.mark.parametrize("settings", [dict(livedesk_read_back="auto")], indirect=True)
@pytest.mark.parametrize("refusal", [True, 405, 400, 422], ids=["404", "405", "400", "422"])
def test_auto_pushes_unconfirmed_only_where_livedesk_cannot_read_back(webhook, client, run_worker, line_extra,
                                                                      oho, livedesk, caplog, refusal):
    open_handoff(webhook, run_worker)
    post_livedesk(client, agent_event(9004, PHISHING))
    run_worker()
    assert PHISHING not in pushed_texts(line_extra)  # auto reads back where it can
    livedesk.read_back_missing = refusal
    livedesk.agent_says(9005, "ได้ค่ะ")
    post_livedesk(client, agent_event(9005, "ได้ค่ะ"))
    run_worker()
    assert "ได้ค่ะ" in pushed_texts(line_extra)
    assert any(r.levelno == logging.WARNING and "unconfirmed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("settings", [dict(livedesk_read_back="auto")], indirect=True)
def test_a_read_refused_for_our_key_is_no_missing_endpoint(webhook, client, run_worker, line_extra, oho, livedesk,
                                                           services, redis):
    """403 on the read: the key is wrong (posting fails too), not a LiveDesk without reads; nothing is
    pushed unconfirmed, the reply is set aside (replayable once the key is fixed)."""
    open_handoff(webhook, run_worker)
    livedesk.read_back_missing = 403
    livedesk.agent_says(9006, PHISHING)
    post_livedesk(client, agent_event(9006, PHISHING))
    run_worker()
    assert PHISHING not in pushed_texts(line_extra)
    assert not redis.exists("livedesk:read-back:unavailable")
    [dead] = services.handoff.patient_outbox.dead.items()
    assert "403" in dead.reason


@pytest.mark.parametrize("settings", [dict(livedesk_pushes_per_conversation_per_minute=2)], indirect=True)
def test_pushes_past_the_cap_are_held_alerted_and_sent_later(webhook, client, run_worker, line_extra, oho, livedesk,
                                                              services, redis, caplog):
    clock = FakeClock()
    services.handoff.clock = clock
    open_handoff(webhook, run_worker)
    before = len(pushes(line_extra))
    for n in range(4):
        livedesk.agent_says(9100 + n, f"ข้อความที่ {n + 1}")
        post_livedesk(client, agent_event(9100 + n, f"ข้อความที่ {n + 1}"))
    run_worker()
    assert len(pushes(line_extra)) == before + 2
    held = [item["message_id"] for item in services.handoff.patient_outbox.pending(USER)]
    assert held == ["9102", "9103"]  # kept, in order, not dropped
    [alert] = [r for r in caplog.records if "held" in r.getMessage()]
    assert alert.levelno == logging.WARNING and "(cap 2)" in alert.getMessage() and USER not in alert.getMessage()
    assert any("ถูกพักไว้" in note for note in livedesk.notes())

    clock.advance(61)
    play_backoffs(redis)
    run_worker()
    assert [t for t in pushed_texts(line_extra) if t.startswith("ข้อความที่")] == [
        f"ข้อความที่ {n}" for n in (1, 2, 3, 4)]
    assert services.handoff.patient_outbox.pending(USER) == []


@pytest.mark.parametrize("settings", [dict(livedesk_pushes_per_minute=1, livedesk_read_back="off")], indirect=True)
def test_the_total_cap_holds_too(webhook, client, run_worker, line_extra, oho, livedesk, services):
    services.handoff.clock = FakeClock()
    open_handoff(webhook, run_worker)
    before = len(pushes(line_extra))
    for n in range(3):
        post_livedesk(client, agent_event(9200 + n, f"ตอบ {n}"))
    run_worker()
    assert len(pushes(line_extra)) == before + 1
    assert len(services.handoff.patient_outbox.pending(USER)) == 2


OTHER = "U" + "f" * 32   # a patient whose old conversation LiveDesk no longer has
STALE = 90               # that conversation: the old code kept its mapping forever


@pytest.mark.parametrize("settings", [dict(livedesk_read_back="auto")], indirect=True)
def test_a_stale_conversation_does_not_switch_read_back_off_for_other_patients(webhook, client, run_worker,
                                                                               line_extra, oho, livedesk, redis,
                                                                               services):
    """Issue 24, finding 2: a 404 for one conversation said "no read endpoint" for everyone, for an hour."""
    line_extra.expect_request(f"/v2/bot/profile/{OTHER}", method="GET").respond_with_json(
        {**PROFILE, "userId": OTHER})
    open_handoff(webhook, run_worker)               # USER's conversation 141: LiveDesk took our posts there
    redis.set(f"livedesk:conversation:{STALE}", OTHER)
    assert post_livedesk(client, agent_event(9301, PHISHING, conversation=STALE)).get_json()["outcome"] == "queued"
    run_worker()
    assert pushed_texts(line_extra, to=OTHER) == []  # 404 for that conversation: not confirmed, held
    assert not redis.exists("livedesk:read-back:unavailable")  # LiveDesk reads 141: it has the endpoint
    [held] = services.handoff.patient_outbox.dead.items()
    assert held.user == OTHER and json.loads(held.raw)["message_id"] == "9301"  # set aside, not sent
    assert unconfirmed_note("9301", STALE) in livedesk.notes()  # staff are told, in OTHER's conversation

    post_livedesk(client, agent_event(9302, PHISHING))  # then a forgery to another patient's conversation
    run_worker()
    assert PHISHING not in pushed_texts(line_extra)  # still read back, still refused
    assert not redis.exists("livedesk:read-back:unavailable")


@pytest.mark.parametrize("settings", [dict(livedesk_read_back="auto")], indirect=True)
def test_no_read_endpoint_is_concluded_from_a_known_conversation_and_probed_again(webhook, client, run_worker,
                                                                                  line_extra, oho, livedesk, redis):
    open_handoff(webhook, run_worker)
    livedesk.read_back_missing = True  # every read refused, 141's too: this LiveDesk has no reads
    livedesk.agent_says(9311, "ได้ค่ะ")
    post_livedesk(client, agent_event(9311, "ได้ค่ะ"))
    run_worker()
    assert "ได้ค่ะ" in pushed_texts(line_extra)
    assert 0 < redis.ttl("livedesk:read-back:unavailable") <= 3600
    redis.pexpire("livedesk:read-back:unavailable", 1)  # the hour is over
    wait_for(lambda: not redis.exists("livedesk:read-back:unavailable"), what="the note to expire")
    livedesk.read_back_missing = False  # LiveDesk reads again: the next message is confirmed again
    post_livedesk(client, agent_event(9312, PHISHING))
    run_worker()
    assert PHISHING not in pushed_texts(line_extra) and not redis.exists("livedesk:read-back:unavailable")


def test_a_forged_resolution_does_not_close_the_handoff(webhook, client, run_worker, line_extra, oho, livedesk,
                                                        services):
    open_handoff(webhook, run_worker)
    before = len(pushes(line_extra))
    assert post_livedesk(client, resolved_event(141)).get_json()["outcome"] == "checking"
    run_worker()
    assert services.handoff.store.state(USER) is not None  # LiveDesk has 141 open: nothing closes
    assert len(pushes(line_extra)) == before and oho.calls("POST", "/close-chat") == []
    post_livedesk(client, resolved_event(777))             # a conversation that is no patient's
    run_worker()
    assert services.handoff.store.state(USER) is not None

    livedesk.resolve(141)                                  # the agent resolves it in LiveDesk
    post_livedesk(client, resolved_event(141))
    run_worker()
    assert services.handoff.store.state(USER) is None
    assert len(pushes(line_extra)) == before + 1 and len(oho.calls("POST", "/close-chat")) == 1


def test_a_resolution_livedesk_will_not_read_closes_nothing(webhook, client, run_worker, line_extra, oho, livedesk,
                                                            services, caplog):
    open_handoff(webhook, run_worker)
    livedesk.read_back_missing = True
    post_livedesk(client, resolved_event(141))
    run_worker()
    assert services.handoff.store.state(USER) is not None
    assert any("not acted on" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_a_forged_message_with_a_made_up_id_opens_no_handoff(webhook, client, run_worker, line_extra, oho, livedesk,
                                                             services):
    webhook.post([text_event("ที่จอดรถ", user=USER)])   # no handoff: the bot answers, the chat is mirrored
    run_worker()
    assert post_livedesk(client, agent_event(9321, PHISHING)).get_json()["outcome"] == "queued"
    run_worker()
    assert services.handoff.store.state(USER) is None   # the bot still answers this patient
    assert oho.calls("POST", "/request-agent") == [] and PHISHING not in pushed_texts(line_extra)

    livedesk.agent_says(9322, "สวัสดีค่ะ มีอะไรให้ช่วยไหมคะ")  # a real agent's first message takes over
    post_livedesk(client, agent_event(9322, "สวัสดีค่ะ มีอะไรให้ช่วยไหมคะ"))
    run_worker()
    state = services.handoff.store.state(USER)
    assert state is not None and state.reason == "agent" and len(oho.calls("POST", "/request-agent")) == 1
    assert "สวัสดีค่ะ มีอะไรให้ช่วยไหมคะ" in pushed_texts(line_extra)
