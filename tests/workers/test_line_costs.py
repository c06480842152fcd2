"""What each feature costs in LINE messages: replies are free, pushes count against the Official
Account's monthly quota. Every answer to a patient's own turn must go out as a reply; pushes are
for what is not a patient's turn (an agent's message, staff closing the chat).

Signed LINE webhooks → the real RQ worker → LINE stub; Oho and LiveDesk stubbed over HTTP
(``tests/handoff_stubs.py``). Run with ``-s`` to read the figures.
"""

from __future__ import annotations

from tests.handoff_stubs import (  # noqa: F401  (fixtures used by name)
    USER,
    agent_event,
    http,
    line_extra,
    livedesk,
    oho,
    post_livedesk,
    resolved_event,
    services,
    settings,
)
from tests.support import text_event


def counts(line_stub) -> tuple[int, int]:
    paths = [request.path for request, answer in line_stub.log if answer.status_code < 300]
    return paths.count("/v2/bot/message/reply"), paths.count("/v2/bot/message/push")


def say(webhook, run_worker, text: str = "", postback: str | None = None) -> None:
    event = text_event(text, user=USER)
    if postback is not None:
        event.update(type="postback", postback={"data": postback})
        del event["message"]
    assert webhook.post([event]).status_code == 200
    run_worker()


def test_faq_answers_are_replies(webhook, run_worker, line_extra, oho, livedesk):
    for question in ("โรงพยาบาลเปิดกี่โมง", "ที่จอดรถอยู่ไหน", "ต้องเตรียมเอกสารอะไรบ้าง"):
        say(webhook, run_worker, question)
    replies, pushes = counts(line_extra)
    print(f"\nFAQ, 3 questions: {replies} replies, {pushes} pushes")
    assert (replies, pushes) == (3, 0)


def test_a_handoff_pushes_only_what_staff_send(webhook, client, run_worker, line_extra, oho, livedesk):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")        # a reply: "a person will answer"
    say(webhook, run_worker, "ยังรออยู่นะคะ")                # silent: staff have the chat
    assert post_livedesk(client, agent_event(9101, "สวัสดีค่ะ พยาบาลรับเรื่องแล้วค่ะ")).status_code == 200
    run_worker()                                             # a push: the agent's message
    assert post_livedesk(client, resolved_event(141)).status_code == 200
    run_worker()                                             # a push: staff closed, the bot is back
    replies, pushes = counts(line_extra)
    print(f"\nhandoff, 2 patient turns + 1 agent message + staff closing: {replies} replies, {pushes} pushes")
    assert (replies, pushes) == (1, 2)


def test_a_handoff_the_patient_ends_is_all_replies(webhook, run_worker, line_extra, oho, livedesk):
    say(webhook, run_worker, "ขอคุยกับเจ้าหน้าที่")
    say(webhook, run_worker, "จบการสนทนาค่ะ")
    replies, pushes = counts(line_extra)
    print(f"\nhandoff ended by the patient, 2 turns: {replies} replies, {pushes} pushes")
    assert (replies, pushes) == (2, 0)
