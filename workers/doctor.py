"""``flask doctor``: is the configuration complete, and does every provider answer? One harmless
call each (nothing is sent to a patient, nothing changes): LINE bot info, an Oho contact that
cannot exist, a LiveDesk read, the SMS credit, the MOPH token.

Each check gives a ``Check``: ``ok`` True / False, or None when skipped (not configured), and
what to fix; ``stops_start`` marks what would stop the service from starting (a malformed setting,
a Redis that does not answer). Provider messages are log-safe (``integrations/errors.py``): they go
into the table.

Doctor uses the embedded Redis already running (``./dev serve``'s) and leaves it alone; one it had
to start, it stops again (``embedded_redis_for_the_run``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import redis

from integrations.errors import NotFoundError, ProviderConnectionError, ProviderError
from workers.embedded_redis import EmbeddedRedis
from workers.redis_health import UNCHECKED, findings, probe, why_not
from workers.start_up import redis_problems

#: A LINE user id that no contact has: Oho answers "not found" once the key is accepted.
NOBODY = "U" + "0" * 32
FEATURES = {"line": "LINE (answers)", "handoff": "handoff (Oho + LiveDesk)", "sms": "SMS OTP",
            "moph": "MOPH Alert (appointments)", "appointments_api": "HIS appointments API"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None      # None: skipped
    detail: str
    fix: str = ""
    stops_start: bool = False


def settings_checks(problems) -> list[Check]:
    """Malformed settings (``bot.settings.Problem``) as rows, and a Redis that does not answer: the service
    would not start with them."""
    return [Check("Redis" if p.environment else f"setting {p.name}", False, p.what, f"for example {p.name}={p.example}" if p.example else "",
                  stops_start=True) for p in problems]


@contextmanager
def embedded_redis_for_the_run(settings):
    """The embedded Redis for one command (no ``REDIS_URL``, no Sentinels): the one already running, left
    running; else one started now and stopped when the command ends, whatever the outcome."""
    if settings.redis_url or settings.redis_sentinels:
        yield
        return
    embedded = EmbeddedRedis(settings.var_dir)
    started = embedded.ensure()
    try:
        yield
    finally:
        if started:
            embedded.stop()


class NeedsAttention(Exception):
    """The provider answered, but what it said needs someone (e.g. the credit is low)."""

    def __init__(self, detail: str, fix: str):
        super().__init__(detail)
        self.fix = fix


def run_checks(services) -> list[Check]:
    settings = services.settings
    checks = [_configuration(settings, feature, label) for feature, label in FEATURES.items()]
    if settings.metrics_token is None:
        checks.append(Check("config: metrics", None, "METRICS_TOKEN unset: GET /metrics answers 404",
                            "set METRICS_TOKEN to let Prometheus scrape"))
    checks.extend(_redis(services))
    checks.append(_provider("LINE", settings.missing_for("line"), lambda: _line(services),
                            "LINE_CHANNEL_ACCESS_TOKEN"))
    checks.append(_provider("Oho", [] if settings.oho_api_key else ["OHO_API_KEY"], lambda: _oho(services),
                            "OHO_API_KEY"))
    livedesk = [n.upper() for n in ("livedesk_api_key", "livedesk_api_secret") if getattr(settings, n) is None]
    checks.append(_provider("LiveDesk", livedesk, lambda: _livedesk(services),
                            "LIVEDESK_API_KEY and LIVEDESK_API_SECRET"))
    sms = settings.sms_provider
    sms_keys = ["sepsms_api_key"] if sms == "sepsms" else ["thaibulksms_api_key", "thaibulksms_api_secret"]
    checks.append(_provider(f"SMS credit ({sms})", [n.upper() for n in sms_keys if getattr(settings, n) is None],
                            lambda: _credit(services), " and ".join(n.upper() for n in sms_keys)))
    checks.append(_provider("MOPH token", settings.missing_for("moph"), lambda: _moph(services),
                            "MOPH_USER, MOPH_PASSWORD_HASH and MOPH_HOSPITAL_CODE"))
    return checks


def _configuration(settings, feature: str, label: str) -> Check:
    missing = settings.missing_for(feature)
    if not missing:
        return Check(f"config: {label}", True, "complete")
    return Check(f"config: {label}", False if feature == "line" else None, "not configured",
                 f"set {', '.join(missing)}")


def _redis(services) -> list[Check]:
    """Whether Redis answers (as a process checks it at start-up), takes work (a write read back), then how it
    is set up (``workers/redis_health.py``)."""
    if down := redis_problems(services.settings):
        return [Check("Redis", False, down[0].what, f"for example {down[0].name}={down[0].example}",
                      stops_start=True)]
    try:
        probe(services.redis)
        found = findings(services.redis)
    except (redis.RedisError, OSError) as exc:
        return [Check("Redis", False, f"cannot take work: {why_not(exc)}",
                      "check REDIS_URL / REDIS_SENTINELS: the service needs a primary it can write to")]
    ok = Check("Redis", True, "answers and takes writes")
    if not found:
        return [ok, Check("Redis durability", True, "noeviction, append-only, a patched version")]
    unchecked = all(finding.kind == UNCHECKED for finding in found)
    return [ok, Check("Redis durability", None if unchecked else False, "; ".join(f.text for f in found),
                      "see README, Redis from a provider")]


def _provider(name: str, missing: list[str], call: Callable[[], str], credentials: str) -> Check:
    if missing:
        return Check(name, None, "skipped: not configured", f"set {', '.join(missing)}")
    try:
        return Check(name, True, call())
    except NeedsAttention as exc:
        return Check(name, False, str(exc), exc.fix)
    except ProviderConnectionError as exc:
        return Check(name, False, str(exc), "unreachable: check its base URL setting and the network")
    except ProviderError as exc:
        fix = f"credentials refused: check {credentials}" if exc.status in (401, 403) else "see the message"
        return Check(name, False, str(exc), fix)
    except (ValueError, RuntimeError, redis.RedisError) as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:200], "see the message")


def _line(services) -> str:
    info = services.line.bot_info()
    return f"bot {info.get('displayName') or '?'} ({info.get('basicId') or '?'})"


def _oho(services) -> str:
    try:
        services.oho.get_contact(services.oho_contacts.platform_id(), NOBODY)
    except NotFoundError:
        pass  # the key was accepted: only the made-up contact is unknown
    return "key accepted"


def _livedesk(services) -> str:
    # LiveDesk documents no read-only call: a GET of a conversation that cannot exist tells
    # whether the credentials pass (401/403 say they do not; any other answer that they do).
    try:
        services.livedesk.request("GET", "/api/v2/accounts/conversations/0/messages")
    except ProviderError as exc:
        if exc.status is None or exc.status in (401, 403) or exc.status >= 500:
            raise
    return "credentials accepted"


def _credit(services) -> str:
    settings = services.settings
    balance = services.sepsms.credit_balance() if settings.sms_provider == "sepsms" else \
        services.thaibulksms.credit()
    threshold = settings.sms_low_credit_threshold
    if threshold and balance < threshold:
        raise NeedsAttention(f"credit {balance}, under SMS_LOW_CREDIT_THRESHOLD ({threshold})",
                             f"top up the {settings.sms_provider} credit")
    return f"credit {balance}"


def _moph(services) -> str:
    services.moph.access_token()
    return "token issued"
