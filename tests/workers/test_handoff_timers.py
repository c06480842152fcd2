"""Handoff over time, on a clock the tests move: business hours, the reminder of the way back while the bot
is quiet, and the idle close that counts agents' silence (not the patient's messages)."""

from __future__ import annotations

import datetime as dt

import pytest
from rq.registry import ScheduledJobRegistry

from bot.handoff.messages import END_CHAT_QUICK_REPLY, HANDOFF_POSTBACK
from bot.handoff.state import AgentMessage
from bot.thai_dates import BANGKOK
from tests.handoff_stubs import (  # noqa: F401
    USER,
    Clock,
    handler_at,
    handoff_settings,
    http,
    line_extra,
    livedesk,
    oho,
    pushes,
    replies,
    scheduled,
    services,
)
from tests.support import text_event
from workers.queues import get_queue


@pytest.fixture
def settings(redis_server, line_stub):
    return handoff_settings(redis_server, line_stub, business_hours="Mon-Fri 08:00-16:00")


def bkk(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """January 2026 in Bangkok: the 7th is a Wednesday, the 9th a Friday, the 12th a Monday."""
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=BANGKOK)


def due_at(redis, func: str) -> list[dt.datetime]:
    registry = ScheduledJobRegistry(queue=get_queue(redis))
    return [registry.get_scheduled_time(job).astimezone(BANGKOK) for job in scheduled(redis, func)]


class Patient:
    """Sends the patient's LINE events through the real event handler and reads what LINE got."""

    def __init__(self, handler, line_stub):
        self.handler, self.line_stub = handler, line_stub

    def say(self, text: str) -> dict:
        event = text_event(text, user=USER)
        self.handler.handle(event)
        return event

    def press(self, data: str) -> dict:
        event = text_event("", user=USER, type="postback", postback={"data": data})
        del event["message"]
        self.handler.handle(event)
        return event

    def told(self) -> int:
        return len(replies(self.line_stub)) + len(pushes(self.line_stub))


def test_outside_hours_the_patient_is_told_when_and_timers_count_opening_time(services, redis, line_extra):
    clock = Clock(bkk(9, 17))  # Friday evening
    handler, _ = handler_at(services, clock)
    Patient(handler, line_extra).say("ขอคุยกับเจ้าหน้าที่")
    text = replies(line_extra)[0].get_json()["messages"][0]["text"]
    assert "ขณะนี้อยู่นอกเวลาทำการ" in text and "วันจันทร์ที่ 12 ม.ค. 2569 เวลา 08:00 น." in text
    assert due_at(redis, "workers.handoff.jobs.check_no_agent") == [bkk(12, 8, 10)]
    assert due_at(redis, "workers.handoff.jobs.check_idle") == [bkk(12, 9, 0)]


def test_while_the_bot_is_quiet_the_patient_is_reminded_of_the_way_back_now_and_then(services, redis, line_extra):
    clock = Clock(bkk(7, 10))
    handler, service = handler_at(services, clock)
    patient = Patient(handler, line_extra)
    patient.say("ขอคุยกับเจ้าหน้าที่")
    service.store.set_conversation(USER, 141)
    assert patient.told() == 1

    clock.advance(minutes=2)
    patient.say("ยังรออยู่นะคะ")
    assert patient.told() == 1  # just asked: silence

    clock.advance(minutes=9)
    reminder_event = patient.say("มีใครอยู่ไหมคะ")
    [reminder] = replies(line_extra)[-1].get_json()["messages"]
    assert "จบการสนทนา" in reminder["text"] and "1669" in reminder["text"]
    assert reminder["quickReply"] == END_CHAT_QUICK_REPLY

    sent_before = len(pushes(line_extra)) + len(replies(line_extra))
    handler.handle(reminder_event)  # the same turn retried after LINE took the answer: not sent again
    assert len(pushes(line_extra)) + len(replies(line_extra)) == sent_before

    clock.advance(minutes=1)
    patient.say("ค่ะ")
    told = patient.told()
    assert told == 2  # the first answer and the reminder; reminded a minute ago: silence

    clock.advance(minutes=1)
    assert service.on_agent_message(AgentMessage(id=9001, conversation_id=141, content="สวัสดีค่ะ")) == "queued"
    clock.advance(minutes=5)
    patient.say("ขอบคุณค่ะ")
    assert patient.told() == told  # an agent wrote five minutes ago: they are talking

    clock.advance(minutes=6)  # eleven minutes since the agent's message
    patient.say("ยังอยู่ไหมคะ")
    assert patient.told() == told + 1
    patient.press(HANDOFF_POSTBACK)  # asking for staff again is answered at once
    assert patient.told() == told + 2
    assert "จบการสนทนา" in replies(line_extra)[-1].get_json()["messages"][0]["text"]


def test_idle_close_counts_the_agents_silence_not_the_patients_messages(services, redis, run_worker, line_extra, oho,
                                                                         livedesk):
    clock = Clock(bkk(7, 10))
    handler, service = handler_at(services, clock)
    patient = Patient(handler, line_extra)
    session = patient.say("ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    service.store.set_conversation(USER, 141)
    clock.advance(minutes=10)
    service.on_agent_message(AgentMessage(id=9001, conversation_id=141, content="รับเรื่องแล้วค่ะ"))
    service.drain_to_patient(USER)  # the agent's activity counts once the message is confirmed and delivered

    clock.advance(minutes=55)
    patient.say("ยังรออยู่นะคะ")  # the patient writes into a chat nobody answers
    clock.advance(minutes=4)              # 59 minutes after the agent's last message
    service.check_idle(USER, session)
    assert service.store.state(USER) is not None
    assert bkk(7, 11, 10) in due_at(redis, "workers.handoff.jobs.check_idle")  # looks again at the deadline

    clock.advance(minutes=2)
    service.check_idle(USER, session)
    run_worker()
    assert service.store.state(USER) is None
    assert len(oho.calls("POST", "/close-chat")) == 1
    closing = pushes(line_extra)[-1].get_json()["messages"][0]["text"]
    assert "สิ้นสุดลงแล้ว" in closing


def test_idle_close_waits_for_opening_hours(services, redis, line_extra):
    clock = Clock(bkk(9, 15, 30))  # Friday, half an hour before closing
    handler, service = handler_at(services, clock)
    session = Patient(handler, line_extra).say("ขอคุยกับเจ้าหน้าที่")["webhookEventId"]
    assert due_at(redis, "workers.handoff.jobs.check_idle") == [bkk(12, 8, 30)]  # 30 min Friday + 30 min Monday
    clock.now = bkk(10, 12).timestamp()  # Saturday: nobody is expected to answer
    service.check_idle(USER, session)
    assert service.store.state(USER) is not None
