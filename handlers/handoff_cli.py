"""Staff commands for handoffs: which patients are with staff, and closing one by hand.

    flask --app wsgi handoff list
    flask --app wsgi handoff close USER      (the full LINE user id, or its end as the list prints it)

The logic is in ``workers/handoff/staff_commands.py``.
"""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from bot.otp import OtpKeyMissing
from bot.privacy import mask
from handlers.cli_output import CliError, echo, not_configured
from handlers.services import get_services, hospital_option
from workers.handoff.staff_commands import HandoffNotFound, close_by_hand, find_open
from workers.handoff.store import open_handoffs

handoff_cli = hospital_option(AppGroup("handoff", help="Chats handed to staff (Oho Chat / LiveDesk)."))


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@handoff_cli.command("list")
def list_handoffs() -> None:
    """Open handoffs, longest open first: user (masked), since when, whether an agent has answered."""
    from handlers.line_cli import when

    services = get_services()
    handoffs = open_handoffs(services.redis, prefix=services.hospital.prefix)
    if not handoffs:
        echo("no open handoff: the bot answers everyone.")
        return
    now = time.time()
    echo(f"{'user':<6} {'open since (Bangkok)':<20} {'for':<12} {'reason':<10} agent")
    for user, state in handoffs:
        agent = "answered" if state.agent_answered else "WAITING for an agent"
        echo(f"{mask(user):<6} {when(state.since):<20} {_age(now - state.since):<12} {state.reason:<10} "
             f"{agent}{' (urgent)' if state.urgent else ''}")
    echo(f"{len(handoffs)} open. Close one with `flask handoff close …abcd`.")


def handoff_service(services):
    """The handoff's service, or the error saying what it needs."""
    try:
        return services.handoff
    except OtpKeyMissing as exc:
        raise not_configured(f"the handoff is not configured: {exc}") from None


@handoff_cli.command("close")
@click.argument("user")
def close_handoff(user: str) -> None:
    """Close USER's handoff: the bot answers again, the patient is told, Oho's chat is closed."""
    services = get_services()
    try:
        found, state = find_open(services.redis, user, prefix=services.hospital.prefix)
    except HandoffNotFound as exc:
        raise CliError(str(exc)) from None
    queued = close_by_hand(handoff_service(services), found, state)
    echo(f"closed the handoff of {mask(found)}: the bot answers from the next message.")
    if queued:
        echo("a worker now closes the Oho chat and tells the patient.")
    else:
        echo("its closing job was queued before; if the Oho chat stays open, see `rq info` (failed jobs).",
             err=True)
