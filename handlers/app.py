"""The app factory: `create_app()` builds the Flask app from settings, once."""

from __future__ import annotations

import logging
import os
import time

import click
from flask import Flask, g, request
from flask.cli import AppGroup

from bot.log_setup import configure_logging
from bot.settings import Problem, Settings, SettingsError, exit_with, load_settings, problems_block


def create_app(settings: Settings | None = None, *, services=None) -> Flask:
    """Build the Flask app. Settings are read and checked here, once (``SettingsError`` lists problems)."""
    from handlers import appointments_api, health, line_webhook, livedesk_webhook, metrics, sms_webhooks
    from handlers.bot_cli import bot_cli
    from handlers.doctor_cli import doctor
    from handlers.handoff_cli import handoff_cli
    from handlers.hospital_routes import register_hospital_routes
    from handlers.hospitals_cli import hospitals_cli
    from handlers.http_errors import register_error_handlers
    from handlers.line_cli import line_cli
    from handlers.moph_cli import moph_cli
    from handlers.pdpa_cli import pdpa_cli
    from handlers.request_body import ReadBodyFirst
    from handlers.sms_cli import sms_cli
    from workers.sandbox_note import Found, with_sandbox
    from workers.hospitals import HospitalServices
    from workers.services import Services

    found = Found()
    if settings is None:
        settings = load_settings()
        if os.environ.get("FLASK_RUN_FROM_CLI") == "true":  # a `flask …` staff command, not the web
            settings, found = with_sandbox(settings)
    if found.used:  # the first line the staff member reads (stderr: the command's output stays clean)
        click.echo(f"ใช้แซนด์บ็อกซ์ที่ {found.note.url} (sandbox running; {found.note.path})", err=True)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.extensions["sandbox_note"] = found
    app.config["MAX_CONTENT_LENGTH"] = settings.max_webhook_bytes
    app.wsgi_app = ReadBodyFirst(app.wsgi_app, settings.max_webhook_bytes)
    app.extensions["services"] = services or Services(settings)
    if settings.hospitals_dir:  # several hospitals: each request's by its path
        app.extensions["hospitals"] = HospitalServices.from_settings(settings,
                                                                     redis_connection=app.extensions["services"].redis)
    app.register_blueprint(metrics.bp)
    register_hospital_routes(app, [health.bp, line_webhook.bp, livedesk_webhook.bp, sms_webhooks.bp,
                                   appointments_api.bp], registry_mode=bool(settings.hospitals_dir))
    # Only when asked: with it off no /sandbox route (and no /) exists. A command using a running
    # sandbox talks to that server's simulators: it serves none itself.
    if settings.sandbox and not found.used:
        from handlers.sandbox import register_sandbox
        register_sandbox(app)
    register_error_handlers(app)
    _log_requests(app)
    app.cli.add_command(bot_cli)
    app.cli.add_command(moph_cli)
    app.cli.add_command(sms_cli)
    app.cli.add_command(line_cli)
    app.cli.add_command(handoff_cli)
    app.cli.add_command(doctor)
    app.cli.add_command(pdpa_cli)
    app.cli.add_command(hospitals_cli)

    missing = settings.missing_for("line")
    if missing and not settings.hospitals_dir:  # several hospitals: each one's at /readyz
        logging.getLogger("bot").warning(
            "LINE is not configured yet (%s): the webhook answers 503 until it is", ", ".join(missing))
    return app


def wsgi_app() -> Flask:
    """``wsgi.py``'s app. Malformed settings stop a server importing it with the one block and exit
    status 2; under the ``flask`` command they give an app that can do one thing: ``flask doctor``
    shows them as its table's rows, and every other command prints the block and exits 2."""
    try:
        return create_app()
    except SettingsError as exc:
        from workers.start_up import redis_problems_despite

        problems = exc.problems or [Problem("settings", str(exc))]
        problems += redis_problems_despite(problems)
        if click.get_current_context(silent=True) is None:  # a server (gunicorn), not the flask command
            exit_with(problems)
        return _settings_problems_app(problems)


class _SettingsProblems(AppGroup):
    """The commands of an app whose settings cannot be read."""

    def __init__(self, problems: list[Problem]):
        super().__init__()
        self.problems = problems

    def list_commands(self, ctx) -> list[str]:
        return ["doctor"]

    def get_command(self, ctx, name: str) -> click.Command:
        from handlers.doctor_cli import settings_doctor

        if name == "doctor":
            return settings_doctor(self.problems)
        block = problems_block(self.problems)

        @click.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
        def refuse() -> None:
            click.echo(block, err=True)
            raise click.exceptions.Exit(2)

        return refuse


def _settings_problems_app(problems: list[Problem]) -> Flask:
    app = Flask(__name__)
    app.cli = _SettingsProblems(problems)

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def _not_configured(path):  # `flask run` with malformed settings: nothing is served
        return "The service's settings need fixing: run flask doctor\n", 503

    return app


def _log_requests(app: Flask) -> None:
    """One access-log line per request, naming the route pattern, never the path itself.

    Webhook paths carry secret tokens (``/webhooks/livedesk/<token>``), so the
    server's own access log (which prints raw paths) is off in the Procfile.
    """
    access = logging.getLogger("access")

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _log(response):
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        access.info("%s %s %s %.1fms", request.method, rule, response.status_code,
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000)
        return response
