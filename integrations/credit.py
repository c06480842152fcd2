"""The last SMS credit balance each provider told us, kept in Redis for every process.

Balances arrive for free with sends (ThaiBulkSMS API v2, "รายการ Response":
``remaining_credit``) and from the credit endpoints (``flask sms credit``). Keeping
the last one lets ``/readyz`` show a low balance without calling a provider on
every probe, and lets the warning be logged once per crossing of the threshold,
not on every send.

Redis: ``sms:credit:<provider>`` hash ``{balance, at, low}``; it expires after a
week, so a figure nobody has refreshed stops being shown as current.
``sms:credit-low:<provider>``: when the provider itself last said the credit is low
(SEPSMS's ``credit.low`` webhook event), a week too. Both after the hospital's prefix: each hospital
has its own SMS account.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Balance:
    provider: str
    balance: int
    at: float          # unix time it was reported
    low: bool          # under the threshold when it was recorded


class CreditLedger:
    """Records balances; ``threshold`` 0 turns the low-credit warning off. ``redis=None``: no-op.
    ``prefix``: the hospital's (whose SMS account it is)."""

    def __init__(self, redis, *, threshold: int = 0, clock=time.time, prefix: str = ""):
        self.redis = redis
        self.threshold = threshold
        self._clock = clock
        self.prefix = prefix

    def record(self, provider: str, balance: int) -> Balance:
        """Keep ``balance``; log a warning when it has just dropped under the threshold."""
        low = 0 < self.threshold and balance < self.threshold
        now = self._clock()
        was_low = False
        if self.redis is not None:
            key = _key(provider, self.prefix)
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.hget(key, "low")
                pipe.hset(key, mapping={"balance": int(balance), "at": f"{now:.0f}", "low": int(low)})
                pipe.expire(key, KEY_TTL_SECONDS)
                was_low = pipe.execute()[0] in (b"1", "1")
            except (RedisError, OSError) as exc:  # a balance not kept must not fail the send it came with
                log.warning("%s credit %d not recorded: %s", provider, balance, type(exc).__name__)
        if low and not was_low:
            log.warning("%s credit is %d, under SMS_LOW_CREDIT_THRESHOLD (%d): top up", provider, balance,
                        self.threshold)
        elif was_low and not low:
            log.info("%s credit is %d again, no longer low", provider, balance)
        return Balance(provider, int(balance), now, low)

    def provider_says_low(self, provider: str) -> None:
        """The provider reported low credit itself (SEPSMS ``credit.low``, whose body is not
        documented: nothing is read from it). Logged at WARNING for the operator and kept for /readyz."""
        log.warning("%s reports low SMS credit (credit.low): top up, or OTP codes will stop", provider)
        if self.redis is not None:
            self.redis.set(_low_key(provider, self.prefix), f"{self._clock():.0f}", ex=KEY_TTL_SECONDS)

    def provider_said_low_at(self, provider: str) -> float | None:
        """When the provider last reported low credit itself (None: not this week)."""
        raw = self.redis.get(_low_key(provider, self.prefix)) if self.redis is not None else None
        return float(raw) if raw else None

    def last(self, provider: str) -> Balance | None:
        """The last balance recorded for ``provider`` (None: none this week)."""
        if self.redis is None:
            return None
        found = self.redis.hgetall(_key(provider, self.prefix))
        raw = {(k.decode() if isinstance(k, bytes) else k): v for k, v in found.items()}
        if "balance" not in raw:
            return None
        balance = int(raw["balance"])
        return Balance(provider, balance, float(raw.get("at") or 0),
                       0 < self.threshold and balance < self.threshold)


def _key(provider: str, prefix: str) -> str:
    return f"{prefix}sms:credit:{provider}"


def _low_key(provider: str, prefix: str) -> str:
    return f"{prefix}sms:credit-low:{provider}"
