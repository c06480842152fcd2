"""A patient Oho cannot make a contact for still reaches staff: LINE users without a picture get
the default avatar (Oho requires ``profile_picture_url``), and a refused contact does not stop
request-agent. Oho is stubbed enforcing the create-contact fields its document requires."""

from __future__ import annotations

import re

import pytest

from bot.settings import DEFAULT_AVATAR_URL
from tests.handoff_stubs import BOT_INFO, JPEG, USER, http, livedesk, oho, services, settings  # noqa: F401
from tests.support import text_event


@pytest.fixture
def line_without_picture(line_stub):
    """LINE as it answers for a user without a profile picture: no ``pictureUrl`` at all."""
    line_stub.expect_request("/v2/bot/info", method="GET").respond_with_json(BOT_INFO)
    line_stub.expect_request(f"/v2/bot/profile/{USER}", method="GET").respond_with_json(
        {"userId": USER, "displayName": "Somchai T."})
    line_stub.expect_request(re.compile(r"/v2/bot/message/\d+/content"), method="GET").respond_with_data(
        JPEG, content_type="image/jpeg")
    return line_stub


def ask_for_staff(webhook, run_worker):
    webhook.post([text_event("ขอคุยกับเจ้าหน้าที่", user=USER)])
    run_worker()


def test_a_patient_without_a_line_picture_is_handed_to_staff(webhook, run_worker, line_without_picture, oho,
                                                            livedesk):
    ask_for_staff(webhook, run_worker)
    [created] = oho.calls("POST", "/contact")
    assert created["profile_picture_url"] == DEFAULT_AVATAR_URL
    assert len(oho.calls("POST", "/request-agent")) == 1 and oho.room == "agent"


def test_a_refused_contact_does_not_keep_the_patient_from_staff(webhook, run_worker, line_without_picture, oho,
                                                               livedesk, redis):
    oho.refuse_create = True
    ask_for_staff(webhook, run_worker)
    # Tried once by the first-message job and once before request-agent; a 400 is not retried.
    assert len(oho.calls("POST", "/contact")) == 2
    assert len(oho.calls("POST", "/request-agent")) == 1 and oho.room == "agent"
