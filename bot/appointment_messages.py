"""LINE Flex messages for appointment notices (booked, changed, cancelled, reminder), in Thai.

Each builder returns a plain LINE message dict (``type: flex``) ready for MOPH
Alert's ``messages`` list. The citizen ID is never put in a message: the
Appointment's ``cid`` is only the address, and MOPH already knows whose it is.
"""

from __future__ import annotations

import re

from bot.appointments import Appointment
from bot.thai_dates import thai_date, thai_time

MAX_ALT_TEXT = 400
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_LABEL_COLOR = "#777777"
_VALUE_COLOR = "#222222"
_MUTED_COLOR = "#888888"

# kind -> (title, one-line explanation, footer hint); "{hospital}" is filled in.
WORDING = {
    "booked": ("ยืนยันการนัดหมาย", "คุณมีนัดหมายกับ{hospital}",
               "หากไม่สะดวกมาตามนัด กรุณาติดต่อ{hospital}"),
    "changed": ("เปลี่ยนแปลงนัดหมาย", "นัดหมายของคุณมีการเปลี่ยนแปลง กรุณาตรวจสอบวันและเวลาใหม่",
                "หากไม่สะดวกมาตามนัด กรุณาติดต่อ{hospital}"),
    "cancelled": ("ยกเลิกนัดหมาย", "นัดหมายต่อไปนี้ถูกยกเลิกแล้ว",
                  "หากมีข้อสงสัย กรุณาติดต่อ{hospital}"),
    "reminder": ("แจ้งเตือนนัดหมาย", "อย่าลืมมาตามนัดหมายของคุณ",
                 "หากไม่สะดวกมาตามนัด กรุณาติดต่อ{hospital}"),
}


def _text_color_on(background: str) -> str:
    """White on dark hospital colours, near-black on light ones, so the header stays readable."""
    r, g, b = (int(background[i:i + 2], 16) for i in (1, 3, 5))
    return "#FFFFFF" if (0.299 * r + 0.587 * g + 0.114 * b) < 160 else "#1A1A1A"


def _row(label: str, value: str, *, struck: bool = False) -> dict:
    value_text = {"type": "text", "text": value, "size": "sm", "color": _VALUE_COLOR,
                  "wrap": True, "flex": 5}
    if struck:
        value_text["decoration"] = "line-through"
    return {"type": "box", "layout": "baseline", "spacing": "sm", "contents": [
        {"type": "text", "text": label, "size": "sm", "color": _LABEL_COLOR, "flex": 2},
        value_text,
    ]}


def _when(appointment: Appointment, style: str = "long") -> str:
    return f"{thai_date(appointment.date, style)} เวลา {thai_time(appointment.time)}"


def _alt_text(title: str, hospital_name: str, appointment: Appointment) -> str:
    text = f"{title} {hospital_name}: {_when(appointment, 'short')} {appointment.clinic}"
    return text if len(text) <= MAX_ALT_TEXT else text[:MAX_ALT_TEXT - 1] + "…"


def appointment_message(kind: str, appointment: Appointment, *, hospital_name: str, color: str,
                        previous: Appointment | None = None) -> dict:
    """A Flex notice of ``kind`` (booked/changed/cancelled/reminder) for one appointment."""
    if kind not in WORDING:
        raise ValueError(f"kind must be one of {', '.join(WORDING)}")
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ValueError("color must be written #RRGGBB")
    hospital_name = (hospital_name or "").strip()
    if not hospital_name:
        raise ValueError("hospital_name is required")
    title, lead, hint = (part.format(hospital=hospital_name) for part in WORDING[kind])
    struck = kind == "cancelled"

    rows = []
    if previous is not None:
        rows.append(_row("นัดเดิม", _when(previous), struck=True))
    rows += [_row("วันที่", thai_date(appointment.date, "long"), struck=struck),
             _row("เวลา", thai_time(appointment.time), struck=struck),
             _row("คลินิก", appointment.clinic)]
    for label, value in (("แพทย์", appointment.doctor), ("สถานที่", appointment.location),
                         ("หมายเหตุ", appointment.note)):
        if value:
            rows.append(_row(label, value))

    on_color = _text_color_on(color)
    bubble = {
        "type": "bubble",
        "header": {"type": "box", "layout": "vertical", "backgroundColor": color, "paddingAll": "lg",
                   "contents": [
                       {"type": "text", "text": hospital_name, "size": "xs", "color": on_color, "wrap": True},
                       {"type": "text", "text": title, "size": "lg", "weight": "bold", "color": on_color,
                        "wrap": True},
                   ]},
        "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": [
            {"type": "text", "text": lead, "size": "sm", "wrap": True, "color": _VALUE_COLOR},
            {"type": "separator"},
            {"type": "box", "layout": "vertical", "spacing": "sm", "contents": rows},
        ]},
        "footer": {"type": "box", "layout": "vertical", "contents": [
            {"type": "text", "text": hint, "size": "xs", "color": _MUTED_COLOR, "wrap": True},
        ]},
    }
    return {"type": "flex", "altText": _alt_text(title, hospital_name, appointment), "contents": bubble}

