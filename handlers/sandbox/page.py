"""The sandbox page at ``/``: a patient's LINE, the agent desk, the patient's phone, หมอพร้อม, the HIS.

Server-rendered panels; ``sandbox.js`` polls ``/sandbox/ui/state`` and swaps the panels
that changed, and posts what a person does: a patient types or taps (a signed LINE
webhook to ``/callback``), an agent replies, notes or resolves (LiveDesk webhooks), the
HIS uploads a CSV or posts JSON to the real appointments API.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import requests
from flask import Blueprint, Response, jsonify, make_response, render_template, request

from bot.appointments import AppointmentError, parse_appointment
from bot.privacy import mask
from bot.richmenu import BUTTONS, CHAT_BAR_TEXT, rich_menu
from handlers.http_errors import error
from handlers.sandbox import BANNER, livedesk, moph, oho, sms
from handlers.sandbox.access import visitor_has_the_token
from handlers.sandbox.common import hospital_query, secret, service_url, settings, store
from handlers.sandbox.hospitals import choose_hospital, hospital_names, hospital_tabs
from handlers.sandbox.line import (
    patient_follows,
    patient_sends,
    patient_sends_image,
    patient_sends_sticker,
    sent_content,
)
from handlers.sandbox.people import BY_CID, BY_KEY, BY_USER, PATIENTS
from handlers.services import get_services
from workers.appointments.status import read_statuses, status_key
from workers.line.richmenu import default_image

bp = Blueprint("sandbox_page", __name__, template_folder="templates", static_folder="static",
               static_url_path="/sandbox/static")
bp.before_request(visitor_has_the_token)  # the page and every /sandbox/ui request
bp.before_request(choose_hospital)  # serving several hospitals: the one shown (?hospital=)

CSV_COLUMNS = ("appointment_id", "cid", "date", "time", "clinic")
MAX_TEXT = 2000
MAX_CSV_BYTES = 512 * 1024
HIS_TIMEOUT = (3.05, 20.0)
#: Status words as the page shows them, Thai first (the data-status attributes keep the English),
#: in the order the HIS summary lists them.
STATUS = {"sent": "ส่งแล้ว", "queued": "รอส่ง", "retrying": "กำลังลองส่งใหม่", "uncertain": "ไม่แน่ใจว่าส่งแล้ว (ตรวจในหมอพร้อม)",
          "failed": "ส่งไม่สำเร็จ", "skipped-duplicate": "ซ้ำ ไม่ส่ง", "skipped-superseded": "มีนัดใหม่แทน",
          "skipped-cancelled": "นัดยกเลิกแล้ว", "skipped-moved": "เลื่อนนัดแล้ว", "skipped-past": "เลยวันนัดแล้ว",
          "invalid": "ไม่ถูกต้อง", "open": "เปิดอยู่", "pending": "รอ", "snoozed": "พักไว้", "resolved": "ปิดแล้ว"}
KNOWN = re.compile(r"[0-9a-f,]*")
MAX_KNOWN = 1000
SAMPLE_PHOTO = Path(__file__).parent / "static" / "sample_photo.png"


@bp.context_processor
def _words() -> dict:
    return {"STATUS": STATUS, "HOSPITAL_QUERY": hospital_query(), "HOSPITAL_NAMES": hospital_names()}


@bp.get("/")
def index():
    patient = BY_KEY.get(request.args.get("patient", ""), PATIENTS[0])
    return render_template("sandbox/index.html", banner=BANNER, patients=PATIENTS, selected=patient,
                           hospital=get_services().hospital_name,  # the OA's name
                           hospital_id=get_services().hospital.id, hospitals=hospital_tabs(patient),
                           panels=panels(patient, None), richmenu=_rich_menu_areas(), chat_bar=CHAT_BAR_TEXT,
                           sample_json=json.dumps(_sample_api_body(), ensure_ascii=False, indent=2))


@bp.get("/sandbox/richmenu.png")
def richmenu_image():
    """The rich menu's image as it ships, the one ``flask line richmenu install`` uploads."""
    return Response(default_image(), mimetype="image/png", headers={"Cache-Control": "max-age=3600"})


def _rich_menu_areas() -> list[dict]:
    """The installed menu's tap areas, in % of its image, each with the action LINE sends for it."""
    menu = rich_menu()
    width, height = menu["size"]["width"], menu["size"]["height"]
    return [{"action": area["action"], "label": f"{button.label} ({button.subtitle})",
             "left": 100 * area["bounds"]["x"] / width, "top": 100 * area["bounds"]["y"] / height,
             "width": 100 * area["bounds"]["width"] / width, "height": 100 * area["bounds"]["height"] / height}
            for area, button in zip(menu["areas"], BUTTONS)]


@bp.get("/sandbox/ui/state")
def state():
    """The panels that changed: the page polls every 0.7 s, and most polls find nothing new.

    Each panel has a digest; the page sends the ones it shows (``known``) and gets only the
    others. The whole state's digest is the ETag: a poll that finds nothing new is a 304.
    """
    patient = BY_KEY.get(request.args.get("patient", ""), PATIENTS[0])
    conversation = request.args.get("conversation", type=int)
    known = request.args.get("known", "")
    if len(known) > MAX_KNOWN or not KNOWN.fullmatch(known):
        return error(400, "known must be the panels' digests, comma-separated")
    everything = panels(patient, conversation)
    digests = {name: _digest(name, html) for name, html in everything.items()}
    etag = _digest("state", ",".join(f"{name}={value}" for name, value in sorted(digests.items())))
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        held = set(known.split(","))
        response = jsonify(panels={name: html for name, html in everything.items() if digests[name] not in held},
                           digests=digests)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _digest(name: str, text: str) -> str:
    return hashlib.blake2b(f"{name}\0{text}".encode(), digest_size=8).hexdigest()


@bp.post("/sandbox/ui/patients/<key>/messages")
def patient_message(key: str):
    patient = BY_KEY.get(key)
    if patient is None:
        return error(404, "no such sandbox patient")
    body = _json_object()
    text, postback = body.get("text"), body.get("postback")
    if postback is not None:
        if not isinstance(postback, str) or not postback or len(postback) > 300:
            return error(400, "postback data must be text of 1-300 characters")
        patient_sends(patient, postback=postback, display_text=_short(body.get("displayText")))
    elif isinstance(text, str) and text.strip() and len(text) <= MAX_TEXT:
        patient_sends(patient, text=text.strip())
    else:
        return error(400, f"type a message of 1-{MAX_TEXT} characters")
    return jsonify(status="sent"), 202


@bp.post("/sandbox/ui/patients/<key>/events")
def patient_event(key: str):
    """The patient adds the account as a friend, or sends a sticker or an image (the sample photo)."""
    patient = BY_KEY.get(key)
    if patient is None:
        return error(404, "no such sandbox patient")
    kind = _json_object().get("type")
    if kind == "follow":
        patient_follows(patient)
    elif kind == "sticker":
        patient_sends_sticker(patient)
    elif kind == "image":
        patient_sends_image(patient, SAMPLE_PHOTO.read_bytes(), "image/png")
    else:
        return error(400, "type must be follow, sticker or image")
    return jsonify(status="sent"), 202


@bp.get("/sandbox/ui/line-content/<message_id>")
def line_content(message_id: str):
    """An image the patient sent, for their own screen (LINE's content route wants the bot's token)."""
    found = sent_content(message_id) if message_id.isdigit() else None
    if found is None:
        return error(404, "no such content (LINE keeps it for a while only)")
    return found[0], 200, {"Content-Type": found[1], "Cache-Control": "private, max-age=3600"}


@bp.get("/sandbox/ui/desk/attachments/<int:attachment_id>")
def desk_attachment(attachment_id: int):
    found = livedesk.attachment(attachment_id)
    if found is None:
        return error(404, "no such attachment")
    return found[0], 200, {"Content-Type": found[1], "Cache-Control": "private, max-age=3600"}


@bp.post("/sandbox/ui/desk/<int:conversation_id>/messages")
def agent_message(conversation_id: int):
    body = _json_object()
    content = body.get("content")
    if not isinstance(content, str) or not content.strip() or len(content) > MAX_TEXT:
        return error(400, f"type a reply of 1-{MAX_TEXT} characters")
    if livedesk.agent_writes(conversation_id, content.strip(), bool(body.get("private"))) is None:
        return error(404, "no such conversation")
    return jsonify(status="sent"), 202


@bp.post("/sandbox/ui/desk/<int:conversation_id>/resolve")
def agent_resolve(conversation_id: int):
    if livedesk.conversation_by_id(conversation_id) is None:
        return error(404, "no such conversation")
    return jsonify(status="resolved" if livedesk.agent_resolves(conversation_id) else "already resolved")


@bp.post("/sandbox/ui/his/upload")
def his_upload():
    """The HIS uploads an appointment CSV: each row checked, the good ones posted to the appointments API."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error(400, "choose a CSV file")
    raw = upload.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return error(413, "the sandbox takes CSV files up to 512 KB")
    try:
        rows, problem = _csv_rows(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, csv.Error):
        return error(400, "the file is not a UTF-8 CSV")
    if problem:
        return error(400, problem)
    good = [(row, record) for row, record in rows if not row["errors"]]
    if good:
        answer = _post_to_his([record for _, record in good])
        if answer.status_code != 202:
            return error(502, f"the appointments API answered {answer.status_code}")
        for (row, _), item in zip(good, answer.json()["items"]):
            row.update(status=item["status"], notice=item["notice"], notice_id=item["notice_id"])
    shown = [row for row, _ in rows]
    store().append("his:uploads", {"source": upload.filename[:80], "rows": shown}, kept=10)
    invalid = sum(1 for row in shown if row["errors"])
    return jsonify(rows=len(shown), queued=sum(1 for r in shown if r["status"] == "queued"), invalid=invalid)


@bp.post("/sandbox/ui/his/api")
def his_api():
    """The HIS posts JSON to ``POST /api/v1/appointments``, exactly as written in the panel."""
    text = request.get_data(as_text=True)
    answer = requests.post(service_url("/api/v1/appointments"), data=text.encode(), timeout=HIS_TIMEOUT,
                           headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {secret(settings().appointments_api_token)}"})
    try:
        body = answer.json()
    except ValueError:
        body = {}
    rows = [{"row": item["index"] + 1, "appointment_id": item.get("appointment_id") or "", "cid": item.get("cid"),
             "errors": {}, "status": item["status"], "notice": item.get("notice"), "notice_id": item["notice_id"]}
            for item in body.get("items", [])]
    rows += [{"row": item["index"] + 1, "appointment_id": str(item.get("appointment_id") or ""), "cid": "",
              "errors": item["errors"], "status": "invalid", "notice": "", "notice_id": ""}
             for item in body.get("invalid", [])]
    store().append("his:uploads", {"source": f"POST /api/v1/appointments → {answer.status_code}",
                                   "error": body.get("error"), "rows": sorted(rows, key=lambda r: r["row"])},
                   kept=10)
    return jsonify(status=answer.status_code, answer=body), 200


# -- panels -----------------------------------------------------------------------------------------

def panels(patient, conversation_id: int | None) -> dict[str, str]:
    """Every panel of the page as HTML, for the selected patient and LiveDesk conversation."""
    chat = store().items(f"line:chat:{patient.user_id}", 80)
    last = chat[-1] if chat else None
    quick = []
    if last and last["from"] == "bot":
        quick = ((last["messages"][-1].get("quickReply") or {}).get("items")) or []
    conversations = livedesk.conversations()
    names = _conversation_names(conversations)
    if conversation_id is None or not any(c["id"] == conversation_id for c in conversations):
        conversation_id = _conversation_of(patient, conversations, names)
    selected = next((c for c in conversations if c["id"] == conversation_id), None)
    render = lambda name, **context: render_template(f"sandbox/{name}.html", **context)  # noqa: E731
    return {
        "patient": render("patient", patient=patient),
        "chat": render("chat", chat=chat, patient=patient,
                       typing=store().exists(f"line:loading:{patient.user_id}")),
        "quick": render("quick", items=quick),
        "desk-list": render("desk_list", conversations=conversations, names=names, selected=conversation_id),
        "desk-messages": render("desk_messages", conversation=selected, names=names,
                                messages=livedesk.messages_of(conversation_id) if selected else []),
        "contact": render("contact", patient=patient, contact=oho.contact_of(patient.user_id),
                          room=oho.room_of(patient.user_id)),
        "sms": render("sms", messages=list(reversed(sms.phone_messages())), owners=_phone_owners()),
        "moph": render("moph", notices=list(reversed(moph.notices())), by_cid=BY_CID),
        "his": render("his", uploads=_uploads_with_statuses()),
        "log": render("log", lines=list(reversed(store().everyone().items("log", 30)))),
        "conversation": str(conversation_id or ""),
        **({"hospitals": render("hospitals", hospitals=tabs)} if (tabs := hospital_tabs(patient)) else {}),
    }


def _conversation_of(patient, conversations: list[dict], names: dict) -> int | None:
    """The patient's open conversation, else their latest; None when they have none: the desk
    follows the patient tab and never shows another patient's chat in its place."""
    mine = [c for c in conversations if names.get(c["id"], (None,))[0] == patient.user_id]
    return next((c["id"] for c in mine if c["status"] != "resolved"), mine[0]["id"] if mine else None)


def _conversation_names(conversations: list[dict]) -> dict[int, tuple[str | None, str]]:
    """conversation id → (LINE user id, patient name) by the LiveDesk contact's name."""
    by_name = {p.name: p.user_id for p in PATIENTS}
    found = {}
    for conversation in conversations:
        contact = store().get(f"livedesk:contact:{conversation['contact_id']}") or {}
        name = contact.get("name") or "?"
        found[conversation["id"]] = (by_name.get(name), name)
    return found


def _phone_owners() -> dict[str, str]:
    return {p.phone: p.name for p in PATIENTS}


def _uploads_with_statuses() -> list[dict]:
    uploads = list(reversed(store().items("his:uploads", 10)))
    ids = [row["notice_id"] for upload in uploads for row in upload["rows"] if row.get("notice_id")]
    prefix = get_services().hospital.prefix
    statuses = dict(zip(ids, read_statuses(current_redis(), [status_key(i, prefix) for i in ids]))) if ids else {}
    for upload in uploads:
        for row in upload["rows"]:
            record = statuses.get(row.get("notice_id") or "")
            if record:
                row["status"] = record.get("status") or row["status"]
                row["error"] = record.get("error")
            row["problems"] = [thai_reason(field, why) for field, why in (row.get("errors") or {}).items()]
        upload["summary"] = his_summary(upload["rows"])
    return uploads


FIELD_WORDS = {"appointment_id": "รหัสนัด", "cid": "เลขบัตรประชาชน", "date": "วันนัด", "time": "เวลานัด",
               "clinic": "คลินิก", "doctor": "แพทย์", "location": "สถานที่", "note": "หมายเหตุ", "status": "สถานะนัด",
               "appointment": "แถวนัด"}


def his_summary(rows: list[dict]) -> str:
    """"4 แถว: ส่งแล้ว 3, ไม่ถูกต้อง 1" from the rows' current statuses (read at every poll)."""
    counts = Counter(row["status"] for row in rows)
    order = [*STATUS, *sorted(set(counts) - set(STATUS))]
    parts = [f"{STATUS.get(status, status)} {counts[status]}" for status in order if counts[status]]
    return f"{len(rows)} แถว: {', '.join(parts)}" if parts else f"{len(rows)} แถว"


def thai_reason(field: str, why: str) -> str:
    """A row's problem for a person, Thai first. The API and the CLIs keep the English texts
    of ``bot.appointments`` (clients and scripts read them); only the page says it this way."""
    name = FIELD_WORDS.get(field, field)
    if field == "cid" and why.startswith("check digit"):
        return "เลขบัตรประชาชนไม่ถูกต้อง (check digit does not match)"
    if why == "is required":
        return f"ต้องระบุ{name} ({field} is required)"
    return f"{name}ไม่ถูกต้อง ({field} {why})"


def current_redis():
    return store().redis


def _csv_rows(text: str) -> tuple[list[tuple[dict, dict]], str | None]:
    """Each data row (numbered as a spreadsheet does: the header is row 1) with its problems."""
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in CSV_COLUMNS if name not in reader.fieldnames]
    if missing:
        return [], f"missing column(s) {', '.join(missing)}; the header needs {', '.join(CSV_COLUMNS)}"
    rows = []
    for number, record in enumerate(reader, start=2):
        record = {k: (v or "").strip() for k, v in record.items() if k}
        cid = record.get("cid", "").replace("-", "").replace(" ", "")
        row = {"row": number, "appointment_id": record.get("appointment_id", ""), "cid": mask(cid), "errors": {},
               "status": "invalid", "notice": "", "notice_id": "", "patient": (BY_CID.get(cid) or _NOBODY).name}
        try:
            parse_appointment(record)
        except AppointmentError as exc:
            row["errors"] = exc.errors
        rows.append((row, {k: v for k, v in record.items() if v}))
    return rows, None


class _Nobody:
    name = ""


_NOBODY = _Nobody()


def _post_to_his(items: list[dict]) -> requests.Response:
    return requests.post(service_url("/api/v1/appointments"), json=items, timeout=HIS_TIMEOUT,
                         headers={"Authorization": f"Bearer {secret(settings().appointments_api_token)}"})


def _sample_api_body() -> list[dict]:
    import datetime as dt

    day = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    return [{"appointment_id": "API-0001", "cid": PATIENTS[2].cid, "date": day, "time": "10:30",
             "clinic": "คลินิกอายุรกรรม", "doctor": "นพ.ตัวอย่าง ใจดี", "location": "อาคาร 1 ชั้น 2"}]


def _json_object() -> dict:
    """The request's JSON object; {} for anything else (a list, bad JSON), which then fails its checks."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _short(value) -> str | None:
    return value[:300] if isinstance(value, str) and value else None


def patient_of(user_id: str):
    return BY_USER.get(user_id)
