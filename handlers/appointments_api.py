"""To be built."""

from flask import Blueprint

bp = Blueprint("appointments_api", __name__)
