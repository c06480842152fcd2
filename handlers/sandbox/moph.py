"""MOPH Alert (หมอพร้อม) and MOPH Account Center's token endpoint, simulated (MOPH Alert API guide).

Token: ``GET …/token?Action=get_moph_access_token&user=…&password_hash=…&hospital_code=…``
answers a bare JWT (section 3.1 shows no JSON around it), valid 24 hours. The sending
endpoints (section 2.2's table; their paths are the service's own MOPH_*_PATH settings)
take ``Authorization: Bearer <JWT>`` and answer ``{message, message_code}``, and, as the
real service does, report a rejected request as HTTP 200 with ``message_code`` >= 400.
send-now takes ``{"datas": [cid…], "messages": [LINE messages]}`` (section 3.5's example);
upload-data-json ``{"datas": […]}`` and upload-data (multipart ``data_file``) answer a
``file_id``; upload-message sends ``{"file_id", "message": […]}`` to that list.
Every CID that gets a message sees it in the page's หมอพร้อม view (one app, whichever hospital sent it).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import time
import uuid

from flask import Blueprint, jsonify, request

from bot.appointments import is_valid_cid
from handlers.sandbox.common import bearer, same, secret, serve_as, settings, store

bp = Blueprint("sandbox_moph", __name__, url_prefix="/sandbox")

TOKEN_SECONDS = 24 * 3600
MAX_MESSAGES = 5


def coded(code: int, message: str = "", **extra):
    """MOPH's answer: HTTP 200 whatever happened, the outcome in ``message_code``."""
    return jsonify({"message": message, "message_code": code, **extra})


def _signing_key(account=None) -> bytes:
    """The key of the MOPH account's tokens (the request's hospital's, unless ``account`` says)."""
    return hashlib.sha256(b"sandbox-moph:" + secret((account or settings()).moph_password_hash).encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(user: str, hospital_code: str, now: float) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": f"{user}@{hospital_code}", "iat": int(now), "exp": int(now) + TOKEN_SECONDS,
              "iss": "MOPH Account Center (sandbox)", "aud": "MOPH API", "client": {"hospital_code": hospital_code}}
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(_signing_key(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def jwt_valid(token: str | None, now: float, account=None) -> bool:
    try:
        header, payload, signature = (token or "").split(".")
        expected = _b64(hmac.new(_signing_key(account), f"{header}.{payload}".encode(), hashlib.sha256).digest())
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return hmac.compare_digest(signature, expected) and claims["exp"] > now
    except (ValueError, KeyError, TypeError):
        return False


@bp.get("/moph-account/token")
def token():
    args = request.args
    if args.get("Action") != "get_moph_access_token":
        return coded(400, "Action must be get_moph_access_token"), 400
    if not serve_as(lambda s: same(args.get("user"), s.moph_user or "")
                    and same(args.get("password_hash"), secret(s.moph_password_hash))
                    and same(args.get("hospital_code"), s.moph_hospital_code or "")):
        store().log("moph", "token (wrong user, hash or hospital)", 401)
        return coded(401, "user, password_hash or hospital_code is wrong"), 401
    store().log("moph", "token", 200)
    s = settings()
    return make_jwt(s.moph_user, s.moph_hospital_code, time.time()), 200, {"Content-Type": "text/plain"}


@bp.post("/moph/<path:path>")
def send(path: str):
    s = settings()
    endpoints = {s.moph_send_now_path: _send_now, s.moph_upload_data_json_path: _upload_json,
                 s.moph_upload_data_path: _upload_csv, s.moph_upload_message_path: _upload_message}
    handler = endpoints.get("/" + path)
    if handler is None:
        return coded(404, "Not Found"), 404
    if not serve_as(lambda account: jwt_valid(bearer(), time.time(), account)):
        store().log("moph", f"/{path} (token rejected)", 401)
        return coded(401, "Unauthorized: token invalid or expired"), 401
    return handler()


def _cids_problem(cids) -> str | None:
    if not isinstance(cids, list) or not cids:
        return "datas must be a non-empty list of citizen IDs"
    bad = sum(1 for cid in cids if not is_valid_cid(cid))
    return f"{bad} invalid cid in datas" if bad else None


def _messages_problem(messages) -> str | None:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return f"messages must be a list of 1-{MAX_MESSAGES} LINE message objects"
    if not all(isinstance(m, dict) and m.get("type") for m in messages):
        return "every message needs a type"
    return None


def _send_now():
    body = request.get_json(silent=True) or {}
    problem = _cids_problem(body.get("datas")) or _messages_problem(body.get("messages"))
    if problem:
        store().log("moph", "send-now (rejected)", 400)
        return coded(400, problem)
    _show(body["datas"], body["messages"], "send-now")
    store().log("moph", f"send-now ({len(body['datas'])} cid)", 200)
    return coded(200)


def _upload_json():
    body = request.get_json(silent=True) or {}
    problem = _cids_problem(body.get("datas"))
    if problem:
        return coded(400, problem)
    return _keep_file(body["datas"])


def _upload_csv():
    upload = request.files.get("data_file")
    if upload is None:
        return coded(400, "data_file is required")
    rows = list(csv.reader(io.StringIO(upload.read().decode("utf-8-sig", errors="replace"))))
    cids = [row[0].strip() for row in rows if row and row[0].strip().isdigit()]
    problem = _cids_problem(cids)
    if problem:
        return coded(400, problem)
    return _keep_file(cids)


def _keep_file(cids: list[str]):
    file_id = uuid.uuid4().hex
    store().put(f"moph:file:{file_id}", cids)
    store().log("moph", f"upload ({len(cids)} cid)", 200)
    return coded(200, file_id=file_id)


def _upload_message():
    body = request.get_json(silent=True) or {}
    cids = store().get(f"moph:file:{body.get('file_id')}") if body.get("file_id") else None
    if cids is None:
        return coded(404, "file_id not found")
    problem = _messages_problem(body.get("message"))
    if problem:
        return coded(400, problem)
    # Production delivers these 3-10 minutes later; the sandbox shows them at once.
    _show(cids, body["message"], "upload-message")
    store().log("moph", f"upload-message ({len(cids)} cid)", 200)
    return coded(200)


def _show(cids: list[str], messages: list[dict], via: str) -> None:
    for cid in cids:
        store().everyone().append("moph:notices", store().mark({"id": uuid.uuid4().hex, "cid": cid,
                                                                 "messages": messages, "via": via}))


def notices() -> list[dict]:
    return store().everyone().items("moph:notices", 60)
