"""The handoff state as stored in a Redis hash, and the deadlines derived from it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot.handoff.hours import parse_business_hours
from bot.handoff.state import AgentMessage, HandoffState, idle_deadline, no_agent_due
from bot.thai_dates import BANGKOK

HOURS = parse_business_hours("Mon-Fri 08:00-16:00")


def bkk(day: int, hour: int, minute: int = 0) -> float:
    """January 2026 in Bangkok: the 9th is a Friday, the 12th a Monday."""
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=BANGKOK).timestamp()


def test_a_new_state_has_no_agent_no_notice_and_is_not_urgent():
    state = HandoffState(session="ev1", reason="asked", since=100.0)
    assert dataclasses.astuple(state) == ("ev1", "asked", 100.0, False, 0.0, False, False, 0.0, "")


def test_fields_are_strings_with_booleans_as_one_and_zero():
    state = HandoffState(session="ev1", reason="emergency", since=1.5, urgent=True, last_agent=0.0,
                         agent_answered=False, no_agent_notice_sent=True, last_notice=7.25, notice_event="ev9")
    assert state.to_fields() == {
        "session": "ev1", "reason": "emergency", "since": "1.5", "urgent": "1", "last_agent": "0.0",
        "agent_answered": "0", "no_agent_notice_sent": "1", "last_notice": "7.25", "notice_event": "ev9",
    }


def test_fields_read_back_from_bytes_or_strings():
    state = HandoffState(session="ev1", reason="asked", since=2.0, urgent=True, last_agent=3.5,
                         agent_answered=True, no_agent_notice_sent=False, last_notice=4.0, notice_event="ev2")
    as_bytes = {k.encode(): v.encode() for k, v in state.to_fields().items()}
    assert HandoffState.from_fields(as_bytes) == state
    assert HandoffState.from_fields(state.to_fields()) == state


def test_missing_fields_take_their_defaults_and_unknown_ones_are_ignored():
    state = HandoffState.from_fields({b"session": b"ev1", b"reason": b"asked", b"since": b"5", b"gone": b"x"})
    assert state == HandoffState(session="ev1", reason="asked", since=5.0)
    assert type(state.since) is float
    gap = HandoffState.from_fields({"session": "ev1", "reason": "asked", "since": "5", "notice_event": "ev3"})
    assert gap == HandoffState(session="ev1", reason="asked", since=5.0, notice_event="ev3")  # read past a gap


@pytest.mark.parametrize("value, read", [("1", True), ("0", False), ("True", False), ("", False)])
def test_only_one_is_true(value, read):
    assert HandoffState.from_fields({"session": "s", "reason": "r", "since": "1", "urgent": value}).urgent is read


@pytest.mark.parametrize("raw", [{}, {b"session": b""}, {"reason": "asked", "since": "1"}])
def test_no_session_means_no_open_handoff(raw):
    assert HandoffState.from_fields(raw) is None


@pytest.mark.parametrize("since, last_agent, last_notice, quiet", [
    (10.0, 0.0, 0.0, 10.0), (10.0, 20.0, 15.0, 20.0), (10.0, 15.0, 30.0, 30.0), (40.0, 20.0, 30.0, 40.0),
])
def test_quiet_since_is_the_latest_word_to_the_patient(since, last_agent, last_notice, quiet):
    state = HandoffState(session="s", reason="r", since=since, last_agent=last_agent, last_notice=last_notice)
    assert state.quiet_since == quiet


def test_no_agent_notice_counts_opening_minutes_after_the_request():
    assert no_agent_due(bkk(9, 10), HOURS, 10) == bkk(9, 10, 10)
    assert no_agent_due(bkk(9, 15, 55), HOURS, 10) == bkk(12, 8, 5)  # five minutes Friday, five Monday


def test_idle_deadline_runs_from_the_later_of_opening_and_the_agents_last_message():
    opened_later = HandoffState(session="s", reason="r", since=bkk(9, 11), last_agent=bkk(9, 10))
    assert idle_deadline(opened_later, HOURS, 30) == bkk(9, 11, 30)
    answered_later = HandoffState(session="s", reason="r", since=bkk(9, 10), last_agent=bkk(9, 11))
    assert idle_deadline(answered_later, HOURS, 30) == bkk(9, 11, 30)
    # The bot's own notices do not keep the chat open.
    noticed = HandoffState(session="s", reason="r", since=bkk(9, 10), last_notice=bkk(9, 12))
    assert idle_deadline(noticed, HOURS, 30) == bkk(9, 10, 30)


def test_an_agent_message_has_no_attachments_unless_given_and_is_frozen():
    message = AgentMessage(id=1, conversation_id=2, content="สวัสดีค่ะ")
    assert message.attachments == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "x"
