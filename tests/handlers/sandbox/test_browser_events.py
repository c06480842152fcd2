"""The sandbox page in a real browser: the patient's buttons besides typing, the desk following the
patient tab, and a page that stops downloading the state once nothing changes.

Uses the ``page`` fixture of ``test_browser`` (gunicorn, a real RQ worker, headless Chromium): this
module gets its own instance, so these tests start from an empty sandbox.
"""

from __future__ import annotations

import time

import pytest

from handlers.sandbox.people import BY_KEY
from tests.handlers.sandbox.test_browser import page  # noqa: F401

pytestmark = pytest.mark.integration


def _patient_entries(page, kind: str):
    return page.all(f'[data-testid=patient-message][data-from="patient"][data-kind="{kind}"]')


def test_follow_sticker_and_image_from_the_patients_line_screen(page):  # noqa: F811
    page.choose_patient("john")
    before = len(page.bot_messages())
    page.one("[data-testid=patient-follow]").click()
    page.until(lambda: _patient_entries(page, "follow"), "the 'added as a friend' line")
    page.bot_says(".", before)  # the follow greeting

    before = len(page.bot_messages())
    page.one("[data-testid=patient-sticker]").click()
    page.until(lambda: _patient_entries(page, "sticker"), "the sticker on the patient's screen")
    page.bot_says(".", before)  # the answer to what is not text

    before = len(page.bot_messages())
    page.one("[data-testid=patient-send-image]").click()
    image = page.until(lambda: (_patient_entries(page, "image") or [None])[0], "the image on the patient's screen")
    page.until(lambda: page.driver.execute_script("const i = arguments[0].querySelector('img');"
                                                  "return i.complete && i.naturalWidth > 0;", image),
               "the thumbnail drawn (its content downloaded)")
    page.bot_says(".", before)

    page.until(lambda: any(a.get_attribute("data-type") == "image" for a in page.all("[data-testid=agent-attachment]")),
               "the image mirrored to the agent desk")


def test_the_desk_follows_the_patient_tab(page):  # noqa: F811
    page.choose_patient("somchai")  # has written nothing here: no conversation of his
    page.until(lambda: page.all("[data-testid=desk-none]"), "no conversation for Somchai")
    page.choose_patient("john")
    page.until(lambda: BY_KEY["john"].name in page.one("[data-testid=agent-conversation-status]").text,
               "John's conversation on the desk")


def test_a_page_with_nothing_new_downloads_next_to_nothing(page):  # noqa: F811
    read = ("return performance.getEntriesByType('resource').filter(e => e.name.includes('/sandbox/ui/state'))"
            ".map(e => [e.responseStatus, e.encodedBodySize])")
    page.until(lambda: (page.driver.execute_script(read) or [[0, 1]])[-1][1] == 0,
               "a poll that finds nothing new")  # what the earlier tests started has settled
    page.driver.execute_script("performance.clearResourceTimings()")
    time.sleep(3)  # a window of polls to measure, not a synchronisation
    polls = page.driver.execute_script(read)
    assert len(polls) >= 3
    assert all(size == 0 for _, size in polls[1:]), polls  # 304s without a body
