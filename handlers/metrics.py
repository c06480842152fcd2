"""``GET /metrics``: every process's counters and the state read from Redis now, in Prometheus text.

Off (404) unless ``METRICS_TOKEN`` is set; then ``Authorization: Bearer <METRICS_TOKEN>``
is required. The metrics carry no patient data (``integrations/metrics.py``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from handlers.http_errors import error
from handlers.services import get_services
from integrations.metrics import render
from integrations.webhook_auth import token_matches
from workers.metrics_state import read_states

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    services = get_services()
    expected = services.settings.metrics_token
    if expected is None or not expected.get_secret_value():
        return error(404, "not found")  # off: nothing tells a prober that metrics exist here
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given.strip(), [expected]):
        response, status = error(401, "missing or wrong bearer token (METRICS_TOKEN)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, status
    hospitals = current_app.extensions.get("hospitals")  # a deployment serving several: each of them
    body, content_type = render(lambda: read_states(hospitals.all() if hospitals is not None else [services]))
    return Response(body, content_type=content_type)
