"""What patients asked that the bot could not answer, counted for the hospital (``flask bot unanswered``).

Masked phrasings per Bangkok day, never a user id in what the hospital reads; each user's share is
kept apart so an erasure can take it back out. What is recorded, the keys and how long they live:
docs/architecture.md, "What the bot could not answer". Each hospital's keys start with its prefix: its
list is its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from typing import Callable

import redis as redis_lib

from bot.intents import Intent
from bot.thai_dates import BANGKOK
from bot.unanswered import phrasing
from workers import lua

log = logging.getLogger(__name__)

DAY_PREFIX = "unanswered:day:"
USER_PREFIX = "unanswered:user:"
#: A patient's contributions counted per day: one person pasting the same message all day must not
#: fill the hospital's list (the rest of the day's messages are answered, just not counted).
MAX_PER_USER_PER_DAY = 20


def day_key(day: dt.date | str, prefix: str = "") -> str:
    """The day's counts (``day``: a date, or its ISO form)."""
    return f"{prefix}{DAY_PREFIX}{day.isoformat() if isinstance(day, dt.date) else day}"


def user_key(user: str, prefix: str = "") -> str:
    return f"{prefix}{USER_PREFIX}{user}"


class UnansweredQuestions:
    """Counts the phrasings the bot could not answer, per Bangkok day; lists the most frequent."""

    def __init__(self, connection: redis_lib.Redis, keep_days: int, clock: Callable[[], float] = time.time, *,
                 prefix: str):
        """``prefix``: the hospital's."""
        self.redis = connection
        self.keep_days = keep_days
        self.clock = clock
        self.prefix = prefix

    def record(self, user: str, event_id: str, text: str) -> bool:
        """Count ``text`` (masked) as asked today by ``user``; False if it was not counted (empty once
        masked, this event counted already, the user's daily cap reached, or recording is off)."""
        said = phrasing(text)
        if not said or self.keep_days <= 0:
            return False
        now = dt.datetime.fromtimestamp(self.clock(), BANGKOK)
        today = now.date()
        # Relative TTLs from our own clock: the same answer whatever Redis's clock says.
        list_ends = dt.datetime.combine(today + dt.timedelta(days=self.keep_days), dt.time(), BANGKOK)
        list_ttl = max(1, int((list_ends - now).total_seconds()))
        oldest = today - dt.timedelta(days=self.keep_days - 1)
        args = (f"{today.isoformat()}|{event_id}", said, today.isoformat(), oldest.isoformat(), list_ttl,
                self.keep_days * 24 * 3600, MAX_PER_USER_PER_DAY)
        keys = [user_key(user, self.prefix), day_key(today, self.prefix)]
        return bool(lua.run(self.redis, "unanswered_record", keys=keys, args=args))

    def most_asked(self, days: int, limit: int) -> list[tuple[str, int]]:
        """The ``limit`` most frequent phrasings of the last ``days`` days (today included), with their
        counts, most frequent first (then alphabetically, so that the order is stable)."""
        today = dt.datetime.fromtimestamp(self.clock(), BANGKOK).date()
        pipe = self.redis.pipeline(transaction=False)
        for back in range(days):
            pipe.zrange(day_key(today - dt.timedelta(days=back), self.prefix), 0, -1, withscores=True)
        totals: Counter[str] = Counter()
        for day in pipe.execute():
            for said, count in day:
                totals[said.decode()] += int(count)
        ranked = sorted(((said, count) for said, count in totals.items() if count > 0),
                        key=lambda pair: (-pair[1], pair[0]))
        return ranked[:limit]


def forget_user(connection: redis_lib.Redis, user: str, *, prefix: str = "") -> int:
    """Take ``user``'s contributions out of the daily counts and delete their record (PDPA erasure);
    returns how many there were. A contribution recorded while this runs is taken on the next pass."""
    removed = 0
    for _ in range(3):
        fields = [field.decode() for field in connection.hkeys(user_key(user, prefix))]
        if not fields:
            break
        days = [day_key(field.split("|", 1)[0], prefix) for field in fields]
        removed += int(lua.run(connection, "unanswered_forget", keys=[user_key(user, prefix), *days], args=fields))
    return removed


class UnansweredRecorder:
    """The conversation feature that records what the bot could not answer (after the answer went out).

    Answers nothing itself. A failure to record is logged (by type: the error may quote the
    message) and never fails the turn: the patient has been answered already."""

    def __init__(self, questions: UnansweredQuestions):
        self.questions = questions

    def on_turn(self, turn, proposed, reads):
        return None

    def after_send(self, turn, proposed, sent, reads) -> None:
        if not _not_understood(turn, proposed, sent):
            return
        try:
            self.questions.record(turn.user_id, turn.event_id, turn.text)
        except Exception as exc:
            log.warning("could not record an unanswered question (%s)", type(exc).__name__)


def _not_understood(turn, proposed, sent) -> bool:
    """A patient's own 1:1 text, answered with "didn't understand" (or the staff offer standing for it)."""
    if turn.kind != "text" or not turn.one_to_one or not turn.text or sent is None:
        return False
    proposed_unknown = proposed is not None and proposed.intent == Intent.UNKNOWN
    return sent.intent == Intent.UNKNOWN or (sent.intent == Intent.HANDOFF_OFFER and proposed_unknown)
