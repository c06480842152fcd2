"""What a patient does besides typing: add the account as a friend, send a sticker, send an image.

Each goes from the page through the LINE simulator as LINE's signed webhook to /callback, is
answered by a real RQ worker through the real LINE client, and shows on the patient's screen;
during a handoff it reaches the agent desk the way the LiveDesk mirror sends it.
"""

from __future__ import annotations

import pytest

from handlers.sandbox.people import PATIENTS
from tests.support import wait_for

SOMCHAI, MALEE, JOHN = PATIENTS


def _bot_answer(sandbox, run_worker, patient, after: int = 0) -> list[dict]:
    """The bot's messages on the patient's screen after the first ``after`` bot entries, once they come."""
    def answered():
        run_worker()
        bot = [e for e in sandbox.store.items(f"line:chat:{patient.user_id}") if e["from"] == "bot"]
        return bot[after:] or None
    return wait_for(answered, timeout=30, what="the bot's answer")


def _shown(message: dict) -> str:
    return message.get("text") or message.get("altText") or ""


def _chat_panel(sandbox, patient) -> str:
    return sandbox.get("/sandbox/ui/state", params={"patient": patient.key}).json()["panels"]["chat"]


def test_follow_reaches_the_bot_and_the_greeting_is_shown(sandbox, run_worker):
    assert sandbox.post(f"/sandbox/ui/patients/{SOMCHAI.key}/events", json={"type": "follow"}).status_code == 202
    answer = _bot_answer(sandbox, run_worker, SOMCHAI)
    greeting = sandbox.services.dialog.on_follow().messages
    assert answer[0]["via"] == "reply" and [_shown(m) for m in answer[0]["messages"]] == [_shown(m) for m in greeting]
    assert any(l["what"] == "webhook follow" and l["status"] == 200 for l in sandbox.traffic("line"))
    chat = _chat_panel(sandbox, SOMCHAI)
    assert 'data-kind="follow"' in chat and _shown(greeting[0])[:20] in chat


@pytest.mark.parametrize("kind", ["sticker", "image"])
def test_a_sticker_or_an_image_reaches_the_bot_and_gets_the_non_text_answer(sandbox, run_worker, kind):
    assert sandbox.post(f"/sandbox/ui/patients/{JOHN.key}/events", json={"type": kind}).status_code == 202
    answer = _bot_answer(sandbox, run_worker, JOHN)
    expected = sandbox.services.dialog.on_other_message(kind).messages
    assert [_shown(m) for m in answer[0]["messages"]] == [_shown(m) for m in expected]
    assert any(l["what"] == f"webhook message {kind}" and l["status"] == 200 for l in sandbox.traffic("line"))
    sent = next(e for e in sandbox.store.items(f"line:chat:{JOHN.user_id}") if e["from"] == "patient")
    chat = _chat_panel(sandbox, JOHN)
    assert f'data-kind="{kind}"' in chat
    if kind == "image":  # LINE's content route has it for the bot; the patient's screen shows it
        token = sandbox.settings.line_channel_access_token.get_secret_value()
        content = sandbox.get(f"/sandbox/line-data/v2/bot/message/{sent['message_id']}/content",
                              headers={"Authorization": f"Bearer {token}"})
        assert content.status_code == 200 and content.headers["Content-Type"] == "image/png"
        assert content.content.startswith(b"\x89PNG")
        assert f"/sandbox/ui/line-content/{sent['message_id']}" in chat
        assert sandbox.get(f"/sandbox/ui/line-content/{sent['message_id']}").content == content.content


def test_during_a_handoff_the_sticker_and_the_image_reach_the_desk(sandbox, run_worker):
    assert sandbox.post(f"/sandbox/ui/patients/{MALEE.key}/messages", json={"text": "คุยกับเจ้าหน้าที่"}
                        ).status_code == 202
    _bot_answer(sandbox, run_worker, MALEE)
    for kind in ("sticker", "image"):
        assert sandbox.post(f"/sandbox/ui/patients/{MALEE.key}/events", json={"type": kind}).status_code == 202

    def on_the_desk():
        run_worker()
        state = sandbox.get("/sandbox/ui/state", params={"patient": MALEE.key}).json()["panels"]
        desk = state["desk-messages"]
        return desk if "[สติกเกอร์ / sticker]" in desk and 'data-testid="agent-attachment"' in desk else None
    desk = wait_for(on_the_desk, timeout=30, what="the sticker and the image on the desk")
    assert 'data-type="image"' in desk
    url = desk.split('data-type="image"><img src="', 1)[1].split('"', 1)[0]
    picture = sandbox.get(url[len(sandbox.url):])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")


def test_bad_events_are_refused_with_a_reason(sandbox):
    for path, kwargs, status in [
        ("/sandbox/ui/patients/nobody/events", {"json": {"type": "follow"}}, 404),
        (f"/sandbox/ui/patients/{SOMCHAI.key}/events", {"json": {"type": "video"}}, 400),
        (f"/sandbox/ui/patients/{SOMCHAI.key}/events", {"json": ["follow"]}, 400),
        (f"/sandbox/ui/patients/{SOMCHAI.key}/events", {"data": b"type=follow"}, 400),
        (f"/sandbox/ui/patients/{SOMCHAI.key}/events", {"data": b"{", "headers": {"Content-Type": "application/json"}},
         400),
    ]:
        answer = sandbox.post(path, **kwargs)
        assert answer.status_code == status and answer.json()["error"], (path, kwargs)
    assert sandbox.get("/sandbox/ui/line-content/123456").status_code == 404
    assert sandbox.get("/sandbox/ui/line-content/..%2Fx").status_code == 404
    assert sandbox.get("/sandbox/ui/desk/attachments/1").status_code == 404
    token = sandbox.settings.line_channel_access_token.get_secret_value()
    assert sandbox.get("/sandbox/line-data/v2/bot/message/1/content",
                       headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert sandbox.get("/healthz").status_code == 200
