"""Per-user ordering (the LINE inbox, a UserQueue): one drain at a time per user, events in LINE's order,
nothing lost, a failing event set aside after its attempts into a trimmed dead list."""

import json
import threading

import pytest

from integrations.errors import InvalidRequestError, ServerError
from tests.support import FakeClock, text_event
from workers.line.inbox import DEAD_LETTERS, EVENT_BACKOFF, MAX_EVENT_ATTEMPTS, accept_events, drain_inbox, line_inbox
from workers.user_queue import SEEN_TTL, ItemMustWait, ItemsSetAside, UserQueue

USER = "U" + "c" * 32


def test_events_are_handled_in_order_and_removed(redis):
    events = [text_event(str(n), user=USER) for n in range(5)]
    accept_events(redis, events)
    seen = []
    assert drain_inbox(redis, USER, lambda e: seen.append(e["message"]["text"])) == 5
    assert seen == ["0", "1", "2", "3", "4"]
    assert redis.llen(f"line:inbox:{USER}") == 0


def test_second_drain_yields_while_first_holds_the_user(redis):
    """While one worker drains a user, another returns at once; the first also handles what arrived meanwhile."""
    accept_events(redis, [text_event("first", user=USER)])
    inside, release = threading.Event(), threading.Event()
    seen = []

    def slow_handler(event):
        seen.append(event["message"]["text"])
        if event["message"]["text"] == "first":
            inside.set()
            assert release.wait(10)

    first = threading.Thread(target=drain_inbox, args=(redis, USER, slow_handler))
    first.start()
    assert inside.wait(10)
    accept_events(redis, [text_event("second", user=USER)])
    assert drain_inbox(redis, USER, seen.append) == 0  # lock held: leaves it to the first drain
    release.set()
    first.join(10)
    assert seen == ["first", "second"]


def test_transient_failure_keeps_the_event_first_in_line_until_its_backoff_is_over(redis):
    accept_events(redis, [text_event("a", user=USER), text_event("b", user=USER)])
    clock = FakeClock()  # from now on, the test moves time
    inbox = line_inbox(redis, clock=clock)

    def failing(event):
        raise ServerError("LINE is down", provider="line", status=503)

    assert inbox.drain(USER, failing) == 0  # no exception: the retry belongs to the event
    assert redis.zscore("line:inbox-due", USER) == clock() + EVENT_BACKOFF[0]
    attempts_key = f"line:inbox-attempts:{USER}"
    assert list(redis.hvals(attempts_key)) == [b"1"]
    assert 0 < redis.ttl(attempts_key) <= SEEN_TTL

    seen = []
    assert inbox.drain(USER, seen.append) == 0  # another drain (the patient wrote again): not due yet
    assert seen == [] and list(redis.hvals(attempts_key)) == [b"1"]  # no attempt spent

    clock.advance(EVENT_BACKOFF[0])
    assert inbox.drain(USER, lambda e: seen.append(e["message"]["text"])) == 2
    assert seen == ["a", "b"]
    assert not redis.exists(attempts_key) and redis.zscore("line:inbox-due", USER) is None


def test_permanent_failure_sets_the_event_aside_and_goes_on(redis):
    accept_events(redis, [text_event("bad", user=USER), text_event("good", user=USER)])
    seen = []

    def handler(event):
        if event["message"]["text"] == "bad":
            raise InvalidRequestError("rejected", provider="line", status=400)
        seen.append(event["message"]["text"])

    with pytest.raises(ItemsSetAside):
        drain_inbox(redis, USER, handler)
    assert seen == ["good"]
    assert redis.llen(DEAD_LETTERS) == 1
    assert redis.llen(f"line:inbox:{USER}") == 0


def test_a_repeatedly_failing_event_waits_longer_each_time_then_is_set_aside(redis, caplog):
    accept_events(redis, [text_event("ปวดหัวมาก", user=USER), text_event("ขอบคุณค่ะ", user=USER)])
    clock = FakeClock()
    inbox = line_inbox(redis, clock=clock)
    seen = []

    def failing(event):
        if event["message"]["text"] == "ปวดหัวมาก":
            raise ServerError("still down", provider="line", status=500)
        seen.append(event["message"]["text"])

    waits = []
    for _ in range(MAX_EVENT_ATTEMPTS - 1):
        assert inbox.drain(USER, failing) == 0
        waits.append(redis.zscore("line:inbox-due", USER) - clock())
        clock.advance(waits[-1])
    assert waits == list(EVENT_BACKOFF)  # about an hour of retries in all
    with pytest.raises(ItemsSetAside, match=r"^1 line:inbox item\(s\) of …cccc set aside in line:dead-events$"):
        inbox.drain(USER, failing)
    assert seen == ["ขอบคุณค่ะ"]  # the rest goes on
    assert redis.llen(DEAD_LETTERS) == 1 and 0 < redis.ttl(DEAD_LETTERS) <= 14 * 24 * 3600
    assert "ปวดหัวมาก" not in caplog.text and "ขอบคุณค่ะ" not in caplog.text  # the patient's words stay out of logs


@pytest.mark.parametrize("error", [RuntimeError("bug quoting ปวดท้อง"), OSError("redis blip")])
def test_errors_outside_the_provider_tree_are_retried_not_set_aside(redis, error, caplog):
    accept_events(redis, [text_event("1669 please", user=USER)])

    def failing(event):
        raise error

    assert drain_inbox(redis, USER, failing) == 0
    assert redis.llen(DEAD_LETTERS) == 0
    assert redis.llen(f"line:inbox:{USER}") == 1
    assert type(error).__name__ in caplog.text and "ปวดท้อง" not in caplog.text  # only the type is logged


def test_the_dead_list_keeps_only_the_newest(redis):
    queue = UserQueue(redis, "test:outbox", max_attempts=3, lock_timeout=30, dead_kept=2)
    for n in range(4):
        queue.append(USER, f"item-{n}", {"n": n})

    def rejected(item):
        raise InvalidRequestError("rejected", provider="livedesk", status=422)

    with pytest.raises(ItemsSetAside, match=r"^4 test:outbox item\(s\) of …cccc set aside in test:outbox:dead$"):
        queue.drain(USER, rejected)
    dead = queue.dead.items()
    assert [json.loads(d.raw)["n"] for d in dead] == [3, 2]
    assert {(d.user, d.reason) for d in dead} == {(USER, "InvalidRequestError: [livedesk 422] rejected")}
    assert queue.pending(USER) == []


def test_items_are_queued_once_per_id_and_carry_it_when_asked(redis):
    queue = UserQueue(redis, "test:outbox", max_attempts=3, lock_timeout=30, id_field="item_id")
    assert queue.append(USER, "note:1", {"kind": "note"}) is True
    assert queue.append(USER, "note:1", {"kind": "note"}) is False  # a retried turn offers it again
    assert queue.seen("note:1") and not queue.seen("note:2")
    assert queue.pending(USER) == [{"kind": "note", "item_id": "note:1"}]
    assert line_inbox(redis).id_field is None  # LINE events are queued exactly as LINE sent them


def test_the_set_aside_hook_runs_before_the_item_leaves(redis):
    clock = FakeClock(1_000_000)
    queue = UserQueue(redis, "test:outbox", max_attempts=2, lock_timeout=30, clock=clock)
    queue.append(USER, "a", {"n": 1})
    noted = []

    def failing(item):
        raise RuntimeError("a bug")

    assert queue.drain(USER, failing, on_set_aside=lambda item, exc: noted.append(item)) == 0
    assert noted == [] and queue.pending(USER) == [{"n": 1}]  # one attempt of two: kept
    clock.advance(queue.retry_delay(1))
    with pytest.raises(ItemsSetAside):
        queue.drain(USER, failing, on_set_aside=lambda item, exc: noted.append((item, type(exc).__name__)))
    assert noted == [({"n": 1}, "RuntimeError")] and queue.pending(USER) == []


def test_a_failing_hook_keeps_the_item_for_the_retry(redis):
    queue = UserQueue(redis, "test:outbox", max_attempts=1, lock_timeout=30)
    queue.append(USER, "a", {"n": 1})

    def rejected(item):
        raise InvalidRequestError("rejected", provider="line", status=400)

    def hook_down(item, exc):
        raise ServerError("LiveDesk is down", provider="livedesk", status=503)

    with pytest.raises(ServerError):
        queue.drain(USER, rejected, on_set_aside=hook_down)
    assert queue.pending(USER) == [{"n": 1}] and redis.llen("test:outbox:dead") == 0


def test_a_drain_whose_lease_lapsed_during_an_item_leaves_the_rest_to_the_drain_holding_the_user(redis, caplog):
    """One slow item outlives the lease (renewed between items only): the sweeper's drain takes the
    user, handles that item again (handlers are idempotent) and holds the next one back. The first
    drain, done at last, must not take the held item off the list, nor forget the user."""
    queue = UserQueue(redis, "test:lapse", max_attempts=3, lock_timeout=30)
    queue.append(USER, "a", {"n": "a"})
    queue.append(USER, "b", {"n": "b"})
    handled = []

    def second_drain(item):
        if item["n"] == "b":
            raise ItemMustWait(60)  # a cap: b stays first in line, due in a minute
        handled.append(("second", item["n"]))

    def first_drain(item):
        if not handled:
            redis.delete(f"test:lapse-lock:{USER}")  # the lease lapsed while this item took its time
            queue.drain(USER, second_drain)
        handled.append(("first", item["n"]))

    assert queue.drain(USER, first_drain) == 1
    assert handled == [("second", "a"), ("first", "a")]
    assert queue.pending(USER) == [{"n": "b"}]  # still first in line, for its due time
    assert redis.zscore("test:lapse-due", USER) is not None
    assert "expired while draining" in caplog.text
