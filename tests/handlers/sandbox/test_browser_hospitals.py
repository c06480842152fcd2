"""The sandbox serving two hospitals (``SANDBOX_HOSPITALS``) in a real browser: the switch between the
hospitals whole and in view at 1366×768 and at a phone's width, each hospital answering from its own
knowledge base, and an agent's reply reaching the patient's chat with that hospital only, while both
hospitals serve the same LINE user and number their LiveDesk conversations alike.

gunicorn and a real RQ worker (``python -m workers``, serving both hospitals' queues) run with the
settings ``./dev serve --hospitals`` sets; Chromium drives the page (``test_browser.Page``). Screenshots:
``var/screenshots/hospitals-*.png``.
"""

from __future__ import annotations

import pytest

from handlers.sandbox.people import BY_KEY
from tests.handlers.sandbox.test_browser import CONTROLS, LAPTOP, PANELS, PHONE, serve_in_browser

pytestmark = pytest.mark.integration

TABS = ('[data-testid=hospital-tab][data-hospital="a"]', '[data-testid=hospital-tab][data-hospital="b"]')
WITH_SWITCH = {**PANELS, "the hospital switch": ".hospitals"}
#: What each hospital's knowledge base says of its outpatient hours.
HOURS = {"a": "จันทร์–ศุกร์ 08:00–16:00 น.", "b": "จันทร์–เสาร์ 07:00–15:00 น."}


@pytest.fixture(scope="module")
def page(redis_server, tmp_path_factory):
    yield from serve_in_browser(redis_server, tmp_path_factory, SANDBOX_HOSPITALS="1",
                                VAR_DIR=str(tmp_path_factory.mktemp("var")))


def choose_hospital(page, hospital: str) -> None:
    """Tap the hospital's tab: the page becomes that hospital's (its chat, desk, contact, HIS)."""
    page.until(lambda: page.one(f'[data-testid=hospital-tab][data-hospital="{hospital}"]').click() is None,
               f"hospital {hospital}'s tab tapped")  # again if the switch was drawn anew as it was found
    page.until(lambda: page.driver.execute_script("return document.readyState === 'complete' && "
                                                  "window.SANDBOX && window.SANDBOX.hospital") == hospital
               and page.one(f'[data-testid=hospital-tab][data-hospital="{hospital}"]').get_attribute(
                   "aria-current") == "page", f"hospital {hospital}'s page")


def entries(page, hospital: str) -> int:
    """How many entries the hospital's tab counts (read at one moment, as ``tabs_now``)."""
    return int(page.driver.execute_script(
        "return document.querySelector(arguments[0]).dataset.entries",
        f'[data-testid=hospital-tab][data-hospital="{hospital}"]'))


def tabs_now(page) -> list[tuple[str, str]]:
    """The tabs' hospitals and texts read at one moment: the page draws the switch again as entries come
    in, so elements found a moment earlier may be gone (stale)."""
    return [tuple(tab) for tab in page.driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=hospital-tab]')]"
        ".map(tab => [tab.dataset.hospital, tab.innerText])")]


def test_0_the_switch_is_whole_and_in_view(page):
    page.choose_patient("somchai")
    tabs = tabs_now(page)
    assert [hospital for hospital, _ in tabs] == ["a", "b"]
    assert "โรงพยาบาลตัวอย่าง" in tabs[0][1] and "โรงพยาบาลบ้านนาตัวอย่าง" in tabs[1][1]
    assert "Mon-Sun 00:00-24:00" in tabs[0][1] and "Mon-Sat 07:00-15:00" in tabs[1][1]
    page.look("hospitals-0-laptop", controls=CONTROLS + TABS, panels=WITH_SWITCH)
    page.viewport(*PHONE, phone=True)
    try:  # at the top of a phone's screen, without scrolling: both tabs whole, side by side or stacked
        page.look("hospitals-0-phone", controls=TABS, panels=WITH_SWITCH)
        page.look("hospitals-0-phone-scrolled", controls=CONTROLS, scroll=True, panels=WITH_SWITCH, show=".desk")
    finally:
        page.viewport(*LAPTOP)


def test_1_one_patient_two_hospitals_each_answers_from_its_own_knowledge_base(page):
    page.choose_patient("somchai")
    before = page.say("เปิดกี่โมง")
    assert HOURS["a"] in page.bot_says(HOURS["a"], before)
    choose_hospital(page, "b")
    page.choose_patient("somchai")  # the same LINE user: his chat with the other hospital is empty
    assert page.bot_messages() == [] and page.one(".line-head").text.endswith("โรงพยาบาลบ้านนาตัวอย่าง")
    before = page.say("เปิดกี่โมง")
    answer = page.bot_says(HOURS["b"], before)
    assert HOURS["a"] not in answer and "ไม่มีคลินิกนอกเวลา" in answer
    page.look("hospitals-1-answers-b", controls=CONTROLS + TABS, panels=WITH_SWITCH)
    choose_hospital(page, "a")
    assert not any(HOURS["b"] in m for m in page.bot_messages())  # a's chat kept a's answer only


def test_2_a_staff_reply_reaches_the_patients_chat_with_that_hospital_only(page):
    malee = BY_KEY["malee"]
    numbers = {}
    for hospital in ("b", "a"):
        choose_hospital(page, hospital)
        page.choose_patient("malee")
        before = page.say("คุยกับเจ้าหน้าที่")
        page.bot_says("เจ้าหน้าที่", before)
        conversation = page.until(lambda: next((c for c in page.all("[data-testid=agent-conversation]")
                                                if malee.name in c.text), None), f"Malee on {hospital}'s desk")
        numbers[hospital] = conversation.get_attribute("data-conversation")
        conversation.click()
        page.until(lambda: page.all('[data-testid=agent-messages] [data-kind="note"]'), "the handoff's note")
    assert numbers["a"] == numbers["b"], "both LiveDesk accounts number their conversations from the same start"

    a_before, b_before = entries(page, "a"), entries(page, "b")
    reply = "พยาบาลโรงพยาบาลตัวอย่างรับเรื่องแล้วค่ะ"
    before = len(page.bot_messages())
    page.one("[data-testid=agent-input]").send_keys(reply)
    page.one("[data-testid=agent-send]").click()
    page.bot_says(reply, before)  # pushed to the patient's chat with a
    page.until(lambda: entries(page, "a") > a_before, "the count of the chat with a up")
    page.look("hospitals-2-reply-in-a", controls=CONTROLS + TABS, panels=WITH_SWITCH)

    choose_hospital(page, "b")
    page.choose_patient("malee")
    page.until(lambda: page.one("[data-testid=agent-conversation-status]").text.find(f"#{numbers['b']}") >= 0,
               "b's conversation of the same number on b's desk")
    assert not any(reply in m for m in page.bot_messages()), "a's agent's reply in the chat with b"
    assert not any(reply in m.text for m in page.all("[data-testid=agent-message]")), "a's reply on b's desk"
    assert entries(page, "b") == b_before
    page.look("hospitals-2-b-untouched", controls=CONTROLS + TABS, panels=WITH_SWITCH)
    page.viewport(*PHONE, phone=True)
    try:
        page.look("hospitals-2-phone", controls=TABS, panels=WITH_SWITCH)
    finally:
        page.viewport(*LAPTOP)
