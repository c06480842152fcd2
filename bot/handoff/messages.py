"""What the patient reads and taps during a handoff, and what their text means to it."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs

from bot.handoff.hours import BusinessHours, when_staff_answer
from bot.intents import Action
from bot.text import normalize

# Postback data of the handoff buttons (``action=topic&id=…`` is the knowledge base's).
HANDOFF_POSTBACK = f"action={Action.HANDOFF}"
OFFER_POSTBACK = f"action={Action.HANDOFF}&from=unknown"
DECLINE_POSTBACK = f"action={Action.HANDOFF_DECLINE}"
END_POSTBACK = f"action={Action.HANDOFF_END}"

REASONS = {  # reason code -> what staff read in the note
    "asked": "ผู้ป่วยขอคุยกับเจ้าหน้าที่",
    "button": "ผู้ป่วยกดปุ่มคุยกับเจ้าหน้าที่",
    "unknown": "ระบบตอบไม่ได้ 2 ครั้งติดกัน ผู้ป่วยเลือกคุยกับเจ้าหน้าที่",
    "emergency": "⚠️ ข้อความเข้าข่ายเหตุฉุกเฉิน (ระบบแนะนำให้โทร 1669 แล้ว)",
    "agent": "เจ้าหน้าที่เริ่มตอบในแชทเอง",
}
CLOSE_REASONS = {"patient": "ผู้ป่วยจบการสนทนา", "resolved": "เจ้าหน้าที่ปิดการสนทนา (resolved)",
                 "idle": "ไม่มีข้อความจากเจ้าหน้าที่ตามเวลาที่กำหนด (HANDOFF_IDLE_MINUTES)",
                 "unfollow": "ผู้ป่วยบล็อกบัญชี LINE",
                 "staff": "เจ้าหน้าที่ปิดการสนทนาด้วยคำสั่ง flask handoff close",
                 "not_emergency": "ผู้ป่วยแจ้งว่าไม่ใช่เหตุฉุกเฉิน (กดปุ่ม “ไม่ใช่เหตุฉุกเฉิน”)"}



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

