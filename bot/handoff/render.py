"""Plain text for LiveDesk: the patient's LINE events and the bot's messages as staff read them,
agents' attachments as LINE messages, and the private notes for staff."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from bot.handoff.messages import CLOSE_REASONS, REASONS
from bot.intents import Action
from bot.thai_dates import BANGKOK, thai_date
from bot.turn import Turn


def render_line_messages(messages: Iterable[Mapping[str, Any]]) -> str:
    """What agents read of the bot's LINE messages: texts, Flex/template alt texts, media marks."""
    parts = []
    for message in messages:
        kind = message.get("type")
        if kind == "text":
            parts.append(str(message.get("text") or ""))
        elif kind in ("flex", "template", "imagemap"):
            parts.append(f"[{kind}] {message.get('altText') or ''}".strip())
        elif kind in ("image", "video", "audio"):
            parts.append(f"[{kind}] {message.get('originalContentUrl') or ''}".strip())
        elif kind == "location":
            parts.append(f"[location] {message.get('title') or ''} {message.get('address') or ''}".strip())
        else:
            parts.append(f"[{kind}]")
    return "\n\n".join(p for p in parts if p)


def render_patient_turn(turn: Turn) -> str | None:
    """A patient's non-media turn as text for agents; None for turns that are not the patient's words."""
    if turn.kind == "follow":
        return "[เพิ่มบัญชีเป็นเพื่อน / followed the account]"
    if turn.kind == "postback":
        topic = turn.params.get("id") if turn.action == Action.TOPIC else None
        return f"[กดปุ่ม / button] {topic or turn.postback}"
    if turn.event_type != "message":
        return None
    if turn.kind == "text":
        return turn.text
    if turn.kind == "sticker":
        return "[สติกเกอร์ / sticker]"
    if turn.location is not None:
        where = f"{turn.location.title} {turn.location.address}".strip()
        return f"[ตำแหน่ง / location] {where} https://maps.google.com/?q={turn.location.latitude},{turn.location.longitude}"
    return f"[{turn.kind}]"


MEDIA_TYPES = ("image", "video", "audio", "file")
ATTACHMENT_NOT_SHOWN = "📎 (ไฟล์แนบไม่แสดง / attachment not shown)"


MAX_FILE_NAME = 120


def safe_file_name(name: str | None, fallback: str) -> str:
    """A patient's file name as LiveDesk may show and store it: no folders (``../``), no control or
    bidi characters (``U+202E`` makes ``cod.exe`` read ``exe.doc``), no leading dots, no quotes or
    shell/HTML specials, at most ``MAX_FILE_NAME`` characters with the extension kept. Thai letters
    stay. ``fallback`` when nothing is left."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" and ch not in '<>:"|?*`$;&')
    text = " ".join(text.split()).lstrip(". ").rstrip(". ")
    if len(text) > MAX_FILE_NAME:
        stem, dot, extension = text.rpartition(".")
        extension = extension[:10] if dot and stem else ""
        text = text[:MAX_FILE_NAME - len(extension) - 1].rstrip(". ") + ("." + extension if extension else "")
    return text or fallback


HTTPS_PORT = 443


def host_and_port(entry: str) -> tuple[str, int] | None:
    """``host`` or ``host:port`` (port 443 unless given), normalised; None if it is neither."""
    try:
        parts = urlsplit("//" + entry.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return host.rstrip(".").lower(), port or HTTPS_PORT


def attachment_url_allowed(url: str, hosts: Iterable[str]) -> bool:
    """Whether an agent's attachment URL may be shown to the patient: https on exactly one of
    ``hosts`` (``host`` or ``host:port``, port 443 unless given), host and port both: LiveDesk's own,
    not any host of its registrable domain, where anyone with a page on a sibling host could plant a
    link, nor another port of its host, where another program may listen. A webhook body is only
    as trustworthy as its token."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        return False
    if parts.scheme != "https" or not host or len(url) > 2000 or parts.username or parts.password:
        return False
    allowed = {found for found in map(host_and_port, hosts) if found is not None}
    return (host.rstrip(".").lower(), port or HTTPS_PORT) in allowed


def agent_line_messages(content: str | None, attachments: Iterable[Mapping[str, Any]],
                        allowed: Callable[[str], bool]) -> list[dict]:
    """LINE messages for an agent's LiveDesk message: its text, images as images, other files as
    links, attachments from a host not ``allowed`` as a note that one was not shown."""
    text = (content or "").strip()
    images, links = [], []
    for attachment in attachments:
        url = str(attachment.get("data_url") or "")
        if not allowed(url):
            links.append(ATTACHMENT_NOT_SHOWN)
        elif attachment.get("file_type") == "image" and len(images) < 4:
            preview = str(attachment.get("thumb_url") or "")
            images.append({"type": "image", "originalContentUrl": url,
                           "previewImageUrl": preview if allowed(preview) else url})
        else:
            links.append(f"📎 {url}")
    if links:
        text = "\n".join([text, *links]) if text else "\n".join(links)
    messages = [{"type": "text", "text": text[:5000]}] if text else []
    return messages + images  # at most 5: one text and up to four images


# -- the private note for staff ---------------------------------------------------------------

_WHO = {"patient": "ผู้ป่วย", "bot": "บอท", "agent": "เจ้าหน้าที่"}


def transcript_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """``[14:03] ผู้ป่วย: …`` lines, Bangkok time."""
    lines = []
    for entry in entries:
        at = dt.datetime.fromtimestamp(float(entry.get("at") or 0), BANGKOK)
        text = " ".join(str(entry.get("text") or "").split())
        lines.append(f"[{at:%H:%M}] {_WHO.get(str(entry.get('who')), entry.get('who'))}: {text[:300]}")
    return lines


def handoff_note(reason: str, *, opened_at: float, urgent: bool, transcript: Iterable[Mapping[str, Any]],
                 known: Mapping[str, str]) -> str:
    """The private LiveDesk note that opens a handoff: why, what the bot knows, the last messages."""
    opened = dt.datetime.fromtimestamp(opened_at, BANGKOK)
    lines = [("🚨 ด่วน: " if urgent else "🔔 ") + "ผู้ป่วยขอคุยกับเจ้าหน้าที่ (handoff จาก LINE bot)",
             f"เหตุผล: {REASONS.get(reason, reason)}",
             f"เวลา: {opened:%H:%M} น. {thai_date(opened.date())}"]
    if known:
        lines.append("ข้อมูลที่ระบบทราบ:")
        lines += [f"- {name}: {value}" for name, value in known.items()]
    recent = transcript_lines(transcript)
    if recent:
        lines.append("ข้อความล่าสุด:")
        lines += recent
    lines.append("ตอบในบทสนทนานี้ได้เลย ข้อความจะส่งถึงผู้ป่วยทาง LINE · กด Resolve เมื่อจบ บอทจะกลับมาตอบแทน")
    return "\n".join(lines)


def urgent_note() -> str:
    return "🚨 ผู้ป่วยส่งข้อความเข้าข่ายเหตุฉุกเฉินระหว่างรอเจ้าหน้าที่ (ระบบแนะนำให้โทร 1669 แล้ว)"


def undelivered_note(message_id: int | str) -> str:
    """For agents, when LINE would not take their message: the patient has not seen it."""
    return (f"⚠️ ข้อความของเจ้าหน้าที่ (#{message_id}) ส่งถึงผู้ป่วยทาง LINE ไม่ได้ ผู้ป่วยยังไม่เห็นข้อความนี้ "
            f"/ not delivered to the patient")


def unconfirmed_note(message_id: int | str, conversation_id: int | str) -> str:
    """For agents, when LiveDesk would not read back the conversation an agent's message came from (a
    stale or made-up conversation): held, not sent; if it was an agent's, the agent writes it again."""
    return (f"⚠️ ข้อความเจ้าหน้าที่ (#{message_id}) จากบทสนทนา #{conversation_id} ไม่ได้ส่งถึงผู้ป่วย: "
            f"LiveDesk ยืนยันข้อความนี้ไม่ได้ / not sent: LiveDesk would not confirm this agent message")


#: Whose message LiveDesk could not deliver, by the mirror item's direction (Thai, English).
FAILED_WHOSE = {"incoming": ("ข้อความจากผู้ป่วย", "a message from the patient"),
                "outgoing": ("ข้อความถึงผู้ป่วย", "a message to the patient"),
                "note": ("บันทึกสำหรับเจ้าหน้าที่", "a note for staff")}


def failed_message_note(message_id: int | str, external_error: str, direction: str, retries: int) -> str:
    """For agents, when LiveDesk kept a mirrored message ``failed`` after ``retries`` retries. Never the
    message's text: only its id (the message itself stays in the conversation, marked failed)."""
    thai, english = FAILED_WHOSE.get(direction, FAILED_WHOSE["incoming"])
    return (f"⚠️ LiveDesk ส่ง{thai} (#{message_id}) ไม่สำเร็จ (ลองส่งใหม่ {retries} ครั้งแล้ว) "
            f"สาเหตุ: {external_error} / LiveDesk could not deliver {english}")


def closed_note(reason: str) -> str:
    return f"✅ handoff ปิดแล้ว: {CLOSE_REASONS.get(reason, reason)} · บอทตอบผู้ป่วยตามปกติ"


def known_from_oho(contact: Mapping[str, Any]) -> dict[str, str]:
    """What the Oho contact says that helps staff: phone, tags, attributes."""
    known: dict[str, str] = {}
    if contact.get("phone"):
        known["เบอร์โทร (Oho)"] = str(contact["phone"])
    if contact.get("tags"):
        known["แท็ก"] = ", ".join(str(t) for t in contact["tags"])
    for attribute in contact.get("attributes") or []:
        try:
            known[str(attribute["display_name"])] = str(attribute["value"]["text"])
        except (KeyError, TypeError):
            continue
    return known
