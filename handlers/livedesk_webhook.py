"""To be built."""

from flask import Blueprint

bp = Blueprint("livedesk_webhook", __name__)
