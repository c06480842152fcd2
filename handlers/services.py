"""The app's services, for a request or a command: Flask's ``get_db()`` habit, in one function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from workers.services import Services


def get_services() -> Services:
    """The composition root ``create_app`` built (or was handed) for the running app."""
    return current_app.extensions["services"]
