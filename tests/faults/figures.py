"""One line of figures per scenario: what was sent, answered once, twice, set aside, out of order, and how fast."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis as redis_lib

from tests.faults.line_stub import LineCall, LineStub
from tests.faults.webhooks import SentEvent


@dataclass
class Figures:
    scenario: str
    sent: int
    delivered: int                 # got a 2xx from the webhook
    answered: int                  # delivered events with at least one accepted answer
    twice: int                     # answered more than once
    set_aside: int                 # entries in the dead list
    unanswered: int
    out_of_order: int              # patients whose answers came out of order
    first_to_last: float | None    # first message sent -> last first-answer accepted (s); "-" while any is unanswered
    recover: float | None          # end of the fault -> last first-answer accepted (s); likewise
    notes: str = ""

    def line(self) -> str:
        def secs(v):
            return "-" if v is None else f"{v:.1f}s"
        return (f"{self.scenario}: sent={self.sent} delivered={self.delivered} answered={self.answered} "
                f"twice={self.twice} set_aside={self.set_aside} unanswered={self.unanswered} "
                f"out_of_order={self.out_of_order} first_to_last={secs(self.first_to_last)} "
                f"recover={secs(self.recover)}{(' ' + self.notes) if self.notes else ''}")


def answers_by_event(events: list[SentEvent], line: LineStub,
                     retry_key: Callable[[str], str]) -> dict[str, list[LineCall]]:
    """Accepted LINE calls per event: a reply with its reply token, or a push with its answer's retry key."""
    by_token = {e.reply_token: e.id for e in events}
    by_key = {retry_key(e.id): e.id for e in events}
    found: dict[str, list[LineCall]] = {e.id: [] for e in events}
    for call in line.accepted():
        eid = by_token.get(call.reply_token) if call.kind == "reply" else by_key.get(call.retry_key)
        if eid is not None:
            found[eid].append(call)
    return found


def figures(scenario: str, events: list[SentEvent], line: LineStub, connection: redis_lib.Redis,
            dead_key: str, retry_key: Callable[[str], str], fault_end: float | None = None,
            notes: str = "") -> tuple[Figures, dict[str, list[LineCall]]]:
    answers = answers_by_event(events, line, retry_key)
    delivered = [e for e in events if e.delivered_at is not None]
    answered = [e for e in delivered if answers[e.id]]
    firsts = [min(c.at for c in answers[e.id]) for e in answered]
    out_of_order = 0
    for patient in {e.patient for e in events}:
        mine = sorted((e for e in answered if e.patient == patient), key=lambda e: e.number)
        order = [min(c.seq for c in answers[e.id]) for e in mine]
        out_of_order += order != sorted(order)
    start = min((e.sent_at for e in events if e.sent_at), default=None)
    last = max(firsts, default=None) if len(answered) == len(delivered) else None
    try:
        set_aside = connection.llen(dead_key)
    except redis_lib.RedisError:
        set_aside = -1
    return Figures(
        scenario=scenario, sent=len(events), delivered=len(delivered), answered=len(answered),
        twice=sum(1 for e in events if len(answers[e.id]) > 1), set_aside=set_aside,
        unanswered=len(delivered) - len(answered), out_of_order=out_of_order,
        first_to_last=(last - start) if last is not None and start is not None else None,
        recover=(last - fault_end) if last is not None and fault_end is not None else None,
        notes=notes,
    ), answers
