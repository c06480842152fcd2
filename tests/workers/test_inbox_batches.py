"""Batches of users per drain job under a backlog (the inbox's ready list): fewer RQ jobs than
users, each user's events still in order, once, and nobody left waiting without a drain."""

import pytest
from rq.registry import FinishedJobRegistry

from integrations.errors import InvalidRequestError
from tests.support import count_round_trips, text_event
from workers.line.inbox import ENOUGH_QUEUED_DRAINS, accept_events, drain_inbox, line_inbox
from workers.pdpa import erase_user
from workers.queues import LINE_QUEUE, get_queue

READY = "line:inbox-ready"
USERS = [f"U{n:032x}" for n in range(1, 11)]


def queued_jobs(redis):
    return get_queue(redis, LINE_QUEUE).count


def texts(handled, user):
    return [e["message"]["text"] for e in handled if e["source"]["userId"] == user]


def backlog(redis, users=USERS, rounds=2):
    for round_ in range(rounds):
        for user in users:
            accept_events(redis, [text_event(f"{user[-2:]}-{round_}", user=user)])


def test_under_a_backlog_new_users_wait_on_the_ready_list_and_one_drain_answers_them_in_order(redis):
    backlog(redis)
    assert queued_jobs(redis) == ENOUGH_QUEUED_DRAINS  # a job each for the first users only
    ready = [u.decode() for u in redis.lrange(READY, 0, -1)]
    assert ready == USERS[ENOUGH_QUEUED_DRAINS:]  # the others once each, oldest first
    assert all(redis.exists(f"line:inbox-pending:{u}") for u in USERS)  # the sweeper sees a drain coming
    assert 0 < redis.ttl(READY) <= 600

    handled = []
    assert drain_inbox(redis, USERS[0], handled.append) == 2 * len(ready) + 2
    assert {e["source"]["userId"] for e in handled} == {USERS[0], *ready}
    for user in [USERS[0], *ready]:
        assert texts(handled, user) == [f"{user[-2:]}-0", f"{user[-2:]}-1"]
    assert not redis.exists(READY) and not any(redis.exists(f"line:inbox-pending:{u}") for u in ready)
    assert queued_jobs(redis) == ENOUGH_QUEUED_DRAINS  # nothing queued anew: the batch emptied the list


def test_a_real_worker_answers_a_backlog_with_fewer_jobs_than_users(webhook, run_worker, line_stub, redis):
    for user in USERS:
        assert webhook.post([text_event("เปิดกี่โมง", user=user)]).status_code == 200
    run_worker()
    replies = [r for r, _ in line_stub.log if r.path == "/v2/bot/message/reply"]
    assert len(replies) == len(USERS)  # every patient answered, once
    finished = FinishedJobRegistry(queue=get_queue(redis, LINE_QUEUE)).count
    assert finished == ENOUGH_QUEUED_DRAINS < len(USERS)
    assert not redis.exists(READY) and all(redis.llen(f"line:inbox:{u}") == 0 for u in USERS)


def test_a_drain_told_to_stop_hands_the_ready_list_to_a_new_drain(redis):
    backlog(redis, rounds=1)
    get_queue(redis, LINE_QUEUE).empty()  # the waiting jobs: not part of this test
    handled = []
    drain_inbox(redis, USERS[0], handled.append, should_stop=lambda: bool(handled))
    assert texts(handled, USERS[0]) == [f"{USERS[0][-2:]}-0"] and len(handled) == 1
    assert queued_jobs(redis) == 1  # the next user on the list got a job of their own…
    job = get_queue(redis, LINE_QUEUE).jobs[0]
    assert job.args == [USERS[ENOUGH_QUEUED_DRAINS]]
    assert redis.llen(READY) == len(USERS) - ENOUGH_QUEUED_DRAINS - 1  # …and takes the rest from the list


def test_items_set_aside_for_one_user_do_not_stop_the_batch(redis):
    backlog(redis, rounds=1)
    handled = []

    def handle(event):
        if event["source"]["userId"] == USERS[0]:
            raise InvalidRequestError("rejected", provider="line", status=400)
        handled.append(event)

    with pytest.raises(Exception, match=r"1 line:inbox item\(s\) of …0001 set aside") as caught:
        drain_inbox(redis, USERS[0], handle)
    assert type(caught.value).__name__ == "ItemsSetAside"  # the job shows as failed, after the others
    assert {e["source"]["userId"] for e in handled} == set(USERS[ENOUGH_QUEUED_DRAINS:])


def test_under_a_backlog_the_webhook_needs_one_redis_round_trip(redis, monkeypatch):
    backlog(redis, rounds=1)
    trips = count_round_trips(monkeypatch)
    accepted = accept_events(redis, [text_event("late", user="U" + "c" * 32), text_event("again", user=USERS[-1])])
    monkeypatch.undo()
    assert accepted.queued == 2 and len(trips) == 1
    assert redis.lrange(READY, -1, -1) == [b"U" + b"c" * 32] and queued_jobs(redis) == ENOUGH_QUEUED_DRAINS
    assert redis.llen(f"line:inbox:{USERS[-1]}") == 2  # its drain was coming already: only appended


def test_with_few_drains_waiting_a_user_gets_a_job_of_their_own(redis):
    backlog(redis, users=USERS[:ENOUGH_QUEUED_DRAINS], rounds=1)
    get_queue(redis, LINE_QUEUE).empty()  # the workers took every waiting job
    late = USERS[-1]
    accept_events(redis, [text_event("late", user=late)])
    assert [j.args for j in get_queue(redis, LINE_QUEUE).jobs] == [[late]]  # not left on the ready list
    assert not redis.exists(READY) and redis.exists(f"line:inbox-pending:{late}")


def test_a_deployment_behind_as_a_whole_batches_each_hospitals_patients_once_one_of_its_drains_waits(redis):
    """Hospital b's patients while a's drains wait: b's first patient gets a job of its own (nothing of
    b's would take a ready list), the next ones wait on b's ready list for it, not a job each."""
    a_line, b_line = "rq:queue:h:a:line", "rq:queue:h:b:line"
    for n in range(ENOUGH_QUEUED_DRAINS):
        accept_events(redis, [text_event(f"a{n}", user=USERS[n])], prefix="h:a:", other_prefixes=["h:b:"])
    assert redis.llen(a_line) == ENOUGH_QUEUED_DRAINS
    for n in range(3):
        accept_events(redis, [text_event(f"b{n}", user=USERS[n])], prefix="h:b:", other_prefixes=["h:a:"])
    assert redis.llen(b_line) == 1  # one job, which takes the others from b's ready list
    assert [u.decode() for u in redis.lrange("h:b:line:inbox-ready", 0, -1)] == USERS[1:3]
    handled = []
    assert drain_inbox(redis, USERS[0], handled.append, prefix="h:b:") == 3
    assert [e["message"]["text"] for e in handled] == ["b0", "b1", "b2"]
    # Without the others' count (a deployment of one hospital's rule), b's first four got a job each.
    accept_events(redis, [text_event("b3", user=USERS[3])], prefix="h:b:")
    accept_events(redis, [text_event("b4", user=USERS[4])], prefix="h:b:")
    assert redis.llen(b_line) == 3


def test_only_events_already_seen_queue_no_drain(redis):
    event = text_event("once", user=USERS[0])
    accept_events(redis, [event])
    drain_inbox(redis, USERS[0], lambda e: None)
    get_queue(redis, LINE_QUEUE).empty()
    assert accept_events(redis, [event]).duplicates == 1  # LINE redelivered it
    assert queued_jobs(redis) == 0 and not redis.exists(f"line:inbox-pending:{USERS[0]}")


def test_draining_a_user_costs_one_round_trip_to_start_and_one_per_event(redis, monkeypatch):
    """Start (the note, the lock, the first item), then per handled event one step: off the list and
    the next one read, or at the end the lock released and the user forgotten with it."""
    user = USERS[0]
    accept_events(redis, [text_event(str(n), user=user) for n in range(3)])
    trips = count_round_trips(monkeypatch)
    assert line_inbox(redis).drain(user, lambda event: None) == 3
    monkeypatch.undo()
    assert len(trips) == 1 + 3
    assert not redis.exists(f"line:inbox:{user}", f"line:inbox-lock:{user}") and \
        redis.zscore("line:inbox-due", user) is None


def test_erasure_takes_the_user_off_the_ready_list(redis):
    backlog(redis, rounds=1)
    erase_user(redis, USERS[-1], on_request=True)
    assert USERS[-1].encode() not in redis.lrange(READY, 0, -1)
    assert redis.llen(READY) == len(USERS) - ENOUGH_QUEUED_DRAINS - 1
