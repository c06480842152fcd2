"""The services of a request or a command: Flask's ``get_db()`` habit, in one function."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask import current_app, g

from bot.hospitals import IMPLICIT

if TYPE_CHECKING:
    from workers.services import Services


def get_services() -> Services:
    """The services of the request's hospital (its path: ``handlers/hospital_routes.py``) or the
    command's (``--hospital``); else those ``create_app`` built (or was handed) for the one implicit
    hospital."""
    services = g.get("hospital_services")
    if services is not None:
        return services
    hospitals = current_app.extensions.get("hospitals")
    command = click.get_current_context(silent=True)
    asked = command.meta.get("hospital") if command is not None else None
    if hospitals is not None and command is not None:  # a staff command of a deployment serving several
        g.hospital_services = hospital_for_command(hospitals, asked)
        return g.hospital_services
    if asked and asked != IMPLICIT:
        raise click.UsageError(f"--hospital {asked}: this deployment serves one hospital (no HOSPITALS_DIR)")
    return current_app.extensions["services"]


def hospital_for_command(hospitals, hospital_id: str | None) -> Services:
    served = [h.id for h in hospitals.registry.hospitals()]
    if not hospital_id:
        raise click.UsageError(f"this deployment serves several hospitals: say which with --hospital "
                               f"(one of: {', '.join(served) or 'none served now'})")
    services = hospitals.get(hospital_id)
    if services is None:
        problems = hospitals.registry.problems().get(hospital_id)
        why = "its file has problems (see flask hospitals check)" if problems else "no such hospital"
        raise click.UsageError(f"hospital {hospital_id!r}: {why} (served: {', '.join(served) or 'none'})")
    return services


def _remember_hospital(ctx: click.Context, param, value):
    if value:
        ctx.meta["hospital"] = value
    return value


def hospital_option(command: click.Command) -> click.Command:
    """``--hospital ID`` on a command or a group of them (the file's name in HOSPITALS_DIR); needed
    where the deployment serves several hospitals, unknown otherwise."""
    command.params.append(click.Option(["--hospital"], metavar="ID", expose_value=False, is_eager=True,
                                       callback=_remember_hospital,
                                       help="Which hospital (a deployment serving several: its id in HOSPITALS_DIR)"))
    return command
