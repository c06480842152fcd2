"""``/healthz``: the process answers. ``/readyz``: it can reach Redis, so it can take work."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    services = current_app.extensions["services"]
    not_configured = services.settings.missing_for("line")
    try:
        services.redis.ping()
    except (redis.RedisError, OSError, RuntimeError) as exc:
        return jsonify(status="unavailable", redis=type(exc).__name__, not_configured=not_configured), 503
    return jsonify(status="ready", redis="ok", not_configured=not_configured)
