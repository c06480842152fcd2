"""The sandbox: every provider simulated by this server, and one page at ``/`` to try the bot.

On only with ``SANDBOX`` (``./dev serve`` sets it when no LINE channel is configured;
``bot.settings.load_settings`` then points every provider's client at ``SANDBOX_URL/sandbox/...``
with made-up credentials, and refuses a real credential, a provider URL or an address beyond
loopback without ``SANDBOX_PUBLIC_TOKEN``: ``access``). The real service runs unchanged: webhook, queues,
workers, clients. Only the far ends are simulated, each in its own module, as its
vendor document describes it: ``line``, ``oho``, ``livedesk``, ``sms`` (SEPSMS and
ThaiBulkSMS), ``moph``; ``page`` is what a person sees. State is in Redis
(``store``). With ``SANDBOX`` off nothing here is imported, and no route exists.

With ``SANDBOX_HOSPITALS`` the service serves a registry of two made-up hospitals: each simulator keeps
an account per hospital, told apart by the credential presented (``common.serve_as``), and the page shows
one hospital at a time with a switch between them (``hospitals``).
"""

from __future__ import annotations

import logging

from flask import Flask

from bot.sandbox_settings import SANDBOX_HOSPITALS

log = logging.getLogger("sandbox")

#: The page's banner, Thai first; the log says it in English (an operator's terminal may lack Thai).
BANNER = ("แซนด์บ็อกซ์: ผู้ให้บริการทุกรายเป็นของจำลองบนเซิร์ฟเวอร์นี้ ไม่มีอะไรถึง LINE, Oho, LiveDesk, SMS หรือหมอพร้อมจริง"
          " · SANDBOX: every provider is simulated")
LOG_BANNER = "SANDBOX: every provider is simulated on this server; nothing reaches LINE, Oho, LiveDesk, SMS or MOPH"


def register_sandbox(app: Flask) -> None:
    """Add the simulators and the page to ``app``, and say so loudly."""
    from handlers.sandbox import line, livedesk, moph, oho, page, sms

    for module in (line, oho, livedesk, sms, moph, page):
        app.register_blueprint(module.bp)

    @app.after_request
    def _mark(response):
        response.headers["X-Sandbox"] = "simulated providers"
        return response

    settings = app.config["SETTINGS"]
    url = settings.sandbox_url
    link = f"{url}/?token=<SANDBOX_PUBLIC_TOKEN>" if settings.sandbox_public_token else f"{url}/"
    for line_ in ("*" * 78, f"*** {LOG_BANNER}", f"*** open {link} to chat as a patient, answer as staff, "
                  "read the SMS and the หมอพร้อม notices", "*" * 78):
        log.warning(line_)
    if settings.sandbox_hospitals:
        log.warning("*** two hospitals, one patient's LINE user id: %s (registry %s)",
                    ", ".join(f"{hid} at /h/{hid}/callback" for hid in SANDBOX_HOSPITALS), settings.hospitals_dir)
