"""``flask hospitals …``: the registry of hospitals (``HOSPITALS_DIR``) from a staff member's side."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from bot.hospitals import HOSPITAL_ID, IMPLICIT, Registry
from bot.knowledge import KnowledgeBase, KnowledgeError
from handlers.cli_output import CliError, echo
from workers.adopt import AdoptError, adopt

hospitals_cli = AppGroup("hospitals", help="The hospitals this deployment serves (HOSPITALS_DIR).")


@hospitals_cli.command("check")
@click.argument("directory", required=False)
def check(directory: str | None) -> None:
    """Check every hospital file (of DIRECTORY, else HOSPITALS_DIR) and the knowledge base it names: one
    block of problems per file."""
    settings = current_app.config["SETTINGS"]
    directory = directory or settings.hospitals_dir
    if not directory:
        raise CliError("no HOSPITALS_DIR: this deployment serves one hospital, from its settings")
    registry = Registry(settings, directory)
    unreadable = 0
    for hospital in registry.hospitals():
        try:  # what a worker reads at its start: a mistake here would stop this hospital's answers
            KnowledgeBase.load(hospital.settings.bot_knowledge_file)
        except (KnowledgeError, OSError) as exc:
            echo(f"fix   {hospital.id}  its knowledge base cannot be read: {exc}")
            unreadable += 1
            continue
        echo(f"ok    {hospital.id}  (bot {hospital.bot_user_id[-4:]}; LINE "
             f"{'not configured: ' + ', '.join(m) if (m := hospital.settings.missing_for('line')) else 'ok'})")
    for hospital_id in registry.disabled():
        echo(f"off   {hospital_id}  (enabled = false: its webhooks answer 503, its queued work waits)")
    if registry.problems():
        echo(registry.problems_report())
    if registry.problems() or unreadable:
        raise click.exceptions.Exit(1)


@hospitals_cli.command("adopt")
@click.argument("hospital_id")
def adopt_command(hospital_id: str) -> None:
    """Move this deployment's one hospital (its data, queued jobs, reminders) under HOSPITAL_ID, before
    its file in HOSPITALS_DIR is first served. Stop every process first (or the web behind a 503)."""
    if not HOSPITAL_ID.match(hospital_id) or hospital_id == IMPLICIT:
        raise CliError(f"{hospital_id!r}: a hospital id is 1-32 of a-z, 0-9 and - (its file's name)")
    try:
        done = adopt(current_app.extensions["services"].redis, hospital_id)  # the deployment's one Redis
    except AdoptError as exc:
        raise CliError(str(exc)) from None
    echo(f"moved {done.keys} keys and {done.jobs} jobs under hospital {hospital_id} (h:{hospital_id}:)")
