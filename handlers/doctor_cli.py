"""``flask --app wsgi doctor``: the configuration and one harmless call per provider, as a table.

Exit status 1 when something needs fixing (a skipped, unconfigured provider is not a failure,
except LINE: without it nothing works). The checks are in ``workers/doctor.py``.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from handlers.cli_output import echo
from handlers.services import get_services
from workers.doctor import run_checks

MARKS = {True: "ok", False: "FAIL", None: "-"}


@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check the configuration and every provider (LINE, Oho, LiveDesk, SMS credit, MOPH token)."""
    checks = run_checks(get_services())
    width = max(len(c.name) for c in checks)
    for check in checks:
        line = f"{MARKS[check.ok]:<4}  {check.name:<{width}}  {check.detail}"
        echo(line + (f"  -> {check.fix}" if check.fix and check.ok is not True else ""))
    failed = [c for c in checks if c.ok is False]
    echo(f"{sum(c.ok is True for c in checks)} ok, {len(failed)} to fix, "
         f"{sum(c.ok is None for c in checks)} skipped.")
    if failed:
        raise click.exceptions.Exit(1)
