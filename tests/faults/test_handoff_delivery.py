"""The handoff survives LiveDesk, LINE and Oho outages and a killed worker: every line reaches LiveDesk,
every agent reply reaches the patient, request-agent happens, each once and in order.

The service runs as its Procfile says against a real redis-server, LINE and the providers stubbed
over HTTP (``tests/faults/providers.py``). LiveDesk here also echoes every message it makes back
through the webhook, as the real one does: the bot's own posts must never come back to the patient
as an agent's reply. "In LiveDesk" means the LiveDesk stand-in made the message.

The scenarios share one stack (``world``), each with its own patients.
"""

from __future__ import annotations

import os
import time

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from integrations.line import retry_key_for
from tests.faults.figures import Figures
from tests.faults.scenario_support import in_order, report
from tests.faults.waiting import poll_until
from tests.faults.webhooks import patient_id
from tests.support import wait_for
from workers.handoff.store import mirror_outbox, patient_outbox
from workers.queues import DEFAULT_QUEUE

pytestmark = pytest.mark.faults

#: Outages, shorter than the issue's words so the suite stays short: each outlasts the first two
#: retries of an item (DEFAULT_BACKOFF in workers/user_queue.py: 5, then 15 s), the third one succeeds.
LIVEDESK_OUTAGE_SECONDS = float(os.environ.get("FAULTS_LIVEDESK_OUTAGE_SECONDS", "18"))
LINE_PUSH_OUTAGE_SECONDS = float(os.environ.get("FAULTS_LINE_PUSH_OUTAGE_SECONDS", "18"))
#: A LINE answer slower than this counts as delayed (they take well under a second when all is well).
PROMPT_SECONDS = 5.0
STARTED = "กำลังส่งต่อให้เจ้าหน้าที่"    # handoff_started_message
WAITING = "ขณะนี้แชทนี้อยู่กับเจ้าหน้าที่"  # handoff_waiting_message
MIRROR_DEAD = "livedesk:outbox:dead"
TO_PATIENT_DEAD = "handoff:to-patient:dead"


@pytest.fixture(scope="module", autouse=True)
def echoes(world):
    world.providers.livedesk.echo_to = world.livedesk_hook
    yield
    world.providers.livedesk.echo_to = None


@pytest.fixture(autouse=True)
def healed(world):
    yield
    world.heal()


def first_answer(world, event):
    """The first accepted LINE answer of ``event`` (its reply token, or its answer push)."""
    for call in world.line.accepted():
        if call.reply_token == event.reply_token or call.retry_key == retry_key_for("answer", event.id):
            return call
    return None


def quiet(world, *patients, started: bool = True) -> bool:
    """Nothing left to do for these patients: outboxes empty, no default-queue job waiting (or running)."""
    users = [patient_id(p) for p in patients]
    if any(mirror_outbox(world.redis).has_pending(u) or patient_outbox(world.redis).has_pending(u) for u in users):
        return False
    queue = Queue(DEFAULT_QUEUE, connection=world.redis)
    # Scheduled for soon: RQ retries. (A handoff's no-agent and idle checks wait minutes: not "soon".)
    if queue.count or world.redis.zcount(ScheduledJobRegistry(queue=queue).key, "-inf", time.time() + 120):
        return False
    return not started or not StartedJobRegistry(queue=queue).count


def open_handoff(world, patient: int) -> int:
    """The patient presses "talk to staff"; returns their LiveDesk conversation once all is settled."""
    press = world.event(patient, postback="action=handoff")
    assert world.send(press) == 200
    wait_for(lambda: (call := first_answer(world, press)) and STARTED in call.texts[0], 15,
               what=f"p{patient} told the handoff opened")
    conversation = wait_for(lambda: world.conversation_of(patient), 15, what=f"p{patient}'s conversation")
    wait_for(lambda: world.providers.oho.rooms.get(patient_id(patient)) == "agent", 20,
               what=f"p{patient}'s Oho room with an agent")
    wait_for(lambda: quiet(world, patient), 30, what=f"p{patient}'s handoff settled")
    return conversation


def incoming(world, conversation: int) -> list[str]:
    return [m.content for m in world.providers.livedesk.in_conversation(conversation, private=False)
            if m.message_type == "incoming"]


def arrival_figures(name: str, texts: list[str], world, conversation: int, dead_key: str, *,
                    start: float, fault_end: float | None, notes: str = "") -> tuple[Figures, dict[str, int]]:
    """Figures of patient texts mirrored into LiveDesk ("answered" = made in LiveDesk)."""
    made = [m for m in world.providers.livedesk.in_conversation(conversation, private=False)
            if m.message_type == "incoming"]
    counts = {t: sum(1 for m in made if m.content == t) for t in texts}
    firsts = [next(m.seq for m in made if m.content == t) for t in texts if counts[t]]
    made_at = [c.at for c in world.providers.livedesk.calls_to("/messages")
               if c.acted and isinstance(c.body, dict) and c.body.get("content") in texts]
    last = max(made_at) if made_at and all(counts.values()) else None
    return Figures(
        scenario=name, sent=len(texts), delivered=len(texts), answered=sum(1 for t in texts if counts[t]),
        twice=sum(1 for t in texts if counts[t] > 1), set_aside=world.dead(dead_key),
        unanswered=sum(1 for t in texts if not counts[t]), out_of_order=0 if in_order(firsts) else 1,
        first_to_last=(last - start) if last else None,
        recover=(last - fault_end) if last and fault_end else None, notes=notes), counts


def test_livedesk_outage_while_a_patient_in_handoff_keeps_writing(world):
    """LiveDesk answers 503 for LIVEDESK_OUTAGE_SECONDS while a patient in an open handoff writes five
    messages (and a patient outside a handoff chats): afterwards each message is in LiveDesk once, in
    order, nothing set aside, and both patients' LINE answers came as quickly as without the outage."""
    patient, bystander = 21, 22
    conversation = open_handoff(world, patient)
    fault_end = world.providers.livedesk.fail_for(LIVEDESK_OUTAGE_SECONDS, 503)
    start = time.monotonic()
    texts, answered = [], []
    for k in range(1, 6):
        texts.append(f"ผู้ป่วย {patient} ข้อความที่ {k} ระหว่างรอเจ้าหน้าที่")
        world.send(world.event(patient, text=texts[-1]))
        answered.append(world.event(bystander))
        world.send(answered[-1])
        time.sleep(1)  # pacing: a patient typing, not a synchronisation
    answered.append(world.event(patient, postback="action=handoff"))  # presses "staff" again: a reminder
    world.send(answered[-1])
    wait_for(lambda: all(first_answer(world, e) for e in answered), 15, what="LINE answers during the outage")
    latency = max(first_answer(world, e).at - e.sent_at for e in answered)
    poll_until(lambda: all(t in incoming(world, conversation) for t in texts) and quiet(world, patient, bystander),
               max(5.0, fault_end + 75 - time.monotonic()))
    fig, counts = arrival_figures("test_livedesk_outage_while_a_patient_in_handoff_keeps_writing", texts, world,
                                  conversation, MIRROR_DEAD, start=start, fault_end=fault_end,
                                  notes=f"outage={LIVEDESK_OUTAGE_SECONDS:.0f}s line_answers={len(answered)} "
                                        f"slowest_line_answer={latency:.2f}s "
                                        f"livedesk_failures={sum(1 for c in world.providers.livedesk.calls if c.status == 503)}")
    report(fig)
    assert (fig.answered, fig.twice, fig.set_aside, fig.out_of_order) == (len(texts), 0, 0, 0), \
        f"{fig.line()}\ncounts: {counts}"
    assert latency <= PROMPT_SECONDS, f"LINE answers were delayed by the LiveDesk outage\n{fig.line()}"
    waiting = [c for c in world.line.accepted() if c.reply_token == answered[-1].reply_token]
    assert WAITING in waiting[0].texts[0], "the patient pressing staff again is told the chat is with staff"


def test_agent_replies_while_line_push_fails(world):
    """LINE answers 503 for LINE_PUSH_OUTAGE_SECONDS while an agent sends four replies: each reaches the
    patient exactly once, in order, under one X-Line-Retry-Key per reply; nothing set aside."""
    patient = 23
    conversation = open_handoff(world, patient)
    line = world.line
    pushes_before = len(world.pushes_to(patient))
    fault_end = line.fail_for(LINE_PUSH_OUTAGE_SECONDS, 503)
    start = time.monotonic()
    replies = []
    for k in range(1, 5):
        event = world.providers.livedesk.agent_writes(conversation, f"เจ้าหน้าที่ตอบครั้งที่ {k} ค่ะ")
        answer = world.post_livedesk(event)
        assert answer.status_code == 200 and answer.json()["outcome"] == "queued", answer.text
        replies.append(event)
    keys = {e["id"]: retry_key_for("agent", str(e["id"])) for e in replies}

    def delivered():
        return [next((c for c in line.accepted() if c.retry_key == keys[e["id"]]), None) for e in replies]

    poll_until(lambda: all(delivered()) and quiet(world, patient), max(5.0, fault_end + 75 - time.monotonic()))
    firsts = delivered()
    with line._lock:
        attempts = [c for c in line.calls if c.kind == "push" and c.to == patient_id(patient)]
    by_content = {e["content"]: sum(1 for c in line.accepted() if c.kind == "push" and c.to == patient_id(patient)
                                    and any(e["content"] in t for t in c.texts)) for e in replies}
    unexplained = len(world.pushes_to(patient)) - pushes_before - sum(by_content.values())
    keys_per_reply = {e["content"]: {c.retry_key for c in attempts if any(e["content"] in t for t in c.texts)}
                      for e in replies}
    last = max((c.at for c in firsts if c), default=None) if all(firsts) else None
    fig = report(Figures(
        scenario="test_agent_replies_while_line_push_fails", sent=len(replies), delivered=len(replies),
        answered=sum(1 for c in firsts if c), twice=sum(1 for n in by_content.values() if n > 1),
        set_aside=world.dead(TO_PATIENT_DEAD), unanswered=sum(1 for c in firsts if c is None),
        out_of_order=0 if in_order([c.seq for c in firsts if c]) else 1,
        first_to_last=(last - start) if last else None, recover=(last - fault_end) if last else None,
        notes=f"outage={LINE_PUSH_OUTAGE_SECONDS:.0f}s push_attempts={len(attempts)} "
              f"failed_pushes={sum(1 for c in attempts if c.status == 503)} other_pushes={unexplained}"))
    assert (fig.answered, fig.twice, fig.set_aside, fig.out_of_order) == (len(replies), 0, 0, 0), \
        f"{fig.line()}\nper reply: {by_content}"
    assert all(len(k) == 1 for k in keys_per_reply.values()), f"retry key changed between attempts\n{fig.line()}"
    assert unexplained == 0, f"the patient got pushes that are no agent reply (an echo?)\n{fig.line()}"


def test_oho_outage_during_request_agent(world):
    """Oho answers 503 when the patient asks for staff, then carries out request-agent behind a 502 (a
    gateway that gave up): the handoff opens for the patient at once, and request-agent happens once;
    the retry's 409 ("already with an agent") counts as done and the handoff label is added."""
    patient = 25
    user = patient_id(patient)
    oho = world.providers.oho
    fault_end = oho.fail_for(3, 503)
    oho.fail_next(1, 502, after=True, match=lambda c: c.path.endswith(f"/user/{user}/request-agent"))
    start = time.monotonic()
    press = world.event(patient, postback="action=handoff")
    assert world.send(press) == 200
    told = wait_for(lambda: first_answer(world, press), 15, what="the patient told")

    def labelled() -> bool:
        return "handoff" in (oho.contacts.get(user) or {}).get("labels", [])

    poll_until(lambda: labelled() and quiet(world, patient), 90)
    calls = oho.request_agent_calls(user)
    switches = [s for s in oho.switches if s[0] == user]
    done_at = max((c.at for c in oho.calls if c.method == "PATCH" and user in c.path and c.acted), default=None)
    state_open = bool(world.redis.exists(f"handoff:state:{user}"))
    fig = report(Figures(
        scenario="test_oho_outage_during_request_agent", sent=1, delivered=1, answered=len(switches),
        twice=max(0, len(switches) - 1), set_aside=0, unanswered=0 if switches else 1, out_of_order=0,
        first_to_last=(done_at - start) if done_at and labelled() else None,
        recover=(done_at - fault_end) if done_at and labelled() else None,
        notes=f"told_after={told.at - press.sent_at:.2f}s request_agent_statuses="
              f"{'/'.join(str(c.status) for c in calls)} handoff_open={state_open} labelled={labelled()}"))
    assert STARTED in told.texts[0] and told.at - press.sent_at <= PROMPT_SECONDS, fig.line()
    assert state_open, f"the handoff is not open\n{fig.line()}"
    assert len(switches) == 1 and labelled(), fig.line()
    assert [c.status for c in calls][-1] in (200, 409), fig.line()


def test_worker_killed_right_after_livedesk_accepted_a_post(world):
    """The worker posting to LiveDesk is killed (SIGKILL) the moment LiveDesk made the bot's answer; the
    patient writes again. Holds: every line in LiveDesk once, in order, nothing set aside, the echo of
    the post never reaches the patient. The next drain finds the item's attempt marker, reads the
    conversation back and adopts the answer LiveDesk made (LIVEDESK_READ_BACK, ``auto`` here)."""
    patient = 27
    livedesk = world.providers.livedesk
    conversation = open_handoff(world, patient)
    killed = []

    def kill_the_poster(call):
        body = call.body if isinstance(call.body, dict) else {}
        if killed or f"/conversations/{conversation}/" not in call.path or body.get("message_type") != "outgoing" \
                or body.get("private"):
            return
        victim = world.stack.caller_of(call)
        if victim is not None:
            victim.kill()
            killed.append(victim)

    seq_before = len(livedesk.messages)
    livedesk.on_accept = kill_the_poster
    start = time.monotonic()
    press = world.event(patient, postback="action=handoff")  # answered with the reminder: an outgoing post
    world.send(press)
    wait_for(lambda: killed, 30, what="the worker killed after LiveDesk made the post")
    livedesk.on_accept = None
    fault_end = time.monotonic()
    world.stack.start(killed[0].kind)
    later = f"ผู้ป่วย {patient} เขียนอีกครั้งหลังจากนั้น"
    world.send(world.event(patient, text=later))
    waiting = next(c for c in world.line.accepted() if c.reply_token == press.reply_token).texts[0]
    # No "started jobs" condition: the killed worker's drain job stays registered as started until
    # RQ notices the death (~90 s), and a drain job is never retried by RQ anyway.
    poll_until(lambda: later in incoming(world, conversation) and quiet(world, patient, started=False),
               max(5.0, fault_end + 100 - time.monotonic()))
    after = [m for m in livedesk.in_conversation(conversation, private=False) if m.seq >= seq_before]
    answers = [m for m in after if m.content == waiting]
    laters = [m for m in after if m.content == later]
    last = max((m.seq for m in laters), default=None)
    echo_pushes = world.pushes_to(patient)
    arrived_at = max((c.at for c in livedesk.calls_to("/messages") if c.acted
                      and (c.body or {}).get("content") == later), default=None)
    fig = report(Figures(
        scenario="test_worker_killed_right_after_livedesk_accepted_a_post", sent=2, delivered=2,
        answered=int(bool(answers)) + int(bool(laters)), twice=int(len(answers) > 1) + int(len(laters) > 1),
        set_aside=world.dead(MIRROR_DEAD), unanswered=int(not answers) + int(not laters),
        out_of_order=0 if answers and last is not None and answers[0].seq < last else 1,
        first_to_last=(arrived_at - start) if arrived_at else None,
        recover=(arrived_at - fault_end) if arrived_at else None,
        notes=f"killed={killed[0].name} bot_answer_posts={len(answers)} echo_pushes={len(echo_pushes)} "
              f"echoes={len(livedesk.echoes)}"))
    assert (fig.unanswered, fig.set_aside, fig.out_of_order, len(laters)) == (0, 0, 0, 1), fig.line()
    assert not echo_pushes, f"an echo of the bot's own post reached the patient as an agent reply\n{fig.line()}"
    assert len(answers) == 1, f"the bot's answer is in LiveDesk {len(answers)} times\n{fig.line()}"
