"""The hospital LINE service: ``create_app()`` builds the web app; see README.md."""

from __future__ import annotations

import logging

from flask import Flask

from bot.log_setup import configure_logging
from bot.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, services=None) -> Flask:
    """Build the Flask app. Settings are read and checked here, once (``SettingsError`` lists problems)."""
    from bot.cli import bot_cli
    from bot.moph_cli import moph_cli
    from bot.services import Services
    from handlers import appointments_api, health, line_webhook, livedesk_webhook, sms_webhooks
    from handlers.http_errors import register_error_handlers

    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_webhook_bytes
    app.extensions["services"] = services or Services(settings)

    for module in (health, line_webhook, livedesk_webhook, sms_webhooks, appointments_api):
        app.register_blueprint(module.bp)
    register_error_handlers(app)
    app.cli.add_command(bot_cli)
    app.cli.add_command(moph_cli)

    missing = settings.missing_for("line")
    if missing:
        logging.getLogger("bot").warning(
            "LINE is not configured yet (%s): the webhook answers 503 until it is", ", ".join(missing))
    return app
