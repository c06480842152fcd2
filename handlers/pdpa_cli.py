"""Staff commands for data subjects' requests (PDPA): ``flask pdpa erase <LINE user id>``.

    flask --app wsgi pdpa erase U0123456789abcdef0123456789abcdef

Erases what this service keeps about that LINE user (``workers/pdpa.py`` lists what, and what is
kept for another duty) and prints what it removed. The staff chat in LiveDesk and Oho is the
hospital's record there, erased (or not) under its own retention.
"""

from __future__ import annotations

import re

import click
from flask.cli import AppGroup

from handlers.cli_output import echo
from handlers.services import get_services
from workers.pdpa import erase_user

pdpa_cli = AppGroup("pdpa", help="Data subjects' requests (PDPA).")

_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")


@pdpa_cli.command("erase")
@click.argument("line_user_id")
def erase(line_user_id: str) -> None:
    """Erase what is stored about LINE_USER_ID (U + 32 hex) and print what was removed."""
    if not _LINE_USER_ID.match(line_user_id):
        raise click.BadParameter("a LINE user id is U followed by 32 hex digits", param_hint="LINE_USER_ID")
    removed = erase_user(get_services().redis, line_user_id, on_request=True)
    if not removed:
        echo("Nothing was stored about this user.")
        return
    echo("Removed:")
    for line in removed:
        echo(f"  - {line}")
