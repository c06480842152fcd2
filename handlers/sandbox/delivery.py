"""Events from the simulated providers to the service, posted the way the providers post them.

A simulator answers its own request first and posts the webhook afterwards, from a
background thread: a webhook to this very server must never hold up the request
that caused it. One thread per provider keeps each provider's events in order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from handlers.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

_executors: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()
TIMEOUT = (3.05, 10.0)


def _executor(channel: str) -> ThreadPoolExecutor:
    with _lock:
        if channel not in _executors:
            _executors[channel] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sandbox-{channel}")
        return _executors[channel]


def post_later(store: SandboxStore, channel: str, label: str, url: str, *, body: bytes,
               headers: dict[str, str], delay: float = 0.0, on_due=None) -> None:
    """POST ``body`` to ``url`` from the channel's thread, after ``delay`` seconds (carrier latency).

    ``on_due`` runs just before the post: what the event reports becomes true then.
    """
    def send() -> None:
        try:
            if on_due is not None:
                on_due()
        except Exception:  # noqa: BLE001  (a simulator's bookkeeping must not stop the event)
            log.exception("sandbox %s: updating state before %s failed", channel, label)
        try:
            response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
            status: int | str = response.status_code
            try:  # what the service made of it ("echo", "queued", …), when it says
                outcome = response.json().get("outcome")
            except ValueError:
                outcome = None
            shown = f"{label} ({outcome})" if outcome else label
        except requests.RequestException as exc:
            status, shown = type(exc).__name__, label
        store.log(channel, shown, status)
        if status != 200:
            log.warning("sandbox %s webhook %s answered %s", channel, label, status)

    if delay:
        # A timer per event, so that one event's latency does not hold up the others.
        timer = threading.Timer(delay, lambda: _executor(channel).submit(send))
        timer.daemon = True
        timer.start()
    else:
        _executor(channel).submit(send)


def json_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def line_signature(secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 HMAC-SHA256 of the raw body with the channel secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sepsms_signature(secret: str, body: bytes, timestamp: int) -> str:
    """``X-Webhook-Signature: t=<unix>,v1=<hex>``, HMAC-SHA256 of ``"{t}.{raw body}"`` (SEPSMS API v2, Webhooks)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
