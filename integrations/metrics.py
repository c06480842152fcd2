"""Every Prometheus metric of the service, defined once, and how ``GET /metrics`` renders them.

prometheus-client runs in its multiprocess mode: each process (gunicorn workers, RQ
workers, a CLI) writes its counters and histograms to files in one directory, and the
process answering the scrape adds them all up. The directory is ``PROMETHEUS_MULTIPROC_DIR``
when set, else ``<VAR_DIR>/metrics`` (so it works with no extra setting); it must be chosen
before prometheus-client is first imported, which is why this module sets it at the top.
Processes on other machines need their own scrape target: they cannot share the files.

Counters count events as they happen. What is a *state* (queue depths, the inbox backlog,
dead items, open handoffs, SMS credit, live RQ workers, how Redis is set up) is read from Redis at scrape time by
``StateCollector`` (the reading itself is in ``workers/metrics_state.py``): counters would
drift from the truth after a crash or a hand edit, Redis cannot.

No label carries patient data: labels are fixed words, provider names, queue names,
endpoint templates whose ids are replaced (``endpoint_template``) and the knowledge base's
topic ids (``Dialog.topic_label``: never what a patient wrote).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable

from bot.privacy import mask_numbers


def multiprocess_dir() -> str:
    """The directory every process of this deployment writes its metrics to (created if missing)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.abspath(
        os.path.join(os.environ.get("VAR_DIR") or "var", "metrics"))
    os.makedirs(path, exist_ok=True)
    return path


# Before the first import of prometheus_client: it picks its value store (files or memory) then.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir()

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,  # noqa: E402
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402

#: The hospital being served (a job's, by its queue; a request's, by its path): the last label of every
#: event metric, so that one hospital's failures are not another's. Set where the work starts
#: (``workers/__main__.py``, ``handlers/hospital_routes.py``); "default" in a deployment of one.
CURRENT_HOSPITAL: ContextVar[str] = ContextVar("hospital", default="default")


class PerHospital:
    """A metric whose last label, ``hospital``, is filled in from ``CURRENT_HOSPITAL``: call sites name
    only their own labels."""

    def __init__(self, metric):
        self.metric = metric

    def labels(self, *values):
        return self.metric.labels(*values, CURRENT_HOSPITAL.get())

    def inc(self, amount: float = 1) -> None:
        self.metric.labels(CURRENT_HOSPITAL.get()).inc(amount)

    def observe(self, amount: float) -> None:
        self.metric.labels(CURRENT_HOSPITAL.get()).observe(amount)


# -- the LINE webhook and answers ------------------------------------------------------------
WEBHOOK_EVENTS = Counter("linebot_webhook_events_total", "LINE webhook events received, by result "
                         "(accepted: queued for an answer; duplicate: seen before, skipped; too_old: older than the "
                         "de-duplication window, refused)", ["result", "hospital"])
WEBHOOK_REJECTED = Counter("linebot_webhook_rejected_total", "LINE webhook requests refused, by reason",
                           ["reason", "hospital"])
ANSWERS = Counter("linebot_answers_total", "Answers LINE accepted, by how they went (reply or push)", ["how", "hospital"])
TOPIC_ANSWERS = Counter("linebot_bot_answers_total", "Answers LINE accepted, by what they answered: a "
                        "knowledge-base topic id, unknown (not understood), or a fixed intent (handoff_*, "
                        "verify, non_text, other)", ["topic", "hospital"])
ANSWER_SECONDS = Histogram("linebot_answer_seconds", "From the webhook receiving an event to LINE accepting "
                           "its answer (retries included)", ["hospital"],
                           buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 900, 1800, 3600))
# -- per-user queues (LINE inbox, LiveDesk mirror, agents' replies) ---------------------------
ITEM_FAILURES = Counter("linebot_queue_item_failures_total", "Failed attempts at a queued item that will be "
                        "retried, by queue", ["queue", "hospital"])
SET_ASIDE = Counter("linebot_queue_items_set_aside_total", "Queued items given up on and moved to the dead "
                    "list, by queue (line:inbox = patient messages left unanswered)", ["queue", "hospital"])
LIVEDESK_FAILED = Counter("linebot_livedesk_failed_messages_total", "Mirrored messages LiveDesk answered "
                          "status failed, by what happened (failed: a post or retry answered failed; delivered: "
                          "a retry went through; given_up: retries used up, staff got a note; note_failed: "
                          "that note failed too and was dropped)", ["outcome", "hospital"])
# -- providers ----------------------------------------------------------------------------------
PROVIDER_REQUESTS = Counter("linebot_provider_requests_total", "HTTP calls to providers, by provider, endpoint "
                            "and outcome (2xx, 3xx, 4xx, 5xx, timeout = no HTTP answer)",
                            ["provider", "endpoint", "outcome", "hospital"])
PROVIDER_SECONDS = Histogram("linebot_provider_request_seconds", "Duration of HTTP calls to providers",
                             ["provider", "endpoint", "hospital"],
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 15, 30))
# -- features -----------------------------------------------------------------------------------
FIRST_AGENT_REPLY_SECONDS = Histogram("linebot_handoff_first_agent_reply_seconds", "From a handoff opening "
                                      "to the first agent message", ["hospital"],
                                      buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200))
OTP = Counter("linebot_otp_total", "Phone verification by event (sent, send_failed, verified, wrong_code, "
              "locked = the last allowed attempt was wrong, paced = a send held for the provider's pace, "
              "busy = a send given up after waiting too long for it)", ["event", "hospital"])
MOPH_NOTICES = Counter("linebot_moph_notices_total", "MOPH Alert appointment notices by kind and outcome "
                       "(sent, failed, uncertain, skipped-*)", ["kind", "status", "hospital"])
(WEBHOOK_EVENTS, WEBHOOK_REJECTED, ANSWERS, TOPIC_ANSWERS, ANSWER_SECONDS, ITEM_FAILURES, SET_ASIDE,
 LIVEDESK_FAILED, PROVIDER_REQUESTS, PROVIDER_SECONDS, FIRST_AGENT_REPLY_SECONDS, OTP, MOPH_NOTICES) = (
    PerHospital(metric) for metric in (
        WEBHOOK_EVENTS, WEBHOOK_REJECTED, ANSWERS, TOPIC_ANSWERS, ANSWER_SECONDS, ITEM_FAILURES, SET_ASIDE,
        LIVEDESK_FAILED, PROVIDER_REQUESTS, PROVIDER_SECONDS, FIRST_AGENT_REPLY_SECONDS, OTP, MOPH_NOTICES))

OUTCOME_TIMEOUT = "timeout"


def outcome(status: int | None) -> str:
    """``2xx`` … ``5xx`` for an HTTP status; ``timeout`` when no HTTP answer came."""
    if status is None:
        return OUTCOME_TIMEOUT
    return f"{max(1, min(5, status // 100))}xx"


_ID_SEGMENT = re.compile(r"^(U[0-9a-f]{32}|[CR][0-9a-f]{32}|\d+|[0-9a-fA-F-]{16,}|.*\d.*\d.*\d.*\d.*)$")


def endpoint_template(path: str) -> str:
    """A URL path with its ids replaced by ``{id}`` (no query, no host): a label that stays
    bounded and carries no user id, phone or reference. ``/api/v2/...`` keeps its ``v2``."""
    path = path.split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/")]
    return mask_numbers("/".join(segments))[:100]


def record_call(provider: str, endpoint: str, status: int | None, seconds: float) -> None:
    """One HTTP attempt at a provider (every attempt counts, retries included)."""
    PROVIDER_REQUESTS.labels(provider, endpoint, outcome(status)).inc()
    PROVIDER_SECONDS.labels(provider, endpoint).observe(seconds)


# -- state read at scrape time ------------------------------------------------------------------
@dataclass
class State:
    """What ``workers/metrics_state.py`` reads from Redis for one scrape. ``None``: not known."""

    redis_up: bool = True
    queue_jobs: dict[str, int] = field(default_factory=dict)             # RQ queue -> jobs waiting
    queue_oldest_seconds: dict[str, float] = field(default_factory=dict)  # RQ queue -> age of the oldest
    failed_jobs: dict[str, int] = field(default_factory=dict)             # RQ queue -> failed registry
    workers: dict[str, int] = field(default_factory=dict)                 # RQ queue -> live workers
    inbox_users: int = 0
    inbox_events: int = 0
    inbox_oldest_seconds: float = 0.0
    dead_items: dict[str, int] = field(default_factory=dict)              # dead list -> entries
    handoffs_open: int = 0
    handoffs_waiting: int = 0
    handoff_oldest_waiting_seconds: float = 0.0
    sms_credit: dict[str, int] = field(default_factory=dict)              # provider -> last balance
    sms_credit_threshold: int = 0
    redis_findings: dict[str, int] = field(default_factory=dict)         # kind of finding -> 0 or 1


class StateCollector:
    """Turns the states read at each scrape, one per hospital served (by id), into gauges labelled
    ``hospital`` (a custom collector: never stored in files). Redis's own gauges are the deployment's."""

    def __init__(self, read: Callable[[], dict[str, State]]):
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        states = self.read()
        redis_up = all(state.redis_up for state in states.values())  # no hospital served yet: nothing read
        yield GaugeMetricFamily("linebot_redis_up", "1 if Redis answered this scrape", value=int(redis_up))
        if not redis_up:
            return
        up = sorted(states.items())
        for name, documentation, label, field_name in _PER_KEY:
            family = GaugeMetricFamily(name, documentation, labels=[label, "hospital"])
            for hospital, state in up:
                for key, value in sorted(getattr(state, field_name).items()):
                    family.add_metric([key, hospital], value)
            yield family
        for name, documentation, field_name in _ONE_VALUE:
            family = GaugeMetricFamily(name, documentation, labels=["hospital"])
            for hospital, state in up:
                family.add_metric([hospital], getattr(state, field_name))
            yield family
        findings = up[0][1].redis_findings if up else {}  # Redis is one for every hospital
        yield _labelled("linebot_redis_findings", "1 for each way Redis is not set up for durable queues (eviction, "
                        "no_aof, lazy_fsync, old_version; unchecked: a setting could not be read)", "finding", findings)


#: Gauges of one hospital's state: (name, help, label, State field) and (name, help, State field).
_PER_KEY = (
    ("linebot_queue_jobs", "RQ jobs waiting, per queue", "queue", "queue_jobs"),
    ("linebot_queue_oldest_job_seconds", "Age of the oldest waiting RQ job, per queue", "queue",
     "queue_oldest_seconds"),
    ("linebot_queue_failed_jobs", "RQ jobs in the failed registry, per queue", "queue", "failed_jobs"),
    ("linebot_workers", "RQ workers registered (alive) listening on each queue", "queue", "workers"),
    ("linebot_dead_items", "Items set aside (given up on), per dead list", "list", "dead_items"),
    ("linebot_sms_credit", "Last SMS credit balance a provider reported (kept a week)", "provider", "sms_credit"),
)
_ONE_VALUE = (
    ("linebot_inbox_users", "LINE users with events waiting to be answered", "inbox_users"),
    ("linebot_inbox_events", "LINE events waiting to be answered", "inbox_events"),
    ("linebot_inbox_oldest_event_seconds", "Age of the oldest LINE event waiting (since the webhook received it)",
     "inbox_oldest_seconds"),
    ("linebot_handoffs_open", "Open handoffs (the bot is quiet, staff answer)", "handoffs_open"),
    ("linebot_handoffs_waiting", "Open handoffs no agent has answered yet", "handoffs_waiting"),
    ("linebot_handoff_oldest_waiting_seconds",
     "How long the longest-waiting patient has waited for a first agent message", "handoff_oldest_waiting_seconds"),
    ("linebot_sms_credit_low_threshold", "SMS_LOW_CREDIT_THRESHOLD (0 = no warning)", "sms_credit_threshold"),
)


def _labelled(name: str, documentation: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def render(read_state: Callable[[], dict[str, State]] | None = None) -> tuple[bytes, str]:
    """The text exposition of every process's metrics plus the state read now (each hospital's, by
    id); and its content type."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if read_state is not None:
        registry.register(StateCollector(read_state))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """A process of this deployment ended: drop its live-gauge files (its counters stay in the totals)."""
    multiprocess.mark_process_dead(pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
