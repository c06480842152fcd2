"""The handoff state of one patient, and the deadlines derived from it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from bot.handoff.hours import BusinessHours
from bot.thai_dates import BANGKOK


@dataclass
class HandoffState:
    """An open handoff of one LINE user (absent = the bot answers). Times are epoch seconds."""

    session: str                 # the id of the event (or agent message) that opened it
    reason: str                  # a key of REASONS
    since: float
    urgent: bool = False
    last_agent: float = 0.0      # an agent's last message to the patient
    agent_answered: bool = False
    no_agent_notice_sent: bool = False
    last_notice: float = 0.0     # the bot's last "staff will answer" notice during the handoff
    notice_event: str = ""       # the patient's event that notice answered (a retried turn answers the same)

    def to_fields(self) -> dict[str, str]:
        """The Redis hash fields."""
        return {k: str(int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> "HandoffState | None":
        """Read a Redis hash (bytes or str); None when there is no open handoff. Unknown fields are ignored."""
        values = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in raw.items()}
        if not values.get("session"):
            return None
        kwargs: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            kwargs[field.name] = (value == "1" if field.type == "bool" else
                                  float(value) if field.type == "float" else value)
        return cls(**kwargs)

    @property
    def quiet_since(self) -> float:
        """Since when the patient has heard nothing from staff or from the bot's notices."""
        return max(self.since, self.last_agent, self.last_notice)


def no_agent_due(since: float, hours: BusinessHours, minutes: int) -> float:
    """When to tell a waiting patient that no one has answered yet: ``minutes`` of opening time
    after the request (a request made at night waits for the opening, not ten minutes)."""
    return hours.open_time_after(dt.datetime.fromtimestamp(since, BANGKOK), minutes).timestamp()


def idle_deadline(state: HandoffState, hours: BusinessHours, minutes: int) -> float:
    """When an open handoff closes for want of an agent: ``minutes`` of opening time after the
    agent's last message (or the opening of the handoff, if no agent has written yet).

    Only agents' messages count: a patient writing into a chat nobody answers must not
    keep it open (and the bot silent) forever. Nights and weekends do not count either.
    """
    start = max(state.since, state.last_agent)
    return hours.open_time_after(dt.datetime.fromtimestamp(start, BANGKOK), minutes).timestamp()


@dataclass(frozen=True)
class AgentMessage:
    """An agent's reply in LiveDesk, as the webhook parsed it (already checked for shape)."""

    id: int
    conversation_id: int
    content: str
    attachments: tuple[Mapping[str, str], ...] = ()

