"""The hospital LINE service: ``create_app()`` builds the web app; see README.md."""

from __future__ import annotations

import logging

from flask import Flask

from bot.log_setup import configure_logging
from bot.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, services=None) -> Flask:
    """Build the Flask app. Settings are read and checked here, once (``SettingsError`` lists problems)."""
    from bot.cli import bot_cli
    from bot.services import Services
    from handlers import health, line_webhook
    from handlers.http_errors import register_error_handlers

    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_webhook_bytes
    app.extensions["services"] = services or Services(settings)

    app.register_blueprint(health.bp)
    app.register_blueprint(line_webhook.bp)
    register_error_handlers(app)
    app.cli.add_command(bot_cli)

    missing = settings.missing_for("line")
    if missing:
        logging.getLogger("bot").warning(
            "LINE is not configured yet (%s): the webhook answers 503 until it is", ", ".join(missing))
    return app
