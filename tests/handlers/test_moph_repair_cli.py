"""``flask moph notices`` / ``resend``: real Redis and RQ worker, MOPH Alert stubbed with ``responses``."""

from __future__ import annotations

import pytest
import requests

from bot.appointments import parse_appointment
from tests.conftest import make_settings
from tests.moph_support import CIDS, MOPH_SETTINGS, SEND_NOW, appointment_row, moph, work  # noqa: F401
from workers.appointments.status import read_statuses, status_key


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, **MOPH_SETTINGS)


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def submit(services, redis, *rows) -> list[str]:
    done = services.appointment_notices.submit([parse_appointment(row) for row in rows])
    work(redis)
    return [d.notice_id for d in done]


def status(redis, notice_id) -> str:
    return read_statuses(redis, [status_key(notice_id)])[0]["status"]


def test_notices_with_none(cli, redis):
    result = cli.invoke(args=["moph", "notices"])
    assert result.exit_code == 0 and "no uncertain or failed notice" in result.output


@pytest.mark.usefixtures("jobs_here")
def test_notices_lists_uncertain_and_failed_masked(cli, services, redis, moph):
    moph.replace("POST", SEND_NOW, body=requests.ReadTimeout("read timed out"))
    [uncertain] = submit(services, redis, appointment_row("HN-778899", CIDS[1]))
    moph.replace("POST", SEND_NOW, json={"message": "invalid cid", "message_code": 400}, status=400)
    [failed] = submit(services, redis, appointment_row("HN-112233", CIDS[2]))
    assert (status(redis, uncertain), status(redis, failed)) == ("uncertain", "failed")

    both = cli.invoke(args=["moph", "notices"])
    assert both.exit_code == 0 and uncertain in both.output and failed in both.output
    assert CIDS[1] not in both.output and "HN-778899" not in both.output and "…8899" in both.output
    only = cli.invoke(args=["moph", "notices", "--status", "failed"])
    assert failed in only.output and uncertain not in only.output
    bad = cli.invoke(args=["moph", "notices", "--status", "sent"])
    assert bad.exit_code == 2 and "'uncertain', 'failed'" in bad.output


@pytest.mark.usefixtures("jobs_here")
def test_resend_asks_then_sends_once_more(cli, services, redis, moph):
    moph.replace("POST", SEND_NOW, body=requests.ReadTimeout("read timed out"))
    [notice] = submit(services, redis, appointment_row("A-1", CIDS[3]))
    assert len(moph.calls(SEND_NOW)) == 1

    declined = cli.invoke(args=["moph", "resend", notice], input="n\n")
    assert declined.exit_code == 1 and "check หมอพร้อม first" in declined.output
    assert status(redis, notice) == "uncertain"

    moph.replace("POST", SEND_NOW, json={"message": "", "message_code": 200})
    result = cli.invoke(args=["moph", "resend", notice], input="y\n")
    assert result.exit_code == 0, result.output
    assert "queued" in result.output and CIDS[3] not in result.output
    assert status(redis, notice) == "queued"
    work(redis)
    assert status(redis, notice) == "sent" and len(moph.calls(SEND_NOW)) == 2
    again = cli.invoke(args=["moph", "resend", notice, "--yes"])
    assert again.exit_code == 1 and "only uncertain or failed notices are resent" in again.output
    assert len(moph.calls(SEND_NOW)) == 2


@pytest.mark.usefixtures("jobs_here")
def test_resend_refuses_a_notice_whose_appointment_changed(cli, services, redis, moph):
    moph.replace("POST", SEND_NOW, json={"message": "down", "message_code": 400}, status=400)
    [old] = submit(services, redis, appointment_row("A-2", CIDS[4]))
    moph.replace("POST", SEND_NOW, json={"message": "", "message_code": 200})
    submit(services, redis, appointment_row("A-2", CIDS[4], time="14:00"))
    result = cli.invoke(args=["moph", "resend", old, "--yes"])
    assert result.exit_code == 1 and "the appointment changed since this notice" in result.output


def test_resend_of_an_unknown_notice(cli, redis):
    result = cli.invoke(args=["moph", "resend", "booked_booked_nosuch", "--yes"])
    assert result.exit_code == 1 and "no notice booked_booked_nosuch" in result.output
