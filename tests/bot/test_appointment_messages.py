"""Flex notices for appointments, and the Flex structure checker they are held to."""

from __future__ import annotations

import copy
import json

import pytest

from bot.appointment_messages import appointment_message
from bot.appointments import parse_appointment
from bot.privacy import mask
from tests.flex_rules import assert_valid_flex, flex_problems

CID = "1101700203450"  # made-up, checksum-valid
HOSPITAL = "โรงพยาบาลทดสอบ"
COLOR = "#0A7E5A"
TITLES = {"booked": "ยืนยันการนัดหมาย", "changed": "เปลี่ยนแปลงนัดหมาย",
          "cancelled": "ยกเลิกนัดหมาย", "reminder": "แจ้งเตือนนัดหมาย"}


def appointment(**overrides):
    row = {"appointment_id": "A-1", "cid": CID, "date": "2026-12-25", "time": "09:30",
           "clinic": "คลินิกเบาหวาน", "doctor": "นพ.สมมติ ใจดี", "location": "อาคาร 2 ชั้น 3",
           "note": "งดน้ำงดอาหารหลังเที่ยงคืน"}
    row.update(overrides)
    return parse_appointment(row)


def texts(node) -> list[str]:
    """Every text shown in a Flex tree, in order."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "text":
            found.append(node["text"])
        for value in node.values():
            found += texts(value)
    elif isinstance(node, list):
        for value in node:
            found += texts(value)
    return found


@pytest.mark.parametrize("kind", TITLES)
def test_every_notice_is_valid_flex_with_the_details(kind):
    message = appointment_message(kind, appointment(), hospital_name=HOSPITAL, color=COLOR)
    assert_valid_flex(message)
    shown = texts(message["contents"])
    for expected in (HOSPITAL, TITLES[kind], "วันศุกร์ที่ 25 ธันวาคม 2569", "09:30 น.", "คลินิกเบาหวาน",
                     "นพ.สมมติ ใจดี", "อาคาร 2 ชั้น 3", "งดน้ำงดอาหารหลังเที่ยงคืน"):
        assert expected in shown, expected
    assert message["contents"]["header"]["backgroundColor"] == COLOR
    alt = message["altText"]
    assert len(alt) <= 400
    assert TITLES[kind] in alt and "25 ธ.ค. 2569" in alt and "09:30 น." in alt and "คลินิกเบาหวาน" in alt


@pytest.mark.parametrize("kind", TITLES)
def test_the_cid_never_appears(kind):
    message = appointment_message(kind, appointment(), hospital_name=HOSPITAL, color=COLOR)
    for dumped in (json.dumps(message), json.dumps(message, ensure_ascii=False)):
        assert CID not in dumped and mask(CID) not in dumped


def test_optional_rows_are_left_out_when_absent():
    message = appointment_message("booked", appointment(doctor=None, location=None, note=None),
                                  hospital_name=HOSPITAL, color=COLOR)
    assert_valid_flex(message)
    shown = texts(message["contents"])
    assert "แพทย์" not in shown and "สถานที่" not in shown and "หมายเหตุ" not in shown
    assert "คลินิก" in shown


def test_changed_shows_the_previous_time_struck_through():
    before = appointment(date="2026-12-20", time="08:00")
    message = appointment_message("changed", appointment(status="changed"), hospital_name=HOSPITAL,
                                  color=COLOR, previous=before)
    assert_valid_flex(message)
    old_row = message["contents"]["body"]["contents"][2]["contents"][0]["contents"]
    assert old_row[0]["text"] == "นัดเดิม"
    assert old_row[1]["text"] == "วันอาทิตย์ที่ 20 ธันวาคม 2569 เวลา 08:00 น."
    assert old_row[1]["decoration"] == "line-through"


def test_cancelled_strikes_the_date_and_time():
    message = appointment_message("cancelled", appointment(status="cancelled"), hospital_name=HOSPITAL,
                                  color=COLOR)
    rows = message["contents"]["body"]["contents"][2]["contents"]
    struck = [r["contents"][0]["text"] for r in rows if r["contents"][1].get("decoration") == "line-through"]
    assert struck == ["วันที่", "เวลา"]


def test_header_text_stays_readable_on_a_light_colour():
    dark = appointment_message("booked", appointment(), hospital_name=HOSPITAL, color="#0A3D62")
    light = appointment_message("booked", appointment(), hospital_name=HOSPITAL, color="#FFE082")
    assert dark["contents"]["header"]["contents"][1]["color"] == "#FFFFFF"
    assert light["contents"]["header"]["contents"][1]["color"] == "#1A1A1A"


def test_long_alt_text_is_cut_to_400():
    message = appointment_message("reminder", appointment(clinic="ก" * 200), hospital_name="ข" * 300,
                                  color=COLOR)
    assert len(message["altText"]) == 400 and message["altText"].endswith("…")
    assert_valid_flex(message)


@pytest.mark.parametrize("kwargs", [
    {"color": "green"}, {"color": "#0A7E5"}, {"color": "#0A7E5AFF"}, {"hospital_name": " "},
])
def test_bad_branding_is_refused(kwargs):
    args = {"hospital_name": HOSPITAL, "color": COLOR, **kwargs}
    with pytest.raises(ValueError):
        appointment_message("booked", appointment(), **args)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        appointment_message("moved", appointment(), hospital_name=HOSPITAL, color=COLOR)


# --- the checker itself ------------------------------------------------------

SEED_EXAMPLE = {  # the send-now example from the MOPH seed, trimmed
    "type": "flex", "altText": "แจ้งเตือนรหัส OTP",
    "contents": {"type": "bubble",
                 "hero": {"type": "image", "url": "https://example.org/banner.png", "size": "full",
                          "aspectRatio": "20:8", "aspectMode": "cover"},
                 "body": {"type": "box", "layout": "vertical", "spacing": "md", "backgroundColor": "#40F500FF",
                          "contents": [{"type": "text", "text": "แจ้งเตือนรหัส OTP", "weight": "bold",
                                        "size": "xl", "color": "#206803FF", "align": "center",
                                        "gravity": "center", "wrap": True, "contents": []},
                                       {"type": "box", "layout": "baseline", "spacing": "sm", "contents": [
                                           {"type": "text", "text": "123456", "size": "4xl", "flex": 4}]}]}}}


def test_checker_accepts_the_seed_example():
    assert_valid_flex(SEED_EXAMPLE)


def broken(path_and_value):
    message = copy.deepcopy(SEED_EXAMPLE)
    *path, last = path_and_value[0]
    node = message
    for step in path:
        node = node[step]
    if path_and_value[1] is KeyError:
        del node[last]
    else:
        node[last] = path_and_value[1]
    return message


BODY = ("contents", "body")
FIRST_TEXT = BODY + ("contents", 0)


@pytest.mark.parametrize("change, expected", [
    ((("altText",), KeyError), "$.altText"),
    ((("type",), "text"), "$.type"),
    ((("contents", "type"), "page"), "bubble' or 'carousel"),
    ((BODY + ("layout",), KeyError), "layout: required"),
    ((BODY + ("contents",), KeyError), "contents: required"),
    ((FIRST_TEXT + ("text",), KeyError), "text: required"),
    ((FIRST_TEXT + ("size",), "huge"), "size: 'huge'"),
    ((FIRST_TEXT + ("color",), "red"), "#RRGGBB"),
    ((FIRST_TEXT + ("type",), "video"), "not a Flex component type"),
    ((FIRST_TEXT + ("weight",), "heavy"), "weight"),
    ((BODY + ("spacing",), "big"), "spacing"),
    ((("contents", "size"), "large"), "bubble size"),
    ((BODY + ("contents", 1, "contents", 0), {"type": "button", "action": {"type": "uri", "uri": "https://x.org"}}),
     "baseline box holds only"),
    ((BODY + ("contents", 0), {"type": "button"}), "action: required"),
    ((BODY + ("contents", 0), {"type": "icon", "url": "https://x.org/i.png"}), "only in a baseline box"),
    ((("contents", "hero", "url"), "http://insecure.org/x.png"), "https URL"),
])
def test_checker_rejects(change, expected):
    problems = flex_problems(broken(change))
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError):
        assert_valid_flex(broken(change))


def test_carousel_holds_at_most_twelve_bubbles():
    bubble = SEED_EXAMPLE["contents"]
    twelve = {"type": "flex", "altText": "x", "contents": {"type": "carousel", "contents": [bubble] * 12}}
    assert_valid_flex(twelve)
    thirteen = copy.deepcopy(twelve)
    thirteen["contents"]["contents"].append(bubble)
    assert any("13 bubbles" in p for p in flex_problems(thirteen))
