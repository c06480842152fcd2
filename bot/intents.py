"""The names the features agree on: what an answer is about (``Intent``) and what a button asks for
(``Action``, the ``action=`` of LINE postback data). Knowledge-base topics are intents too (their ids
in ``bot/data/knowledge.yaml``); these are the ones code branches on.

Both are ``StrEnum``: they compare equal to the plain strings stored in Redis and sent by LINE.
"""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    EMERGENCY = "emergency"
    SELF_HARM = "self_harm"          # the optional answer put before the 1669 one
    NOT_EMERGENCY = "not_emergency"  # the patient says an emergency answer was a false alarm
    OTHER_LANGUAGE = "other_language"  # written in Myanmar, Khmer or Lao script
    STAFF = "staff"
    VERIFY = "verify"
    UNKNOWN = "unknown"
    NON_TEXT = "non_text"
    # answers of the handoff feature
    HANDOFF_STARTED = "handoff_started"
    HANDOFF_WAITING = "handoff_waiting"
    HANDOFF_OPEN = "handoff_open"
    HANDOFF_OFFER = "handoff_offer"
    HANDOFF_DECLINED = "handoff_declined"
    HANDOFF_CLOSED = "handoff_closed"


class Action(StrEnum):
    TOPIC = "topic"                  # action=topic&id=<topic>: show that topic
    HANDOFF = "handoff"              # talk to staff (from=unknown: accepted after the bot's offer)
    HANDOFF_DECLINE = "handoff_decline"
    HANDOFF_END = "handoff_end"
    VERIFY = "verify"
    VERIFY_RESEND = "verify-resend"
    CANCEL = "cancel"                # with flow=verify
    NOT_EMERGENCY = "not_emergency"  # the "not an emergency" button under every emergency answer
