"""The page's own endpoints: what a person does, and clear 4xx answers for what makes no sense."""

from __future__ import annotations

from handlers.sandbox.people import PATIENTS
from tests.support import wait_for


def test_bad_input_is_refused_with_a_reason(sandbox):
    for path, body, status in [
        ("/sandbox/ui/patients/nobody/messages", {"text": "hi"}, 404),
        (f"/sandbox/ui/patients/{PATIENTS[0].key}/messages", {"text": "   "}, 400),
        (f"/sandbox/ui/patients/{PATIENTS[0].key}/messages", {"postback": ""}, 400),
        ("/sandbox/ui/desk/999/messages", {"content": "x"}, 404),
        ("/sandbox/ui/desk/999/resolve", {}, 404),
    ]:
        answer = sandbox.post(path, json=body)
        assert answer.status_code == status and answer.json()["error"], path
    no_columns = sandbox.post("/sandbox/ui/his/upload", files={"file": ("a.csv", b"cid,date\n1,2\n", "text/csv")})
    assert no_columns.status_code == 400 and "appointment_id" in no_columns.json()["error"]
    assert sandbox.post("/sandbox/ui/his/upload").status_code == 400
    assert sandbox.get("/healthz").status_code == 200  # still healthy


def test_the_his_api_form_posts_to_the_real_appointments_api(sandbox):
    patient = PATIENTS[2]
    body = ('[{"appointment_id": "T-1", "cid": "%s", "date": "2027-01-05", "time": "09:00", "clinic": "OPD"},'
            ' {"appointment_id": "T-2", "cid": "123", "date": "2027-01-05", "time": "09:00", "clinic": "OPD"}]'
            % patient.cid)
    answer = sandbox.post("/sandbox/ui/his/api", data=body, headers={"Content-Type": "application/json"})
    assert answer.json()["status"] == 400  # all or nothing: the API refuses the batch with the bad CID
    upload = sandbox.store.items("his:uploads")[-1]
    assert [(r["appointment_id"], r["status"]) for r in upload["rows"]] == [("T-2", "invalid")]
    answer = sandbox.post("/sandbox/ui/his/api", data=body.split(", {")[0] + "]",
                          headers={"Content-Type": "application/json"})
    assert answer.json()["status"] == 202
    row = sandbox.store.items("his:uploads")[-1]["rows"][0]
    assert row["status"] == "queued" and row["notice_id"]
    state = wait_for(lambda: sandbox.get("/sandbox/ui/state").json()["panels"], what="the page state")
    assert "T-1" in state["his"] and "queued" in state["his"]


def test_the_desk_follows_the_selected_patient(sandbox):
    from integrations.livedesk import LiveDeskClient

    somchai, malee = PATIENTS[0], PATIENTS[1]
    desk = LiveDeskClient.from_settings(sandbox.settings, sleep=lambda _: None)
    inbox = sandbox.settings.livedesk_inbox_id
    contact = desk.create_contact(inbox, malee.name)
    old = desk.create_conversation(inbox, contact_id=contact)
    assert sandbox.post(f"/sandbox/ui/desk/{old}/resolve").status_code == 200
    current = desk.create_conversation(inbox, contact_id=contact)
    desk.create_conversation(inbox, contact_id=desk.create_contact(inbox, PATIENTS[2].name))  # the latest: John's

    def desk_of(patient, conversation=""):
        return sandbox.get("/sandbox/ui/state", params={"patient": patient.key, "conversation": conversation}
                           ).json()["panels"]

    shown = desk_of(malee)
    assert shown["conversation"] == str(current) and f"#{current}" in shown["desk-messages"]  # her open one
    shown = desk_of(somchai)  # no conversation of his: none, not John's or Malee's
    assert shown["conversation"] == "" and "ยังไม่มีบทสนทนากับเจ้าหน้าที่" in shown["desk-messages"]
    assert desk_of(somchai, str(old))["conversation"] == str(old)  # a conversation picked in the list stays


def test_the_state_sends_only_what_changed(sandbox):
    """A poll that finds nothing new is a 304 without a body; otherwise only the changed panels come."""
    somchai = PATIENTS[0]
    params = {"patient": somchai.key, "conversation": ""}
    first = sandbox.get("/sandbox/ui/state", params=params)
    assert first.status_code == 200 and first.headers["ETag"]
    everything = first.json()
    assert set(everything["panels"]) == set(everything["digests"]) >= {"chat", "his", "moph", "desk-messages"}

    same = sandbox.get("/sandbox/ui/state", params=params, headers={"If-None-Match": first.headers["ETag"]})
    assert same.status_code == 304 and same.content == b""
    known = ",".join(everything["digests"].values())
    nothing_new = sandbox.get("/sandbox/ui/state", params={**params, "known": known})
    assert nothing_new.status_code == 200 and nothing_new.json()["panels"] == {}

    assert sandbox.post(f"/sandbox/ui/patients/{somchai.key}/messages", json={"text": "สวัสดี"}).status_code == 202
    changed = sandbox.get("/sandbox/ui/state", params={**params, "known": known},
                          headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    assert "สวัสดี" in changed.json()["panels"]["chat"]
    assert "moph" not in changed.json()["panels"] and "his" not in changed.json()["panels"]  # unchanged: not sent

    for bad in ("x" * 2000, "<script>", "ABC"):
        assert sandbox.get("/sandbox/ui/state", params={**params, "known": bad}).status_code == 400


def test_a_json_body_that_is_no_object_is_a_400(sandbox):
    for path in (f"/sandbox/ui/patients/{PATIENTS[0].key}/messages", "/sandbox/ui/desk/1/messages"):
        answer = sandbox.post(path, json=["text", "hi"])
        assert answer.status_code == 400 and answer.json()["error"], path


def test_the_his_summary_follows_the_rows_and_speaks_thai_first(sandbox, run_worker):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[3] / "handlers" / "sandbox" / "static" / "sample_appointments.csv"
    answer = sandbox.post("/sandbox/ui/his/upload", files={"file": ("sample.csv", sample.read_bytes(), "text/csv")})
    assert answer.json() == {"rows": 4, "queued": 3, "invalid": 1}  # the endpoint's answer is unchanged
    his = sandbox.get("/sandbox/ui/state").json()["panels"]["his"]
    assert "4 แถว: รอส่ง 3, ไม่ถูกต้อง 1" in his
    assert "เลขบัตรประชาชนไม่ถูกต้อง (check digit does not match)" in his

    def summary_after_sending():
        run_worker()
        panel = sandbox.get("/sandbox/ui/state").json()["panels"]["his"]
        return panel if "4 แถว: ส่งแล้ว 3, ไม่ถูกต้อง 1" in panel else None
    his = wait_for(summary_after_sending, timeout=30, what="the summary of the sent rows")
    assert "รอส่ง" not in his
