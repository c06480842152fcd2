"""Staff commands for data subjects' requests (PDPA): ``flask pdpa erase PATIENT``.

    flask --app wsgi pdpa erase 0812345678        (the phone number the patient verified)
    flask --app wsgi pdpa erase …5a5a             (the short id `flask handoff list` prints)
    flask --app wsgi pdpa erase U0123456789abcdef0123456789abcdef   (the LINE user id)

Finds the patient (``workers/patient_lookup.py``; several matches are listed, and nothing is done),
shows what will be removed, asks (``--yes`` does not), closes an open handoff first as
``flask handoff close`` does, then erases what this service keeps (``workers/pdpa.py`` lists what,
and what is kept for another duty) and prints what it removed. The staff chat in LiveDesk and Oho
is the hospital's record there, erased (or not) under its own retention.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bot.privacy import mask
from handlers.cli_output import CliError, echo
from handlers.handoff_cli import handoff_service
from handlers.services import get_services, hospital_option
from integrations.errors import ProviderError
from workers.handoff.staff_commands import ClosingNotPosted, close_before_erasure
from workers.handoff.store import open_handoffs
from workers.patient_lookup import NotUnderstood, find_patients
from workers.pdpa import erase_user, stored_about
from workers.verification.store import verified_phone

pdpa_cli = hospital_option(AppGroup("pdpa", help="Data subjects' requests (PDPA)."))

#: Characters of the LINE user id shown when several patients match: enough to tell them apart.
LONG_MASK = 8


@pdpa_cli.command("erase")
@click.argument("patient")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def erase(patient: str, yes: bool) -> None:
    """Erase what is stored about PATIENT: a phone number, the short id of `flask handoff list`
    (…5a5a) or the LINE user id. Shows what will go and asks first."""
    services = get_services()
    connection, prefix = services.redis, services.hospital.prefix
    user = _one_patient(connection, patient, prefix)
    state = dict(open_handoffs(connection, prefix=prefix)).get(user)
    phone = verified_phone(connection, user, prefix=prefix)
    echo(f"patient {mask(user)}" + (f" · phone {mask(phone)}" if phone else "")
         + (f" · handoff open{' (URGENT)' if state.urgent else ''}" if state else ""))
    stored = stored_about(connection, user, prefix=prefix)
    if not stored:
        echo("Nothing was stored about this patient (or it was erased already).")
        return
    echo("Will be removed:")
    for line in stored:
        echo(f"  - {line}")
    if state is not None:
        echo("Its open handoff is closed first, as `flask handoff close` does: the patient is told, the closing "
             "note goes to LiveDesk and the Oho chat is closed.")
    _confirmed(yes)
    if state is not None:
        _close_first(services, user, state)
    removed = erase_user(connection, user, on_request=True, prefix=prefix)
    echo("Removed:" if removed else "Nothing was stored about this patient any more.")
    for line in removed:
        echo(f"  - {line}")


def _one_patient(connection, given: str, prefix: str) -> str:
    try:
        found = find_patients(connection, given, prefix=prefix)
    except NotUnderstood as exc:
        raise click.BadParameter(str(exc), param_hint="PATIENT") from None
    if not found.users:
        raise CliError(f"no patient found by that {found.by}: nothing was erased")
    if len(found.users) > 1:
        for user in found.users:
            phone = verified_phone(connection, user, prefix=prefix)
            echo(f"  {mask(user, LONG_MASK)}" + (f"  phone {mask(phone)}" if phone else ""))
        raise CliError(f"{len(found.users)} patients match that {found.by}: nothing was erased. Give more "
                       f"characters of the one meant (e.g. {mask(found.users[0], LONG_MASK)}).")
    return found.users[0]


def _confirmed(yes: bool) -> None:
    if yes:
        return
    try:
        agreed = click.confirm("Erase it now? This cannot be undone", default=False)
    except click.Abort:  # no terminal and no answer (a script, a pipe): never erase unasked
        echo()
        raise CliError("nothing was erased: no one answered. Run it in a terminal, or add --yes.") from None
    if not agreed:
        raise CliError("nothing was erased.")


def _close_first(services, user: str, state) -> None:
    try:
        close_before_erasure(handoff_service(services), user, state)
    except (ProviderError, ClosingNotPosted) as exc:
        raise CliError(f"the handoff is closed for the bot, but {exc}: nothing was erased. Run the erasure again "
                       "once it answers; if the Oho chat is still with an agent, close it in Oho.") from None
    echo(f"closed the handoff of {mask(user)}: the patient was told, the closing note is in LiveDesk, "
         "the Oho chat is closed.")
