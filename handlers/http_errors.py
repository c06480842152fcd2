"""JSON error answers for every endpoint, so a client always learns what was wrong."""

from __future__ import annotations

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


def error(status: int, message: str, **extra):
    return jsonify(error=message, **extra), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _redis_down(exc: Exception):
        # Nothing was accepted: a 503 makes LINE (and the other senders) deliver again later.
        app.logger.warning("Redis unavailable (%s): answered 503", type(exc).__name__)
        response, status = error(503, "temporarily unavailable, please retry")
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError):
        return error(400, "body is nested too deeply")  # json.loads of a hostile body

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return error(500, "internal error")
