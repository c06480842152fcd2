"""The app's services, for a request or a command: Flask's ``get_db()`` habit, in one function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, g

if TYPE_CHECKING:
    from workers.services import Services


def get_services() -> Services:
    """The services of the request's hospital (its path: ``handlers/hospital_routes.py``), else the
    composition root ``create_app`` built (or was handed) for the one implicit hospital."""
    return g.get("hospital_services") or current_app.extensions["services"]
