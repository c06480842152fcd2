"""``flask hospitals …``: the registry of hospitals (``HOSPITALS_DIR``) from a staff member's side."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from bot.hospitals import HOSPITAL_ID, IMPLICIT, Registry, problems_report
from handlers.cli_output import CliError, echo
from workers.adopt import AdoptError, adopt

hospitals_cli = AppGroup("hospitals", help="The hospitals this deployment serves (HOSPITALS_DIR).")


@hospitals_cli.command("check")
@click.argument("directory", required=False)
def check(directory: str | None) -> None:
    """Check every hospital file (of DIRECTORY, else HOSPITALS_DIR): one block of problems per file."""
    settings = current_app.config["SETTINGS"]
    directory = directory or settings.hospitals_dir
    if not directory:
        raise CliError("no HOSPITALS_DIR: this deployment serves one hospital, from its settings")
    registry = Registry(settings, directory)
    for hospital in registry.hospitals():
        echo(f"ok    {hospital.id}  (bot {hospital.bot_user_id[-4:]}; LINE "
             f"{'not configured: ' + ', '.join(m) if (m := hospital.settings.missing_for('line')) else 'ok'})")
    if problems := registry.problems():
        echo(problems_report(problems))
        raise click.exceptions.Exit(1)


@hospitals_cli.command("adopt")
@click.argument("hospital_id")
def adopt_command(hospital_id: str) -> None:
    """Move this deployment's one hospital (its data, queued jobs, reminders) under HOSPITAL_ID, before
    its file in HOSPITALS_DIR is first served. Stop every worker first."""
    if not HOSPITAL_ID.match(hospital_id) or hospital_id == IMPLICIT:
        raise CliError(f"{hospital_id!r}: a hospital id is 1-32 of a-z, 0-9 and - (its file's name)")
    try:
        done = adopt(current_app.extensions["services"].redis, hospital_id)  # the deployment's one Redis
    except AdoptError as exc:
        raise CliError(str(exc)) from None
    echo(f"moved {done.keys} keys and {done.jobs} jobs under hospital {hospital_id} (h:{hospital_id}:)")
