"""The words of a send or a check: what the patient is told about a request (``Outcome``), that the
provider's pace holds a send (``SendLater``), and the clocks both run on (the backstop, the pace's
limit, the jobs' retries; the turn's own is ``turn_budget.py``). Used by ``service.py`` and ``feature.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rq import Retry

from integrations.errors import ProviderError, outcome_unknown

#: The longest a provider call can take (``integrations/http.py``: 3 s connect and 15 s read,
#: connects retried twice): a claim younger than this may belong to a call still under way.
CALL_SECONDS = 25
#: When the backstop job runs: past any call under way, so it never races one.
BACKSTOP_SECONDS = 60
#: A send held for the provider's pace longer than this after the patient asked is given up:
#: the patient is told to try later or talk to staff instead of waiting on and on.
MAX_PACED_WAIT = 180
#: One attempt at a time tells an outcome (``VerificationStore.claim_telling``); one that held it
#: this long died: longer than a LINE push (LINE_TIMEOUT_SECONDS, 10 s by default) with room.
TELLING_LEASE = 30
SEND_RETRY = Retry(max=3, interval=[10, 20, 40])  # past SEPSMS's 1-minute OTP window
CHECK_RETRY = Retry(max=2, interval=[3, 10])


@dataclass(frozen=True)
class Outcome:
    """What to tell the patient about one request: as the turn's reply, or pushed with ``key``.

    ``final``: the send's outcome (sent, failed, unsure); not final: "on its way", more follows.
    ``attempt``: the typed code this answers (dropped once told), for a check.
    """

    user: str
    request_id: str
    message: dict
    key: tuple[str, ...]
    final: bool = True
    attempt: int | None = None


class SendLater(Exception):
    """Nothing was sent: the provider's pace (ours or its 429) says not before ``wait`` seconds."""

    def __init__(self, wait: float):
        super().__init__(f"not before {wait:.0f} s")
        self.wait = wait


def after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=max(0.0, seconds))


def maybe_sent(exc: ProviderError) -> bool:
    """Whether the SMS may have gone out despite the error (``outcome_unknown``): then no resend."""
    if exc.code == "local_rate_limit":
        return False  # stopped by our own budget, before any call
    return outcome_unknown(exc)

