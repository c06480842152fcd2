"""``/healthz``: the process answers. ``/readyz``: it can write to Redis and read it back, so it
can take work (503 otherwise: down, a read-only replica, writes refused; ``workers/redis_health.py``).

``/h/<id>/readyz`` answers for that hospital; the root ``/readyz`` of a deployment serving several
lists them (``hospitals``). ``/readyz`` also names unset settings per feature (``not_configured``) and what works only
in part (``notes``): delivery reports that cannot arrive, an SMS balance under the threshold
as last reported by the provider (read from Redis: no provider is called here), and how Redis
should be set up for durable queues. None of these changes the status code.
"""

from __future__ import annotations

import datetime as dt

import redis
from flask import Blueprint, current_app, g, jsonify

from handlers.services import get_services
from integrations.credit import CreditLedger
from workers.redis_health import findings, probe, why_not

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    services = get_services()
    settings = services.settings
    not_configured = settings.missing_for("line")
    sms_missing = settings.missing_for("sms")
    try:
        probe(services.redis)
        ledger = CreditLedger(services.redis, threshold=settings.sms_low_credit_threshold,
                              prefix=services.hospital.prefix)
        balance = ledger.last(settings.sms_provider)
        said_low = ledger.provider_said_low_at(settings.sms_provider)
        redis_findings = findings(services.redis)
    except (redis.RedisError, OSError, RuntimeError) as exc:
        return jsonify(status="unavailable", redis=type(exc).__name__, problem=why_not(exc),
                       not_configured=not_configured), 503
    notes = settings.readiness_notes()
    if balance is not None and balance.low:
        notes.append(f"{settings.sms_provider} credit was {balance.balance} (under SMS_LOW_CREDIT_THRESHOLD "
                     f"{settings.sms_low_credit_threshold}) when last reported")
    if said_low is not None:
        notes.append(f"{settings.sms_provider} reported low credit (credit.low) at "
                     f"{dt.datetime.fromtimestamp(said_low, dt.timezone.utc).isoformat()}")
    notes.extend(finding.text for finding in redis_findings)
    if (hospitals := current_app.extensions.get("hospitals")) is not None and g.get("hospital_services") is None:
        # The root of a deployment serving several: Redis, and each hospital (the environment's own
        # provider settings serve nobody here).
        return jsonify(status="ready", redis="ok", notes=[finding.text for finding in redis_findings],
                       hospitals=hospitals_readiness(hospitals))
    return jsonify(status="ready", redis="ok", not_configured=not_configured,
                   not_configured_for={"sms": sms_missing}, notes=notes)


def hospitals_readiness(hospitals) -> dict:
    """The registry at a glance (root ``/readyz`` of a deployment serving several hospitals): each
    hospital served, with what it still lacks for LINE, or not served, with the settings to fix. A
    broken hospital leaves the process ready: the others must go on being served."""
    hospitals.refresh()
    served = {h.id: {"status": "served", "not_configured": h.settings.missing_for("line")}
              for h in hospitals.registry.hospitals()}
    # The settings to fix, not what is wrong with them (variable names, file paths): this page is
    # open to anyone who can reach it; `flask hospitals check` says the rest.
    broken = {hid: {"status": "not served", "fix": sorted({p.name for p in found}),
                    "see": "flask hospitals check"}
              for hid, found in hospitals.registry.problems().items()}
    off = {hid: {"status": "disabled"} for hid in hospitals.registry.disabled()}
    return {**served, **broken, **off}

