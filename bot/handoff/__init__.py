"""Human handoff, the pure parts: business hours, the patient's Thai texts, end phrases,
plain-text renderings for LiveDesk, the private note for staff, and the handoff state model.

No Redis, HTTP or Flask here: ``workers/handoff/store.py`` keeps the state and
``handlers/handoff_service.py`` (run by ``workers/handoff_jobs.py``) talks to Oho, LiveDesk and LINE.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

from bot.text import normalize
from bot.thai_dates import BANGKOK, WEEKDAYS, thai_date

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EXAMPLE = 'e.g. "Mon-Fri 08:00-16:00; Sat 08:00-12:00"'
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")

# Postback data of the handoff buttons (``action=topic&id=…`` is the knowledge base's).
HANDOFF_POSTBACK = "action=handoff"
OFFER_POSTBACK = "action=handoff&from=unknown"
DECLINE_POSTBACK = "action=handoff_decline"
END_POSTBACK = "action=handoff_end"

REASONS = {  # reason code -> what staff read in the note
    "asked": "ผู้ป่วยขอคุยกับเจ้าหน้าที่",
    "button": "ผู้ป่วยกดปุ่มคุยกับเจ้าหน้าที่",
    "unknown": "ระบบตอบไม่ได้ 2 ครั้งติดกัน ผู้ป่วยเลือกคุยกับเจ้าหน้าที่",
    "emergency": "⚠️ ข้อความเข้าข่ายเหตุฉุกเฉิน (ระบบแนะนำให้โทร 1669 แล้ว)",
    "agent": "เจ้าหน้าที่เริ่มตอบในแชทเอง",
}
CLOSE_REASONS = {"patient": "ผู้ป่วยจบการสนทนา", "resolved": "เจ้าหน้าที่ปิดการสนทนา (resolved)",
                 "idle": "ไม่มีข้อความจากเจ้าหน้าที่ตามเวลาที่กำหนด (HANDOFF_IDLE_MINUTES)",
                 "unfollow": "ผู้ป่วยบล็อกบัญชี LINE"}


# -- business hours ------------------------------------------------------------------

@dataclass(frozen=True)
class BusinessHours:
    """Opening spans per weekday, in Asia/Bangkok: ``(weekday, start_minute, end_minute)``."""

    spans: tuple[tuple[int, int, int], ...]

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether staff are on duty at ``moment`` (an aware datetime)."""
        local = moment.astimezone(BANGKOK)
        minute = local.hour * 60 + local.minute
        return any(day == local.weekday() and start <= minute < end for day, start, end in self.spans)

    def next_opening(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself when open, else the start of the next opening span (Bangkok time)."""
        local = moment.astimezone(BANGKOK)
        if self.is_open(local):
            return local
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        minute = local.hour * 60 + local.minute
        for offset in range(8):
            day = today + dt.timedelta(days=offset)
            starts = sorted(start for weekday, start, _ in self.spans
                            if weekday == day.weekday() and (offset or start > minute))
            if starts:  # wall-clock time: Bangkok has no DST, so adding minutes is exact
                return day + dt.timedelta(minutes=starts[0])
        raise AssertionError("parse_business_hours guarantees at least one span")

    def open_time_after(self, moment: dt.datetime, minutes: float) -> dt.datetime:
        """The moment when ``minutes`` of opening time have passed since ``moment`` (Bangkok time).

        Time outside the spans does not count: ten minutes asked for at 15:55 on a
        Friday end at 08:05 on Monday when the spans are ``Mon-Fri 08:00-16:00``.
        """
        local = moment.astimezone(BANGKOK)
        weekly = sum(end - start for _, start, end in self.spans)
        # Whole weeks first (Bangkok has no DST: a week is always 7 × 24 h), then walk the spans.
        weeks = max(0, int((minutes - 1e-9) // weekly))
        local += dt.timedelta(weeks=weeks)
        remaining = dt.timedelta(minutes=minutes - weeks * weekly)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(15):
            day = midnight + dt.timedelta(days=offset)
            for weekday, start, end in self.spans:
                if weekday != day.weekday():
                    continue
                begin = max(day + dt.timedelta(minutes=start), local)
                finish = day + dt.timedelta(minutes=end)
                if finish <= begin:
                    continue
                if finish - begin >= remaining:
                    return begin + remaining
                remaining -= finish - begin
        raise AssertionError("two weeks always hold a week's opening time")


def parse_business_hours(text: str) -> BusinessHours:
    """Parse ``BUSINESS_HOURS`` such as ``Mon-Fri 08:00-16:00; Sat 08:00-12:00``.

    Days: ``Mon``…``Sun`` (or full names), ranges ``Mon-Fri`` and lists ``Sat,Sun``;
    times ``HH:MM-HH:MM`` (``24:00`` allowed as an end), several separated by commas.
    Raises ValueError naming the part that is wrong.
    """
    segments = [s.strip() for s in str(text or "").split(";") if s.strip()]
    if not segments:
        raise ValueError(f"business hours are empty; {_EXAMPLE}")
    spans: list[tuple[int, int, int]] = []
    for segment in segments:
        parts = segment.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"'{segment}': expected days then times, {_EXAMPLE}")
        days = _parse_days(parts[0], segment)
        for times in parts[1].replace(" ", "").split(","):
            start, end = _parse_span(times, segment)
            spans.extend((day, start, end) for day in days)
    return BusinessHours(tuple(sorted(set(spans))))


def _parse_days(text: str, segment: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        ends = [_day(name, segment) for name in item.split("-")]
        if len(ends) == 1:
            days.append(ends[0])
        elif len(ends) == 2:  # Fri-Mon wraps over the weekend
            first, last = ends
            days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            raise ValueError(f"'{segment}': '{item}' is not a day or a day range like Mon-Fri")
    return days


def _day(name: str, segment: str) -> int:
    key = name.strip().lower()
    for number, day in enumerate(DAYS):
        if key == day or key == _DAYS_EN[number].lower():
            return number
    raise ValueError(f"'{segment}': unknown day '{name}' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _parse_span(text: str, segment: str) -> tuple[int, int]:
    ends = text.split("-")
    if len(ends) != 2:
        raise ValueError(f"'{segment}': '{text}' is not a time range like 08:00-16:00")
    start, end = (_minute(t, segment) for t in ends)
    if start >= end:
        raise ValueError(f"'{segment}': {text} ends before it starts (a span cannot cross midnight; "
                         f"write it as two, e.g. 'Fri 22:00-24:00; Sat 00:00-06:00')")
    return start, end


def _minute(text: str, segment: str) -> int:
    found = _TIME.match(text)
    hour, minute = (int(found.group(1)), int(found.group(2))) if found else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59) and (hour, minute) != (24, 0):
        raise ValueError(f"'{segment}': '{text}' is not a time HH:MM between 00:00 and 24:00")
    return hour * 60 + minute


def when_staff_answer(now: dt.datetime, hours: BusinessHours) -> tuple[str, str]:
    """When a staff member will answer, in Thai and in English (one sentence each)."""
    if hours.is_open(now):
        return ("เจ้าหน้าที่จะตอบกลับในแชทนี้โดยเร็วที่สุดค่ะ",
                "A staff member will answer you here as soon as possible.")
    opening = hours.next_opening(now)
    local_today = now.astimezone(BANGKOK).date()
    clock = f"{opening.hour:02d}:{opening.minute:02d}"
    days_ahead = (opening.date() - local_today).days
    if days_ahead == 0:
        th, en = f"วันนี้ เวลา {clock} น.", f"today from {clock}"
    elif days_ahead == 1:
        th = f"พรุ่งนี้ (วัน{WEEKDAYS[opening.weekday()]}) เวลา {clock} น."
        en = f"tomorrow ({_DAYS_EN[opening.weekday()]}) from {clock}"
    else:
        th = f"วัน{WEEKDAYS[opening.weekday()]}ที่ {thai_date(opening.date())} เวลา {clock} น."
        en = f"on {_DAYS_EN[opening.weekday()]} {opening.day} {opening.strftime('%b')} from {clock}"
    return (f"ขณะนี้อยู่นอกเวลาทำการ เจ้าหน้าที่จะตอบกลับ{th}ค่ะ",
            f"We are closed now; a staff member will answer {en} (Bangkok time).")


# -- state -----------------------------------------------------------------------------

@dataclass
class HandoffState:
    """An open handoff of one LINE user (absent = the bot answers). Times are epoch seconds."""

    session: str                 # the id of the event (or agent message) that opened it
    reason: str                  # a key of REASONS
    since: float
    urgent: bool = False
    last_agent: float = 0.0      # an agent's last message to the patient
    agent_answered: bool = False
    no_agent_notice_sent: bool = False
    last_notice: float = 0.0     # the bot's last "staff will answer" notice during the handoff
    notice_event: str = ""       # the patient's event that notice answered (a retried turn answers the same)

    def to_fields(self) -> dict[str, str]:
        """The Redis hash fields."""
        return {k: str(int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> "HandoffState | None":
        """Read a Redis hash (bytes or str); None when there is no open handoff. Unknown fields are ignored."""
        values = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in raw.items()}
        if not values.get("session"):
            return None
        kwargs: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            kwargs[field.name] = (value == "1" if field.type == "bool" else
                                  float(value) if field.type == "float" else value)
        return cls(**kwargs)

    @property
    def quiet_since(self) -> float:
        """Since when the patient has heard nothing from staff or from the bot's notices."""
        return max(self.since, self.last_agent, self.last_notice)


def no_agent_due(since: float, hours: BusinessHours, minutes: int) -> float:
    """When to tell a waiting patient that no one has answered yet: ``minutes`` of opening time
    after the request (a request made at night waits for the opening, not ten minutes)."""
    return hours.open_time_after(dt.datetime.fromtimestamp(since, BANGKOK), minutes).timestamp()


def idle_deadline(state: HandoffState, hours: BusinessHours, minutes: int) -> float:
    """When an open handoff closes for want of an agent: ``minutes`` of opening time after the
    agent's last message (or the opening of the handoff, if no agent has written yet).

    Only agents' messages count: a patient writing into a chat nobody answers must not
    keep it open (and the bot silent) forever. Nights and weekends do not count either.
    """
    start = max(state.since, state.last_agent)
    return hours.open_time_after(dt.datetime.fromtimestamp(start, BANGKOK), minutes).timestamp()


@dataclass(frozen=True)
class AgentMessage:
    """An agent's reply in LiveDesk, as the webhook parsed it (already checked for shape)."""

    id: int
    conversation_id: int
    content: str
    attachments: tuple[Mapping[str, str], ...] = ()


# -- what the patient reads ---------------------------------------------------------------

def _quick(label: str, data: str) -> dict:
    return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label,
                                          "data": data}}


END_CHAT_QUICK_REPLY = {"items": [_quick("จบการสนทนา", END_POSTBACK)]}


def handoff_started_message(now: dt.datetime, hours: BusinessHours, *, urgent: bool = False) -> dict:
    """The answer to a patient being handed to staff, saying when staff will answer."""
    when_th, when_en = when_staff_answer(now, hours)
    if urgent:
        lead = "แจ้งเจ้าหน้าที่แล้วค่ะ 🙏 แต่หากเป็นเหตุฉุกเฉิน กรุณาโทร 1669 ทันที ไม่ต้องรอการตอบกลับทางแชทค่ะ"
    else:
        lead = "รับทราบค่ะ 🙏 กำลังส่งต่อให้เจ้าหน้าที่ พิมพ์รายละเอียดเพิ่มเติมระหว่างรอได้เลยค่ะ"
    text = (f"{lead}\n{when_th}\nหากต้องการกลับไปคุยกับระบบอัตโนมัติ พิมพ์ “จบการสนทนา”\n"
            f"⚠️ หากเป็นเหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
            f"{when_en} Type “end chat” to go back to the bot. In an emergency call 1669.")
    return {"type": "text", "text": text, "quickReply": END_CHAT_QUICK_REPLY}


def handoff_waiting_message(now: dt.datetime, hours: BusinessHours) -> dict:
    """While the bot is quiet for staff: at most every few minutes, the way back to the bot and 1669."""
    when_th, when_en = when_staff_answer(now, hours)
    text = (f"ได้รับข้อความแล้วค่ะ 🙏 ขณะนี้แชทนี้อยู่กับเจ้าหน้าที่ {when_th}\n"
            f"หากต้องการกลับไปคุยกับระบบอัตโนมัติ พิมพ์ “จบการสนทนา”\n"
            f"⚠️ หากเป็นเหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
            f"Got it: this chat is with our staff. {when_en} Type “end chat” to go back to the bot. "
            f"In an emergency call 1669.")
    return {"type": "text", "text": text, "quickReply": END_CHAT_QUICK_REPLY}


def agent_took_over_message() -> dict:
    """After the first reply of an agent who opened the chat themselves: who is writing, and the way back."""
    return {"type": "text",
            "text": "ขณะนี้เจ้าหน้าที่กำลังดูแลแชทนี้ค่ะ หากต้องการกลับไปคุยกับระบบอัตโนมัติ พิมพ์ “จบการสนทนา”\n"
                    "⚠️ หากเป็นเหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
                    "A staff member is answering in this chat. Type “end chat” to go back to the bot.",
            "quickReply": END_CHAT_QUICK_REPLY}


def with_end_button(messages: list[dict]) -> list[dict]:
    """``messages`` with the end-chat quick reply on the last one (LINE shows the last one's only)."""
    if not messages:
        return messages
    return [*messages[:-1], {**messages[-1], "quickReply": END_CHAT_QUICK_REPLY}]


def handoff_offer_message() -> dict:
    """Offered after two answers in a row that the bot did not understand."""
    return {"type": "text",
            "text": "ขออภัยค่ะ ระบบยังไม่เข้าใจคำถามนี้ 🙏\nต้องการคุยกับเจ้าหน้าที่ไหมคะ?\n"
                    "⚠️ หากเป็นเหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
                    "Sorry, I still do not understand. Would you like to talk to a staff member?",
            "quickReply": {"items": [_quick("คุยกับเจ้าหน้าที่", OFFER_POSTBACK),
                                     _quick("ไม่เป็นไร", DECLINE_POSTBACK)]}}


def handoff_declined_message(menu: dict | None) -> dict:
    """After "no thanks" (or an end button with no chat open): back to the topics menu."""
    message = {"type": "text", "text": "ได้เลยค่ะ 😊 เลือกหัวข้อด้านล่าง หรือพิมพ์คำถามสั้น ๆ ได้เลยค่ะ\n\n"
                                       "Sure. Choose a topic below or type a short question."}
    if menu:
        message["quickReply"] = menu
    return message


def handoff_closed_message(reason: str, menu: dict | None) -> dict:
    """The short closing message; from the next message on, the bot answers again."""
    lead = {"resolved": "เจ้าหน้าที่ได้ปิดการสนทนาแล้วค่ะ ขอบคุณที่ติดต่อเรา 🙏",
            "idle": "การสนทนากับเจ้าหน้าที่สิ้นสุดลงแล้ว เนื่องจากไม่มีข้อความเพิ่มเติมค่ะ 🙏"}.get(
        reason, "จบการสนทนากับเจ้าหน้าที่แล้วค่ะ ขอบคุณค่ะ 🙏")
    message = {"type": "text",
               "text": f"{lead}\nมีคำถามเพิ่มเติม พิมพ์ถามหรือเลือกหัวข้อด้านล่างได้เลย ระบบอัตโนมัติจะตอบกลับค่ะ\n\n"
                       "The chat with our staff has ended. Ask me anything, or choose a topic below."}
    if menu:
        message["quickReply"] = menu
    return message


def no_agent_message(now: dt.datetime, hours: BusinessHours) -> dict:
    """Sent once when no staff member has answered in time: the patient is in the queue."""
    when_th, when_en = when_staff_answer(now, hours)
    return {"type": "text",
            "text": "ขออภัยที่ให้รอนะคะ 🙏 ขณะนี้เจ้าหน้าที่กำลังดูแลผู้ป่วยท่านอื่นอยู่ "
                    f"ท่านอยู่ในคิวแล้ว ไม่ต้องส่งข้อความซ้ำค่ะ\n{when_th}\n"
                    "⚠️ หากเป็นเหตุฉุกเฉิน โทร 1669 ทันทีค่ะ\n\n"
                    f"Sorry for the wait: you are in the queue. {when_en}",
            "quickReply": END_CHAT_QUICK_REPLY}


# -- what the patient typed -----------------------------------------------------------------

_END_PHRASES = frozenset(normalize(p).replace(" ", "") for p in (
    "จบการสนทนา", "จบการสนทนากับเจ้าหน้าที่", "จบสนทนา", "จบแชท", "ปิดแชท", "ปิดการสนทนา",
    "เลิกคุย", "เลิกคุยกับเจ้าหน้าที่", "กลับไปคุยกับบอท", "กลับไปคุยกับระบบอัตโนมัติ",
    "end chat", "end the chat", "endchat", "stop chat", "close chat", "back to bot", "end conversation"))
# Politeness that may follow an end phrase: "จบการสนทนาค่ะ", "end chat please".
_POLITE_TAIL = re.compile(r"(ครับผม|ครับ|ค่ะ|คะ|ค่า|คับ|จ้า|จ้ะ|นะ|please|thanks|thankyou)+$")


def is_end_phrase(text: str | None) -> bool:
    """Whether the whole message asks to end the chat with staff (not merely mentions it)."""
    compact = normalize(text or "").replace(" ", "")
    return bool(compact) and (compact in _END_PHRASES or _POLITE_TAIL.sub("", compact) in _END_PHRASES)


def postback_action(data: str | None) -> str | None:
    """The ``action`` of postback data such as ``action=handoff&from=unknown``."""
    values = parse_qs(data or "").get("action")
    return values[0] if values else None


# -- plain text for LiveDesk -------------------------------------------------------------------

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


def render_patient_event(event: Mapping[str, Any]) -> str | None:
    """A patient's non-media event as text for agents; None for events that are not the patient's words."""
    kind = event.get("type")
    message = event.get("message") or {}
    if kind == "follow":
        return "[เพิ่มบัญชีเป็นเพื่อน / followed the account]"
    if kind == "postback":
        data = str((event.get("postback") or {}).get("data") or "")
        topic = parse_qs(data).get("id", [None])[0] if postback_action(data) == "topic" else None
        return f"[กดปุ่ม / button] {topic or data}"
    if kind != "message":
        return None
    mtype = message.get("type")
    if mtype == "text":
        return str(message.get("text") or "")
    if mtype == "sticker":
        return "[สติกเกอร์ / sticker]"
    if mtype == "location":
        where = " ".join(str(message.get(k) or "") for k in ("title", "address")).strip()
        return f"[ตำแหน่ง / location] {where} https://maps.google.com/?q={message.get('latitude')},{message.get('longitude')}"
    return f"[{mtype}]"


MEDIA_TYPES = ("image", "video", "audio", "file")
ATTACHMENT_NOT_SHOWN = "📎 (ไฟล์แนบไม่แสดง / attachment not shown)"
# Second-level labels under a country code that are not registrable themselves (co.th, ac.th, com.sg…).
_SECOND_LEVEL = frozenset({"co", "ac", "go", "or", "in", "mi", "net", "com", "org", "gov", "edu"})


def registrable_domain(host: str) -> str:
    """``livedesk-api.engagelab.com`` → ``engagelab.com``; an IP address stays itself."""
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def attachment_url_allowed(url: str, base_url: str) -> bool:
    """Whether an agent's attachment URL may be shown to the patient: https on the domain of
    LIVEDESK_BASE_URL (or a subdomain of it). A webhook body is only as trustworthy as its
    token, so links anywhere else are not passed on to patients."""
    try:
        parts, base = urlsplit(url), urlsplit(base_url)
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or not base.hostname or len(url) > 2000:
        return False
    host, domain = parts.hostname.rstrip("."), registrable_domain(base.hostname)
    return host == domain or host.endswith("." + domain)


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
