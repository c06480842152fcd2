"""``flask --app wsgi doctor``: the configuration and one harmless call per provider, as a table.

Exit status 2 when the service would not start (a malformed setting: then the settings are the
table's only rows; a Redis that does not answer), 1 when something else needs fixing (a skipped,
unconfigured provider is not a failure, except LINE: without it nothing works). The checks are in
``workers/doctor.py``.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from handlers.cli_output import echo
from handlers.services import get_services, hospital_option
from workers.doctor import embedded_redis_for_the_run, run_checks, settings_checks

MARKS = {True: "ok", False: "FAIL", None: "-"}


@hospital_option
@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check the configuration and every provider (LINE, Oho, LiveDesk, SMS credit, MOPH token)."""
    services = get_services()
    with embedded_redis_for_the_run(services.settings):
        checks = run_checks(services)
    print_table(checks)


def settings_doctor(problems) -> click.Command:
    """``doctor`` when the settings are malformed: each problem a row (nothing else can be checked yet)."""

    @click.command("doctor")
    def doctor_of_problems() -> None:
        """Check the configuration (its settings cannot be read: they are listed)."""
        print_table(settings_checks(problems), note="the providers are checked once the settings are fixed")

    return doctor_of_problems


def print_table(checks, note: str = "") -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        line = f"{MARKS[check.ok]:<4}  {check.name:<{width}}  {check.detail}"
        echo(line + (f"  -> {check.fix}" if check.fix and check.ok is not True else ""))
    failed = [c for c in checks if c.ok is False]
    echo(f"{sum(c.ok is True for c in checks)} ok, {len(failed)} to fix, "
         f"{sum(c.ok is None for c in checks)} skipped." + (f" ({note})" if note else ""))
    if any(c.stops_start for c in failed):
        raise click.exceptions.Exit(2)
    if failed:
        raise click.exceptions.Exit(1)
