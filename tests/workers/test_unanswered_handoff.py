"""With the handoff on, a second question in a row the bot could not answer gets the staff offer instead
of "didn't understand": it is counted all the same. While staff have the chat the bot is silent, and
nothing is counted."""

from __future__ import annotations

from bot.handoff.messages import OFFER_POSTBACK
from tests.handoff_stubs import (  # noqa: F401
    USER,
    http,
    line_extra,
    livedesk,
    oho,
    replies,
    services,
    settings,
)
from tests.support import text_event

CAT, CAT_MASKED = "แมวชื่อส้ม 3 ขวบ ไลน์ somchai@mail.com 0812345678", "แมวชื่อส้ม # ขวบ ไลน์ @ #"  # made up
SOUP, SOUP_MASKED = "ขอสูตรแกงเขียวหวาน 2 ที่", "ขอสูตรแกงเขียวหวาน # ที่"


def say(webhook, run_worker, text):
    assert webhook.post([text_event(text, user=USER)]).status_code == 200
    run_worker()


def test_the_staff_offer_standing_for_didnt_understand_is_counted(webhook, run_worker, line_extra, oho,
                                                                  livedesk, services, redis):
    say(webhook, run_worker, SOUP)
    say(webhook, run_worker, CAT)
    offer = replies(line_extra)[-1].get_json()["messages"][0]
    assert offer["quickReply"]["items"][0]["action"]["data"] == OFFER_POSTBACK
    assert dict(services.unanswered.most_asked(1, 10)) == {SOUP_MASKED: 1, CAT_MASKED: 1}

    pressed = text_event("", user=USER, type="postback", postback={"data": OFFER_POSTBACK})
    del pressed["message"]
    webhook.post([pressed])
    run_worker()
    say(webhook, run_worker, SOUP)  # staff have the chat: the bot says nothing, counts nothing
    assert dict(services.unanswered.most_asked(1, 10)) == {SOUP_MASKED: 1, CAT_MASKED: 1}
