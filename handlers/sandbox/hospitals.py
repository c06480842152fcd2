"""The page of a sandbox serving several hospitals (``SANDBOX_HOSPITALS``): which hospital it shows, and
the switch between them.

Each hospital has its own LINE account, agent desk, Oho contacts and HIS. The page shows one hospital at a
time (``?hospital=b`` on the page and on every ``/sandbox/ui`` request), as the patient's LINE shows one
chat at a time; the switch names each hospital with its staff's hours and counts what the patient's chat
with it holds, so a message that reaches one chat and not the other shows at a glance. The patient's
phone and หมอพร้อม are one, whichever hospital wrote: their entries say which did.
"""

from __future__ import annotations

import datetime as dt

from flask import g, request

from bot.handoff.hours import BANGKOK, parse_business_hours
from handlers.hospital_routes import HOSPITAL_PREFIX
from handlers.http_errors import error
from handlers.sandbox.common import registry
from handlers.sandbox.store import SandboxStore
from handlers.services import get_services


def choose_hospital():
    """Before every request of the page: the hospital asked for (``?hospital=``), else the first served."""
    hospitals = registry()
    if hospitals is None:
        return None
    asked = request.args.get("hospital")
    if asked is None:
        served = hospitals.all()
        if not served:
            return error(503, "the sandbox's hospitals are not served yet: reload in a moment")
        g.hospital_services = served[0]
        return None
    services = hospitals.get(asked)
    if services is None:
        return error(404, "no such hospital in the sandbox")
    g.hospital_services = services
    return None


def hospital_tabs(patient) -> list[dict]:
    """The switch: each hospital served, its staff's hours and whether they are on duty now, and how
    many entries the patient's chat with it holds. Empty for the one-hospital sandbox."""
    hospitals = registry()
    if hospitals is None:
        return []
    shown, now = get_services().hospital.id, dt.datetime.now(BANGKOK)
    tabs = []
    for services in hospitals.all():
        hospital = services.hospital
        chat = SandboxStore(services.redis, scope=hospital.prefix).key(f"line:chat:{patient.user_id}")
        tabs.append({"id": hospital.id, "name": services.hospital_name, "selected": hospital.id == shown,
                     "hours": services.settings.business_hours,
                     "on_duty": parse_business_hours(services.settings.business_hours).is_open(now),
                     "path": HOSPITAL_PREFIX.replace("<hospital>", hospital.id), "bot": hospital.bot_user_id,
                     "entries": services.redis.llen(chat)})
    return tabs


def hospital_names() -> dict[str, str]:
    """Hospital id → name, for the entries of the shared panels (the phone, หมอพร้อม, the traffic)."""
    hospitals = registry()
    return {} if hospitals is None else {s.hospital.id: s.hospital_name for s in hospitals.all()}
