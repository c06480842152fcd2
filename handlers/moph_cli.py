"""Staff commands for MOPH Alert (หมอพร้อม): push an appointment CSV, announce to a CID list.

    flask --app wsgi moph push appointments.csv [--result FILE] [--no-wait] [--timeout 900] [--dry-run]
    flask --app wsgi moph announce --cids cids.txt --message message.json [--chunk-size 10000]
    flask --app wsgi moph notices [--status uncertain|failed]
    flask --app wsgi moph resend NOTICE_ID [--yes]

Workers do the sending (``python -m workers``; ``./dev serve`` and the Procfile start
one). These commands validate, queue, and with ``--wait`` (the default) watch the
statuses in Redis with a progress bar until every notice is sent or has failed.
Nothing printed or written holds a full citizen ID.

``uncertain``: MOPH got the request but no answer came back, so it may have pushed
it. The bot never sends it again by itself: check หมอพร้อม before sending it again.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask.cli import AppGroup
from rq import Worker

from bot.appointments import Appointment, AppointmentError, parse_appointment
from bot.privacy import mask
from bot.settings import SettingsError
from bot.spreadsheet import safe_row
from handlers.cli_output import CliError, echo, not_configured, printable
from handlers.services import get_services, hospital_option
from workers.appointments.announcements import (
    DEFAULT_CHUNK_SIZE,
    AnnouncementError,
    enqueue_announcement,
    read_cids,
    read_messages,
)
from workers.appointments.announcements import status_key as chunk_status_key
from workers.appointments.records import naming_key
from workers.appointments.resend import RESENDABLE, CannotResend, notices_with_status, resend
from workers.appointments.status import PENDING, UNCERTAIN, NoticeStatus, read_statuses, status_key
from workers.queues import BULK_QUEUE

moph_cli = hospital_option(AppGroup("moph", help="Push appointment notices through MOPH Alert (หมอพร้อม)."))

REQUIRED_COLUMNS = ("appointment_id", "cid", "date", "time", "clinic")
RESULT_COLUMNS = ("row", "appointment_id", "cid", "notice", "status", "error", "notice_id")
POLL_SECONDS = 0.5
SHOWN_PROBLEMS = 20


@dataclass
class CsvRow:
    """One data row of an appointment CSV and what became of it."""
    row: int  # as a spreadsheet numbers it: the header is row 1
    appointment_id: str
    cid: str  # masked
    appointment: Appointment | None = None
    errors: dict[str, str] = field(default_factory=dict)
    notice: str = ""
    status: str = "invalid"
    error: str = ""
    notice_id: str = ""


def validate_csv(path: str | Path) -> list[CsvRow]:
    """Parse every row of an appointment CSV; raise ``CliError`` if columns are missing."""
    with open(path, newline="", encoding="utf-8-sig") as file:  # -sig: Excel writes a BOM
        reader = csv.DictReader(file)
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED_COLUMNS if name not in reader.fieldnames]
        if missing:
            raise CliError(f"{path}: missing column(s) {', '.join(missing)}; "
                           f"the header needs {', '.join(REQUIRED_COLUMNS)}")
        rows = []
        for number, record in enumerate(reader, start=2):
            cid = (record.get("cid") or "").replace("-", "").replace(" ", "")
            row = CsvRow(number, (record.get("appointment_id") or "").strip(), mask(cid))
            try:
                row.appointment = parse_appointment(record)
                row.status = "valid"
            except AppointmentError as exc:
                row.errors = exc.errors
                row.error = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
            rows.append(row)
    return rows


@moph_cli.command("push")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--result", "result_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Result CSV to write  [default: <name>.result.csv beside the input]")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Watch the sends until done (a worker must be running).")
@click.option("--timeout", type=click.IntRange(min=1), default=900, show_default=True,
              help="Seconds to wait for the sends.")
@click.option("--dry-run", is_flag=True, help="Only validate the rows and write the result CSV.")
def push(csv_file: Path, result_file: Path | None, wait: bool, timeout: int, dry_run: bool) -> None:
    """Send a notice for every valid row of CSV_FILE (and schedule its reminders).

    Columns: appointment_id, cid, date (YYYY-MM-DD), time (HH:MM), clinic, and optional
    doctor, location, note, status (booked | changed | cancelled). Exit status 1 if a
    row was invalid, a notice failed or is uncertain, or (with --wait) some were still pending.
    """
    services = get_services()
    rows = validate_csv(csv_file)
    result_file = result_file or csv_file.with_name(csv_file.stem + ".result.csv")
    good = [row for row in rows if row.appointment is not None]
    _show_problems([(f"row {r.row} (appointment {r.appointment_id or '?'}, cid {r.cid})", r.error)
                    for r in rows if r.appointment is None])
    echo(f"{len(good)} valid row(s), {len(rows) - len(good)} invalid.")

    if good and not dry_run:
        notices = _configured(lambda: services.appointment_notices)
        for row, done in zip(good, notices.submit([r.appointment for r in good], queue=BULK_QUEUE)):
            row.notice, row.status, row.notice_id = done.kind, done.status, done.notice_id
        queued = {status_key(r.notice_id, services.hospital.prefix): r for r in good
                  if r.status == NoticeStatus.QUEUED}
        echo(f"queued {len(queued)} notice(s); {len(good) - len(queued)} were accepted before "
             "(skipped as duplicates).")
        if wait and queued:
            for key, record in _watch(services.redis, list(queued), timeout, "sending").items():
                queued[key].status, queued[key].error = record["status"], record.get("error") or ""

    _write_result(result_file, rows)
    counts = _count(row.status for row in rows)
    if dry_run:
        echo(f"dry run: {counts['valid']} valid, {counts['invalid']} invalid. Result: {result_file}")
    else:
        echo(f"sent {counts['sent']}, failed {counts['failed']}, uncertain {counts['uncertain']}, "
             f"skipped {counts['skipped']}, invalid {counts['invalid']}, pending {counts['pending']}. "
             f"Result: {result_file}")
        _warn_uncertain(counts["uncertain"], "notice(s)")
    if counts["invalid"] or counts["failed"] or counts["uncertain"] or (wait and counts["pending"]):
        raise click.exceptions.Exit(1)


@moph_cli.command("announce")
@click.option("--cids", "cids_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One CID per line, or a CSV with a 'cid' column.")
@click.option("--message", "message_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON: one LINE message object or a list of up to 5.")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=DEFAULT_CHUNK_SIZE, show_default=True,
              help="CIDs per upload (one job each).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Watch the uploads until done (a worker must be running).")
@click.option("--timeout", type=click.IntRange(min=1), default=900, show_default=True)
def announce(cids_file: Path, message_file: Path, chunk_size: int, wait: bool, timeout: int) -> None:
    """Send one message to every valid CID of a file (MOPH delivers 3-10 minutes after upload).

    Invalid CIDs are reported and skipped; announcing the same list and message again sends nothing.
    """
    services = get_services()
    try:
        messages = read_messages(message_file)
        cid_list = read_cids(cids_file)
    except AnnouncementError as exc:
        raise CliError(str(exc)) from None
    _show_problems([(f"line {line} ({value})", "not a valid citizen ID") for line, value in cid_list.invalid])
    echo(f"{len(cid_list.cids)} CID(s) to send to; {len(cid_list.invalid)} invalid and "
         f"{cid_list.repeated} repeated skipped.")
    if not cid_list.cids:
        raise CliError("no valid citizen ID in the file")
    key = _configured(lambda: naming_key(services.settings))

    chunks = enqueue_announcement(services.redis, key, cid_list.cids, messages, chunk_size=chunk_size,
                                  upload="csv" if cid_list.from_csv else "json", prefix=services.hospital.prefix)
    statuses = {chunk_status_key(c.chunk_id, services.hospital.prefix): c.status for c in chunks}
    queued = [key for key, status in statuses.items() if status == NoticeStatus.QUEUED]
    echo(f"queued {len(queued)} of {len(chunks)} chunk(s); the others were announced before.")
    if wait and queued:
        statuses.update({key: r["status"] for key, r in _watch(services.redis, queued, timeout,
                                                                 "uploading").items()})
    counts = _count(statuses.values())
    echo(f"chunks sent {counts['sent']}, failed {counts['failed']}, uncertain {counts['uncertain']}, "
         f"skipped {counts['skipped']}, pending {counts['pending']}.")
    _warn_uncertain(counts["uncertain"], "chunk(s)")
    if counts["failed"] or counts["uncertain"] or (wait and counts["pending"]):
        raise click.exceptions.Exit(1)


@moph_cli.command("notices")
@click.option("--status", "statuses", type=click.Choice(RESENDABLE), multiple=True,
              help="Which notices  [default: uncertain and failed]")
def notices(statuses: tuple[str, ...]) -> None:
    """List the notices that need a person: uncertain (check หมอพร้อม) or failed."""
    services = get_services()
    found = notices_with_status(services.redis, statuses or RESENDABLE, prefix=services.hospital.prefix)
    if not found:
        echo(f"no {' or '.join(statuses or RESENDABLE)} notice in the last 30 days.")
        return
    for n in found:
        echo(f"{n.updated_at:<26} {n.status:<10} {n.kind:<10} appointment {mask(n.appointment_id):<6} "
             f"cid {n.cid:<6} {n.notice_id}  {n.error}")
    echo(f"{len(found)} notice(s). After checking หมอพร้อม: `flask moph resend NOTICE_ID`.")


@moph_cli.command("resend")
@click.argument("notice_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def resend_notice(notice_id: str, yes: bool) -> None:
    """Send an uncertain or failed notice again, after a person checked หมอพร้อม that it did not arrive."""
    services = get_services()
    notices_service = _configured(lambda: services.appointment_notices)
    if not yes:
        click.confirm(printable(f"Send notice {notice_id} again? An uncertain notice may have reached the "
                                "patient already: check หมอพร้อม first."), abort=True)
    try:
        done = resend(notices_service, notice_id)
    except CannotResend as exc:
        raise CliError(str(exc)) from None
    echo(f"queued {done.kind} notice {notice_id} (appointment {mask(done.appointment_id)}, cid {done.cid}) "
         "again; `flask moph notices` shows it while it is not sent.")


def _configured(build):
    """``build()`` once MOPH Alert is configured; a ``ClickException`` saying what is missing otherwise."""
    try:
        get_services().settings.require("moph")
        return build()
    except SettingsError as exc:
        raise not_configured(str(exc)) from None


def _warn_uncertain(count: int, what: str) -> None:
    if count:
        echo(f"{count} {what} uncertain: MOPH may have pushed them but never answered. They are not "
             "sent again; check หมอพร้อม before sending them again.", err=True)


def _watch(redis, keys: list[str], timeout: int, label: str) -> dict[str, dict]:
    """Poll the status records under ``keys`` with a progress bar until none is pending or time is up."""
    if Worker.count(connection=redis) == 0:
        echo("warning: no worker is running; start one with `python -m workers`.", err=True)
    latest: dict[str, dict] = {}
    pending = list(keys)
    deadline = time.monotonic() + timeout
    try:
        with click.progressbar(length=len(keys), label=label) as bar:
            while pending:
                still = []
                for key, record in zip(pending, read_statuses(redis, pending)):
                    if record:
                        latest[key] = record
                    if record and record["status"] not in PENDING:
                        bar.update(1)
                    else:
                        still.append(key)
                pending = still
                if pending and time.monotonic() >= deadline:
                    break
                if pending:
                    time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:  # stop watching, still write the result; the worker goes on sending
        echo("\nstopped watching; queued notices are still being sent.", err=True)
    return latest


def _count(statuses) -> dict[str, int]:
    counts = {"sent": 0, "failed": 0, UNCERTAIN: 0, "skipped": 0, "invalid": 0, "pending": 0, "valid": 0}
    for status in statuses:
        if status.startswith("skipped"):
            counts["skipped"] += 1
        elif status in PENDING:
            counts["pending"] += 1
        elif status in counts:
            counts[status] += 1
    return counts


def _show_problems(problems: list[tuple[str, str]]) -> None:
    for where, what in problems[:SHOWN_PROBLEMS]:
        echo(f"{where}: {what}", err=True)
    if len(problems) > SHOWN_PROBLEMS:
        echo(f"… and {len(problems) - SHOWN_PROBLEMS} more (see the result file).", err=True)


def _write_result(path: Path, rows: list[CsvRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as file:
        writer = csv.writer(file)
        writer.writerow(RESULT_COLUMNS)
        for r in rows:
            writer.writerow(safe_row((r.row, r.appointment_id, r.cid, r.notice, r.status, r.error, r.notice_id)))
