"""What the handoff keeps out of LiveDesk and Redis keys: codes typed during verification, message texts in keys."""

from __future__ import annotations

import hashlib

from bot.verification import VerificationState
from tests.handoff_stubs import USER, services, settings  # noqa: F401
from tests.support import text_event
from workers.handoff.feature import REDACTED
from workers.handoff.store import HandoffStore, mirror_outbox
from bot.turn import Turn
from workers.line.events import TurnReads
from workers.verification.store import VerificationStore


def test_in_flight_markers_are_named_by_a_keyed_hmac_not_a_plain_hash(services, redis):
    store = services.build_handoff().store
    store.mark_in_flight(141, "482913")
    [key] = [k.decode() for k in redis.keys("livedesk:in-flight:*")]
    for plain in ("482913", "141:482913"):
        assert hashlib.sha256(plain.encode()).hexdigest()[:32] not in key  # a 6-digit code is guessable
    assert store.in_flight(141, "482913") and not store.in_flight(141, "482914")
    assert not HandoffStore(redis, b"another-key").in_flight(141, "482913")
    store.clear_in_flight(141, "482913")
    assert not store.in_flight(141, "482913")


def turn(services, text: str) -> tuple[Turn, object, TurnReads]:
    """A text turn as the features get it: the turn, the knowledge base's answer, a fresh record of reads."""
    return Turn.parse(text_event(text, user=USER)), services.dialog.on_text(text), TurnReads()


def mirrored_texts(redis) -> list[str]:
    return [item.get("text") for item in mirror_outbox(redis).pending(USER) if item.get("direction") == "incoming"]


def test_what_was_typed_during_verification_stays_hidden_when_verification_ends_in_that_turn(services, redis):
    """The check job may finish (or the flow end) before ``after_send``: the decision is the turn's start."""
    [feature, *_] = services.conversation_features
    verification = VerificationStore(redis, prefix="")
    verification.save_state(USER, VerificationState(step="code", phone="0812345678"))
    code = turn(services, "482913")
    feature.on_turn(*code)
    verification.save_state(USER, VerificationState())  # verified meanwhile: the flow is over
    feature.after_send(code[0], code[1], None, code[2])
    assert mirrored_texts(redis) == [REDACTED]


def test_what_was_typed_before_verification_started_is_mirrored(services, redis):
    [feature, *_] = services.conversation_features
    question = turn(services, "ยืนยันตัวตนยังไงคะ")
    feature.on_turn(*question)
    VerificationStore(redis, prefix="").save_state(USER, VerificationState(step="phone"))  # this turn started the flow
    feature.after_send(question[0], question[1], None, question[2])
    assert mirrored_texts(redis) == ["ยืนยันตัวตนยังไงคะ"]
