"""The pure parts of the handoff: end phrases, renderings for LiveDesk and LINE, the staff note, the state."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.handoff.hours import parse_business_hours
from bot.handoff.messages import END_CHAT_QUICK_REPLY, is_end_phrase, postback_action, with_end_button
from bot.handoff.render import (
    ATTACHMENT_NOT_SHOWN,
    agent_line_messages,
    attachment_url_allowed,
    handoff_note,
    known_from_oho,
    render_line_messages,
    render_patient_turn,
    safe_file_name,
)
from bot.handoff.state import HandoffState, idle_deadline
from bot.knowledge import KnowledgeBase
from bot.thai_dates import BANGKOK
from bot.turn import Turn


@pytest.mark.parametrize("text", ["จบการสนทนา", "จบการสนทนาค่ะ", " จบ การสนทนา ครับ", "จบแชท", "ปิดแชทค่ะ",
                                  "End chat", "end chat please", "back to bot", "เลิกคุยกับเจ้าหน้าที่"])
def test_end_phrases_end_the_chat(text):
    assert is_end_phrase(text)


@pytest.mark.parametrize("text", ["", None, "ขอบคุณค่ะ", "จบ", "ยังไม่จบการสนทนานะคะ", "how do I end chat?",
                                  "อยากคุยต่อค่ะ จบการสนทนาทีหลัง"])
def test_other_messages_do_not(text):
    assert not is_end_phrase(text)


def test_postback_action():
    assert postback_action("action=handoff&from=unknown") == "handoff"
    assert postback_action("action=topic&id=staff") == "topic"
    assert postback_action("nonsense") is None


def test_bot_answers_render_as_text_and_flex_as_its_alt_text():
    kb = KnowledgeBase.load()
    rendered = render_line_messages(kb.topic("emergency").messages)
    assert rendered.startswith("⚠️ หากเป็นเหตุฉุกเฉิน")
    assert "[flex] เหตุฉุกเฉิน โทร 1669 ทันที / Emergency: call 1669" in rendered
    assert render_line_messages([{"type": "sticker", "packageId": "1", "stickerId": "1"}]) == "[sticker]"


def render_patient_event(event: dict) -> str | None:
    return render_patient_turn(Turn.parse(event))


def test_patient_events_render_for_agents():
    assert render_patient_event({"type": "message", "message": {"type": "text", "text": "สวัสดี"}}) == "สวัสดี"
    assert render_patient_event({"type": "message", "message": {"type": "sticker"}}) == "[สติกเกอร์ / sticker]"
    assert render_patient_event({"type": "postback", "postback": {"data": "action=topic&id=parking"}}) == \
        "[กดปุ่ม / button] parking"
    location = {"type": "message", "message": {"type": "location", "title": "บ้าน", "address": "ถนนตัวอย่าง",
                                               "latitude": 13.75, "longitude": 100.5}}
    assert render_patient_event(location) == "[ตำแหน่ง / location] บ้าน ถนนตัวอย่าง https://maps.google.com/?q=13.75,100.5"
    assert render_patient_event({"type": "unfollow"}) is None


def on_livedesk(url: str) -> bool:
    return attachment_url_allowed(url, ["files.engagelab.com"])


def test_agent_message_becomes_text_images_and_file_links():
    messages = agent_line_messages("ดูเอกสารแนบค่ะ", [
        {"file_type": "image", "data_url": "https://files.engagelab.com/a.png",
         "thumb_url": "https://files.engagelab.com/a-thumb.png"},
        {"file_type": "file", "data_url": "https://files.engagelab.com/form.pdf"},
        {"file_type": "file", "data_url": "https://engagelab.com/form.pdf"},           # a sibling host
        {"file_type": "image", "data_url": "http://files.engagelab.com/b.png"},  # LINE wants https
        {"file_type": "image", "data_url": "https://evil.test/c.png"},          # not LiveDesk's
    ], on_livedesk)
    assert messages == [
        {"type": "text", "text": f"ดูเอกสารแนบค่ะ\n📎 https://files.engagelab.com/form.pdf\n{ATTACHMENT_NOT_SHOWN}\n"
                                 f"{ATTACHMENT_NOT_SHOWN}\n{ATTACHMENT_NOT_SHOWN}"},
        {"type": "image", "originalContentUrl": "https://files.engagelab.com/a.png",
         "previewImageUrl": "https://files.engagelab.com/a-thumb.png"},
    ]
    assert agent_line_messages("", [], on_livedesk) == []
    many = agent_line_messages("", [{"file_type": "image", "data_url": f"https://files.engagelab.com/{n}.png"}
                                    for n in range(6)], on_livedesk)
    assert len(many) <= 5 and many[0]["type"] == "text"  # images beyond four become links


@pytest.mark.parametrize("url, allowed", [
    ("https://livedesk-api.engagelab.com/a.png", True),
    ("https://LIVEDESK-API.engagelab.com./a.png", True),
    ("https://cdn.engagelab.com/a.png", False),               # same registrable domain, another host
    ("https://engagelab.com/a.png", False),
    ("https://x.livedesk-api.engagelab.com/a.png", False),    # a subdomain is another host too
    ("https://user:pw@livedesk-api.engagelab.com/a.png", False),
    ("http://cdn.engagelab.com/a.png", False),                # not https
    ("https://engagelab.com.evil.test/a.png", False),
    ("https://evilengagelab.com/a.png", False),
    ("https://engagelab.com@evil.test/a.png", False),         # the host is evil.test
    ("https://livedesk-api.engagelab.com:8443/a.png", False),  # another port of the host: another program
    ("https://livedesk-api.engagelab.com:443/a.png", True),    # https's own port, said out loud
    ("https://livedesk-api.engagelab.com:99999/a.png", False),  # not a port
    ("javascript:alert(1)", False),
    ("", False),
    ("https://[::1/a.png", False),                            # not even a URL
])
def test_only_https_links_on_livedesk_s_exact_host_are_shown(url, allowed):
    assert attachment_url_allowed(url, ["livedesk-api.engagelab.com"]) is allowed


@pytest.mark.parametrize("url, allowed", [
    ("https://files.example.test:8443/a.png", True),
    ("https://files.example.test/a.png", False),         # 443: not the port listed
    ("https://files.example.test:8444/a.png", False),
    ("https://cdn.example.test/a.png", True),            # listed without a port: 443
    ("https://cdn.example.test:8443/a.png", False),
])
def test_the_port_is_checked_with_the_host(url, allowed):
    assert attachment_url_allowed(url, ["files.example.test:8443", "cdn.example.test"]) is allowed


def test_the_end_button_goes_on_the_last_message_only():
    messages = [{"type": "text", "text": "a"}, {"type": "image", "originalContentUrl": "https://x"}]
    marked = with_end_button(messages)
    assert "quickReply" not in marked[0] and marked[1]["quickReply"] == END_CHAT_QUICK_REPLY
    assert "quickReply" not in messages[1]  # the input is left alone
    assert with_end_button([]) == []


def test_note_has_reason_knowledge_and_last_messages():
    at = dt.datetime(2026, 1, 7, 14, 5, tzinfo=BANGKOK).timestamp()
    note = handoff_note("asked", opened_at=at, urgent=False, known={"เบอร์โทร": "0812345678"}, transcript=[
        {"who": "patient", "text": "ขอคุยกับ\nเจ้าหน้าที่", "at": at - 60},
        {"who": "bot", "text": "รับทราบค่ะ", "at": at}])
    assert note.splitlines()[:4] == ["🔔 ผู้ป่วยขอคุยกับเจ้าหน้าที่ (handoff จาก LINE bot)",
                                     "เหตุผล: ผู้ป่วยขอคุยกับเจ้าหน้าที่", "เวลา: 14:05 น. 7 ม.ค. 2569",
                                     "ข้อมูลที่ระบบทราบ:"]
    assert "- เบอร์โทร: 0812345678" in note
    assert "[14:04] ผู้ป่วย: ขอคุยกับ เจ้าหน้าที่" in note and "[14:05] บอท: รับทราบค่ะ" in note
    assert handoff_note("emergency", opened_at=at, urgent=True, known={}, transcript=[]).startswith("🚨")


def test_known_from_oho_contact():
    contact = {"phone": "0812345678", "tags": ["vip", "ckd"], "labels": ["x"],
               "attributes": [{"display_name": "HN", "value": {"text": "HN-1"}}, {"broken": True}]}
    assert known_from_oho(contact) == {"เบอร์โทร (Oho)": "0812345678", "แท็ก": "vip, ckd", "HN": "HN-1"}


def test_state_round_trips_through_redis_fields():
    state = HandoffState(session="01ABC", reason="emergency", since=1.5, urgent=True, last_agent=3.0,
                         last_notice=2.0, notice_event="01XYZ")
    raw = {k.encode(): v.encode() for k, v in state.to_fields().items()}
    assert HandoffState.from_fields(raw) == state
    assert HandoffState.from_fields({**raw, b"last_patient": b"9.0"}) == state  # a field no longer used
    assert HandoffState.from_fields({}) is None
    assert state.quiet_since == 3.0


def bkk(day: int, hour: int, minute: int = 0) -> float:
    """January 2026 in Bangkok: the 8th is a Thursday, the 9th a Friday, the 12th a Monday."""
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=BANGKOK).timestamp()


def test_idle_clock_runs_from_the_agents_last_message_in_opening_hours_only():
    hours = parse_business_hours("Mon-Fri 08:00-16:00")
    waiting = HandoffState(session="s", reason="asked", since=bkk(8, 22))
    assert idle_deadline(waiting, hours, 60) == bkk(9, 9)              # asked at night: an hour after opening
    answered = HandoffState(session="s", reason="asked", since=bkk(9, 10), last_agent=bkk(9, 15, 30))
    assert idle_deadline(answered, hours, 60) == bkk(12, 8, 30)       # half an hour Friday, half Monday
    assert idle_deadline(answered, hours, 20) == bkk(9, 15, 50)


@pytest.mark.parametrize("name, safe", [
    ("ผลตรวจเลือด.pdf", "ผลตรวจเลือด.pdf"),                   # Thai names stay
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\a\\report.pdf", "report.pdf"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),               # a right-to-left override is dropped
    ("a\r\nContent-Type: x.pdf", "aContent-Type x.pdf"),
    ('<img src=x onerror="1">.png', "img src=x onerror=1.png"),
    ("...hidden", "hidden"),
    ("", "file-1.pdf"),
    (None, "file-1.pdf"),
    ("/", "file-1.pdf"),
])
def test_patient_file_names_are_sanitised_for_livedesk(name, safe):
    assert safe_file_name(name, "file-1.pdf") == safe


def test_long_file_names_keep_their_extension():
    name = safe_file_name("ก" * 300 + ".pdf", "x")
    assert len(name) <= 120 and name.endswith(".pdf")
