"""Staff commands for LINE: what was set aside and putting it back, and the rich menu.

    flask --app wsgi line dead-events
    flask --app wsgi line replay EVENT_ID... | --all
    flask --app wsgi line richmenu install [--image FILE]
    flask --app wsgi line richmenu show

User ids are printed masked (…1a2b); event ids are LINE's ``webhookEventId``, which say
nothing about the patient. The logic is in ``workers/line/dead_events.py`` and
``workers/line/richmenu.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import AppGroup

from bot.knowledge import KnowledgeError
from bot.privacy import mask
from bot.richmenu import is_ours
from bot.thai_dates import BANGKOK
from handlers.cli_output import CliError, echo, not_configured
from handlers.services import get_services, hospital_option
from integrations.errors import ProviderError
from workers.line import richmenu as menus
from workers.line.dead_events import UnknownDeadEvents, dead_events, replay

line_cli = hospital_option(AppGroup("line", help="LINE: set-aside events, replays, the rich menu."))


def when(epoch: float | None) -> str:
    if epoch is None:
        return "?"
    return dt.datetime.fromtimestamp(epoch, BANGKOK).strftime("%Y-%m-%d %H:%M:%S")


@line_cli.command("dead-events")
def list_dead_events() -> None:
    """List the LINE events set aside (newest first): when, id, user (masked), type, reason."""
    services = get_services()
    events = dead_events(services.redis, prefix=services.hospital.prefix)
    if not events:
        echo("no set-aside LINE events.")
        return
    echo(f"{'set aside (Bangkok)':<20} {'event id':<28} {'user':<6} {'type':<10} reason")
    for event in events:
        echo(f"{when(event.at):<20} {event.id:<28} {mask(event.user):<6} {event.kind:<10} {event.reason}")
    echo(f"{len(events)} event(s). Replay with `flask line replay EVENT_ID` or `--all`.")


@line_cli.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Replay every set-aside event.")
def replay_events(event_ids: tuple[str, ...], everything: bool) -> None:
    """Put set-aside events back into their users' inboxes (in order, once) and answer them."""
    if bool(event_ids) == everything:
        raise click.UsageError("give the event id(s) from `flask line dead-events`, or --all (not both)")
    services = get_services()
    try:
        replayed = replay(services.redis, None if everything else list(event_ids), prefix=services.hospital.prefix)
    except UnknownDeadEvents as exc:
        raise CliError(f"{exc}; nothing replayed (see `flask line dead-events`)") from None
    users = {event.user for event in replayed}
    for event in replayed:
        echo(f"replayed {event.id} of {mask(event.user)} ({event.kind})")
    echo(f"{len(replayed)} event(s) of {len(users)} user(s) back in their inboxes; a worker answers them.")


@line_cli.group("richmenu")
def richmenu_cli() -> None:
    """The Official Account's rich menu."""


@richmenu_cli.command("install")
@click.option("--image", "image_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PNG or JPEG, 2500x1686, at most 1 MB  [default: the shipped image]")
def install_richmenu(image_file: Path | None) -> None:
    """Create the bot's rich menu, upload its image and make it the default (replaces ours only)."""
    line = _line()
    try:
        name = get_services().hospital_name  # the menu's name says whose it is
        done = menus.install(line, image_file.read_bytes() if image_file else None, hospital_name=name)
    except KnowledgeError as exc:
        raise CliError(str(exc)) from None
    except menus.RichMenuImageError as exc:
        raise CliError(f"{image_file}: {exc}") from None
    except ProviderError as exc:
        raise CliError(f"LINE refused: {exc}") from None
    echo(f"installed rich menu {done.rich_menu_id} as the default.")
    if done.replaced:
        echo(f"deleted {len(done.replaced)} earlier menu(s) of ours: {', '.join(done.replaced)}")
    if done.previous_default:
        echo(f"note: the default was {done.previous_default}, not ours; it is kept, no longer the default.")
    if done.others:
        echo(f"{done.others} other menu(s) left as they are.")


@richmenu_cli.command("show")
def show_richmenu() -> None:
    """Print the rich menus of the channel and which one is the default."""
    try:
        default, found = menus.show(_line())
    except ProviderError as exc:
        raise CliError(f"LINE did not answer: {exc}") from None
    if not found:
        echo("no rich menu installed; run `flask line richmenu install`.")
        return
    for menu in found:
        flags = [f for f, on in (("default", menu["richMenuId"] == default), ("ours", is_ours(menu))) if on]
        size = menu.get("size") or {}
        echo(f"{menu['richMenuId']}  {menu.get('name')!r}  {size.get('width')}x{size.get('height')}  "
             f"{len(menu.get('areas') or [])} button(s)  {' '.join(flags)}")
        for area in menu.get("areas") or []:
            action = area.get("action") or {}
            echo(f"    {action.get('label') or '?'}: {action.get('data') or action.get('uri') or action.get('type')}")
    if default is None:
        echo("no default menu: patients see none until one is set.")


def _line():
    services = get_services()
    if missing := services.settings.missing_for("line"):
        raise not_configured(f"LINE is not configured: set {', '.join(missing)}")
    return services.line
