"""``POST /api/v1/appointments``: the hospital information system (HIS) submits appointments.

Thin: checks the token and every item, then queues; workers send to MOPH. All or nothing, so a
batch can always be resent whole. The contract for HIS integrators: docs/appointments.md, "HIS API".
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from bot.appointments import parse_appointments
from bot.settings import SettingsError
from handlers.http_errors import error
from handlers.services import get_services
from integrations.webhook_auth import token_matches
from workers.appointments.status import NoticeStatus, read_statuses, status_key

bp = Blueprint("appointments_api", __name__)

MAX_ITEMS = 1000
_NOTICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _refusal():
    """An error answer when the caller may not submit, else None."""
    settings = get_services().settings
    expected = settings.secret_values("appointments_api_token")  # two while rotating
    if not expected:
        return error(503, "APPOINTMENTS_API_TOKEN is not set; the appointments API is off")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given.strip(), expected):
        response, status = error(401, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="appointments"'
        return response, status
    return None


@bp.post("/api/v1/appointments")
def submit_appointments():
    refused = _refusal()
    if refused:
        return refused
    services = get_services()
    try:
        services.settings.require("moph")
        notices = services.appointment_notices
    except SettingsError as exc:
        return error(503, str(exc))
    body = request.get_json(silent=True)  # a body over MAX_CONTENT_LENGTH raises 413 here
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        return error(400, "body must be an appointment object or a non-empty list of them")
    if len(items) > MAX_ITEMS:
        return error(413, f"at most {MAX_ITEMS} appointments per request; split the list")

    appointments, bad = parse_appointments(items)
    if bad:
        invalid = [{"index": index, "appointment_id": _id_of(items[index]), "errors": errors}
                   for index, errors in bad]
        return error(400, f"{len(bad)} of {len(items)} appointments are invalid; nothing was queued",
                     invalid=invalid)

    submitted = notices.submit(appointments)
    items_out = [dict(index=index, **s.to_dict()) for index, s in enumerate(submitted)]
    queued = sum(1 for s in submitted if s.status == NoticeStatus.QUEUED)
    return jsonify(queued=queued, duplicates=len(submitted) - queued, items=items_out), 202


@bp.get("/api/v1/appointments/notices/<notice_id>")
def notice_status(notice_id: str):
    refused = _refusal()
    if refused:
        return refused
    if not _NOTICE_ID.match(notice_id):
        return error(404, "no such notice")
    services = get_services()
    record = read_statuses(services.redis, [status_key(notice_id, services.hospital.prefix)])[0]
    if record is None:
        return error(404, "no such notice (or older than 30 days)")
    return jsonify(notice_id=notice_id, **record)


def _id_of(item) -> str | None:
    value = item.get("appointment_id") if isinstance(item, dict) else None
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None
