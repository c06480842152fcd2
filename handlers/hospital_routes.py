"""Each hospital's webhooks on its own path: ``/h/<id>/callback``, ``/h/<id>/webhooks/...``,
``/h/<id>/api/v1/...`` (and ``/h/<id>/readyz``). The path picks the hospital; the view then verifies
the request with that hospital's secret, so one hospital's signature or token opens no other's path.

Without a registry the same views answer on today's paths for the one implicit hospital. With one,
today's webhook paths do not exist (which hospital would it be?), an unknown id answers 404, and a
hospital whose file is broken or disabled 503, so LINE and the providers deliver again once it is fixed.
``/healthz`` and ``/readyz`` stay at the root too: the process's own.
"""

from __future__ import annotations

from flask import Flask, current_app, g

from bot.hospitals import IMPLICIT
from handlers.http_errors import error
from integrations.metrics import CURRENT_HOSPITAL

HOSPITAL_PREFIX = "/h/<hospital>"


def register_hospital_routes(app: Flask, blueprints, registry_mode: bool) -> None:
    for bp in blueprints:
        if not registry_mode or bp.name == "health":
            app.register_blueprint(bp)
        app.register_blueprint(bp, url_prefix=HOSPITAL_PREFIX, name=f"hospital_{bp.name}")

    @app.url_value_preprocessor
    def _take_hospital(endpoint, values):
        if values and "hospital" in values:
            g.hospital_id = values.pop("hospital")

    @app.before_request
    def _find_hospital():
        hospital_id = g.get("hospital_id")
        CURRENT_HOSPITAL.set(hospital_id or IMPLICIT)  # the metrics' hospital label (one greenlet, many requests)
        if hospital_id is None:
            return None
        hospitals = current_app.extensions.get("hospitals")
        if hospitals is None:  # one implicit hospital: /h/default/... is its other name
            return None if hospital_id == IMPLICIT else error(404, "no such hospital")
        services = hospitals.get(hospital_id)
        if services is None:
            if not hospitals.registry.known(hospital_id):
                return error(404, "no such hospital")
            response, status = error(503, "this hospital is not served now (its file is broken or disabled); "
                                          "deliver again later")
            response.headers["Retry-After"] = "30"
            return response, status
        g.hospital_services = services
        return None
