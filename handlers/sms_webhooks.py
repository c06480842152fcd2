"""To be built."""

from flask import Blueprint

bp = Blueprint("sms_webhooks", __name__)
