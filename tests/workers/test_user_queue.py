"""UserQueue's bookkeeping, read straight from Redis: TTLs, due times, attempts per item, the lock's
lease, bounded drains and what the log lines may say (a real Redis; a fake clock and monotonic time)."""

from __future__ import annotations

import hashlib
import json
import logging
import types

import pytest

from integrations.errors import InvalidRequestError, ServerError
from tests.support import FakeClock
from workers import drain, user_queue
from workers.user_queue import DEAD_TTL, ITEM_TTL, PENDING_TTL, ItemsSetAside, UserQueue

NAME = "test:outbox"
ALICE = "U" + "a" * 32
BOB = "U" + "b" * 32
PATIENT_TEXT = "ปวดหัวมาก เบอร์ 0812345678"  # made-up


@pytest.fixture
def clock():
    return FakeClock(1_700_000_000)


@pytest.fixture
def monotonic(monkeypatch):
    """The drain's monotonic time, moved by hand (budgets and the lease are judged on it)."""
    now = types.SimpleNamespace(value=1000.0)
    fake_time = types.SimpleNamespace(monotonic=lambda: now.value, time=drain.time.time)
    monkeypatch.setattr(drain, "time", fake_time)
    return now


def make_queue(redis, clock, **kwargs):
    options = {"max_attempts": 3, "lock_timeout": 30, "backoff": (5, 15, 30), "seen_ttl": 3600, "clock": clock, **kwargs}
    return UserQueue(redis, NAME, **options)


def raw(item):
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


def fingerprint(item):
    return hashlib.sha256(raw(item)).hexdigest()[:16]


def assert_ttl(redis, key, seconds):
    """The key expires in ``seconds`` (to the second: it was set a moment ago)."""
    assert seconds * 1000 - 2000 < redis.pttl(key) <= seconds * 1000


def fail_with(error):
    def handle(item):
        raise error
    return handle


# -- appending -------------------------------------------------------------------------------------
def test_append_queues_once_stores_compact_json_and_sets_every_expiry(redis, clock):
    queue = make_queue(redis, clock)
    item = {"text": "สวัสดี", "n": 1}
    assert queue.append(ALICE, "e1", item) is True
    assert queue.append(ALICE, "e1", {"text": "again"}) is False
    assert redis.lrange(f"{NAME}:{ALICE}", 0, -1) == [raw(item)]
    assert (queue.seen("e1"), queue.seen("e2")) == (True, False)
    assert redis.get(f"{NAME}:seen:e1") == b"1"
    assert_ttl(redis, f"{NAME}:seen:e1", 3600)
    assert_ttl(redis, f"{NAME}:{ALICE}", ITEM_TTL)
    assert redis.zscore(f"{NAME}-due", ALICE) == clock()
    assert (queue.pending(ALICE), queue.has_pending(ALICE), queue.has_pending(BOB)) == ([item], True, False)
    for n in (2, 3):
        queue.append(ALICE, f"e{n}", {"n": n})
    assert queue.pending(ALICE) == [item, {"n": 2}, {"n": 3}]


def test_a_later_append_keeps_the_due_time_of_a_first_item_waiting_out_its_backoff(redis, clock):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    assert queue.drain(ALICE, fail_with(ServerError("down", provider="x"))) == 0
    due = redis.zscore(f"{NAME}-due", ALICE)
    assert due == clock() + 5
    clock.advance(1)
    queue.append(ALICE, "e2", {"n": 2})
    assert redis.zscore(f"{NAME}-due", ALICE) == due


def test_append_in_a_pipeline_joins_the_transaction_and_names_the_id(redis, clock):
    queue = make_queue(redis, clock, id_field="event_id", dead_key="test:dead", seen_prefix="test:seen")
    pipe = redis.pipeline()
    assert queue.append(ALICE, "e1", {"n": 1}, pipeline=pipe) is None
    assert queue.append(ALICE, "e1", {"n": 1}, pipeline=pipe) is None
    assert pipe.execute() == [1, 0]
    assert queue.pending(ALICE) == [{"n": 1, "event_id": "e1"}]
    assert redis.exists("test:seen:e1") and not redis.exists(f"{NAME}:seen:e1")


# -- who needs a drain -----------------------------------------------------------------------------
def test_due_users_oldest_first_up_to_now_and_the_limit(redis, clock):
    queue = make_queue(redis, clock)
    redis.zadd(f"{NAME}-due", {BOB: 100.0, ALICE: 50.0, "Ulater": 201.0})
    assert queue.due_users(200.0) == [ALICE, BOB]
    assert queue.due_users(100.0) == [ALICE, BOB]  # due at exactly now counts
    assert queue.due_users(200.0, limit=1) == [ALICE]
    assert queue.due_users(49.0) == []


def test_due_now_only_for_a_user_whose_first_item_is_due(redis, clock):
    queue = make_queue(redis, clock)
    assert queue.due_now(ALICE) is False
    redis.zadd(f"{NAME}-due", {ALICE: clock(), BOB: clock() + 1})
    assert (queue.due_now(ALICE), queue.due_now(BOB)) == (True, False)


def test_the_drain_queued_note_expires_and_the_drain_clears_it(redis, clock):
    queue = make_queue(redis, clock)
    assert queue.drain_queued_since([]) == []
    pipe = redis.pipeline()
    queue.mark_drain_queued(ALICE, pipe)
    pipe.execute()
    assert_ttl(redis, f"{NAME}-pending:{ALICE}", PENDING_TTL)
    assert PENDING_TTL == 600
    assert queue.drain_queued_since([ALICE, BOB]) == [clock(), None]
    queue.drain(ALICE, lambda item: None)
    assert queue.drain_queued_since([ALICE]) == [None]


def test_draining_reports_who_holds_a_lock(redis, clock):
    queue = make_queue(redis, clock)
    assert queue.draining([]) == []
    queue.append(ALICE, "e1", {"n": 1})
    seen = []
    queue.drain(ALICE, lambda item: seen.append(queue.draining([ALICE, BOB])))
    assert seen == [[True, False]]
    assert queue.draining([ALICE]) == [False]


# -- the lock and its lease ------------------------------------------------------------------------
def test_the_drain_lock_expires_so_a_killed_worker_blocks_the_user_only_for_a_while(redis, clock):
    queue = make_queue(redis, clock, lock_timeout=30)
    queue.append(ALICE, "e1", {"n": 1})
    ttls = []
    queue.drain(ALICE, lambda item: ttls.append(redis.pttl(f"{NAME}-lock:{ALICE}")))
    assert 29_000 < ttls[0] <= 30_000
    assert not redis.exists(f"{NAME}-lock:{ALICE}")


@pytest.mark.parametrize("seconds_per_item, renewed", [(1.01, True), (1.0, False), (0.8, False)])
def test_the_lease_is_renewed_between_items_after_a_third_of_it(redis, clock, monotonic, seconds_per_item, renewed):
    queue = make_queue(redis, clock, lock_timeout=3)
    for n in range(2):
        queue.append(ALICE, f"e{n}", {"n": n})
    lock_key = f"{NAME}-lock:{ALICE}"
    ttls = []

    def handle(item):
        ttls.append(redis.pttl(lock_key))
        redis.pexpire(lock_key, 500)  # as if the lease had mostly run out
        monotonic.value += seconds_per_item

    assert queue.drain(ALICE, handle) == 2
    assert ttls[0] > 2000
    assert (ttls[1] > 2000) is renewed


def test_a_lock_that_lapsed_mid_drain_is_no_failure(redis, clock, caplog):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    with caplog.at_level(logging.WARNING, logger="workers.drain"):
        assert queue.drain(ALICE, lambda item: redis.delete(f"{NAME}-lock:{ALICE}")) == 1
    assert [r.getMessage() for r in caplog.records] == [f"{NAME} lock of …aaaa expired while draining"]


def test_a_drain_whose_lock_lapsed_leaves_the_new_holders_lock_alone(redis, clock, caplog):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    lock_key = f"{NAME}-lock:{ALICE}"

    def handle(item):  # the lease lapsed, and another drain took the user
        redis.set(lock_key, "another drain", px=30_000)

    with caplog.at_level(logging.WARNING, logger="workers.drain"):
        assert queue.drain(ALICE, handle) == 1
    assert redis.get(lock_key) == b"another drain"  # not released by the drain that lost it
    assert queue.pending(ALICE) == []  # the item it handled is off the list…
    assert redis.zscore(queue.due_key, ALICE) is not None  # …and the holder's end forgets the user
    assert [r.getMessage() for r in caplog.records] == [f"{NAME} lock of …aaaa expired while draining"]


# -- attempts, backoff, setting aside --------------------------------------------------------------
def test_retry_delay_follows_the_backoff_and_repeats_its_last_value(redis, clock):
    queue = make_queue(redis, clock, backoff=(5, 15, 30))
    assert [queue.retry_delay(n) for n in (1, 2, 3, 4, 9)] == [5, 15, 30, 30, 30]
    assert user_queue.DEFAULT_BACKOFF == (5, 15, 30, 60, 120, 300, 600, 900)
    assert UserQueue(redis, NAME, max_attempts=1, lock_timeout=1).backoff == user_queue.DEFAULT_BACKOFF


def test_attempts_are_counted_per_user_and_per_item_and_expire(redis, clock):
    queue = make_queue(redis, clock, max_attempts=5)
    a1, a2, b1 = {"to": "alice", "n": 1}, {"to": "alice", "n": 2}, {"to": "bob", "n": 1}
    queue.append(ALICE, "a1", a1)
    queue.append(ALICE, "a2", a2)
    queue.append(BOB, "b1", b1)
    down = fail_with(ServerError("down", provider="x"))

    assert queue.drain(ALICE, down) == 0
    clock.advance(5)
    assert queue.drain(ALICE, down) == 0
    assert queue.drain(BOB, down) == 0
    assert redis.hgetall(f"{NAME}-attempts:{ALICE}") == {fingerprint(a1).encode(): b"2"}
    assert redis.hgetall(f"{NAME}-attempts:{BOB}") == {fingerprint(b1).encode(): b"1"}
    assert_ttl(redis, f"{NAME}-attempts:{ALICE}", 3600)
    assert redis.zscore(f"{NAME}-due", ALICE) == clock() + 15  # second failure: second delay
    assert redis.zscore(f"{NAME}-due", BOB) == clock() + 5

    # Alice's first item goes through; her second item starts counting from one.
    clock.advance(15)
    handled = []

    def first_only(item):
        if item["n"] == 2:
            raise ServerError("down", provider="x")
        handled.append(item)

    assert queue.drain(ALICE, first_only) == 1
    assert handled == [a1]
    assert redis.hgetall(f"{NAME}-attempts:{ALICE}") == {fingerprint(a2).encode(): b"1"}
    assert redis.zscore(f"{NAME}-due", ALICE) == clock() + 5

    clock.advance(5)
    assert queue.drain(ALICE, handled.append) == 1
    assert not redis.exists(f"{NAME}-attempts:{ALICE}")
    assert redis.zscore(f"{NAME}-due", ALICE) is None
    assert redis.hgetall(f"{NAME}-attempts:{BOB}") == {fingerprint(b1).encode(): b"1"}  # Bob's is his own


def test_after_max_attempts_the_item_is_set_aside_and_the_rest_handled(redis, clock, caplog):
    queue = make_queue(redis, clock, max_attempts=3, dead_kept=5)
    bad, good = {"n": 1, "text": PATIENT_TEXT}, {"n": 2}
    queue.append(ALICE, "e1", bad)
    queue.append(ALICE, "e2", good)
    handled = []

    def handle(item):
        if item["n"] == 1:
            raise ValueError(f"cannot read {item['text']}")  # a message that quotes the patient
        handled.append(item)

    with caplog.at_level(logging.WARNING, logger="workers.drain"):
        for delay in (5, 15):
            assert queue.drain(ALICE, handle) == 0
            assert redis.zscore(f"{NAME}-due", ALICE) == clock() + delay
            clock.advance(delay)
        with pytest.raises(ItemsSetAside, match=rf"^1 {NAME} item\(s\) of …aaaa set aside in {NAME}:dead$"):
            queue.drain(ALICE, handle)
    assert handled == [good]
    assert [d.raw for d in UserQueue(redis, NAME, max_attempts=1, lock_timeout=1).dead.items()] == [raw(bad)]
    assert_ttl(redis, f"{NAME}:dead", DEAD_TTL)
    assert not redis.exists(f"{NAME}-attempts:{ALICE}") and not redis.exists(f"{NAME}:{ALICE}")
    assert redis.zscore(f"{NAME}-due", ALICE) is None

    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"{NAME} item of …aaaa failed (attempt 1 of 3), next try in 5 s: ValueError"
    assert messages[1] == f"{NAME} item of …aaaa failed (attempt 2 of 3), next try in 15 s: ValueError"
    assert messages[2].startswith(f"{NAME} item of …aaaa set aside after 3 attempt(s): ValueError: ValueError\n")
    assert "Traceback" not in messages[2] and 'raise ValueError(f"cannot read' in messages[2]  # the stack, no text
    assert all("ปวดหัว" not in m and "0812345678" not in m for m in messages)
    assert all(r.exc_info is None for r in caplog.records)


def test_a_provider_error_is_logged_as_written_and_a_permanent_one_set_aside_at_once(redis, clock, caplog):
    queue = make_queue(redis, clock, max_attempts=5)
    queue.append(ALICE, "e1", {"n": 1})
    queue.append(ALICE, "e2", {"n": 2})
    refused = InvalidRequestError("bad message", provider="line", status=400)
    with caplog.at_level(logging.WARNING, logger="workers.drain"), \
            pytest.raises(ItemsSetAside, match=rf"^2 {NAME} item\(s\) of …aaaa set aside in {NAME}:dead$"):
        queue.drain(ALICE, fail_with(refused))
    assert [r.getMessage() for r in caplog.records] == [
        f"{NAME} item of …aaaa set aside after 1 attempt(s): InvalidRequestError: [line 400] bad message"] * 2
    assert [d.raw for d in UserQueue(redis, NAME, max_attempts=1, lock_timeout=1).dead.items()] == [raw({"n": 2}), raw({"n": 1})]  # newest first


def test_a_retried_provider_error_is_logged_as_written(redis, clock, caplog):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    with caplog.at_level(logging.WARNING, logger="workers.drain"):
        queue.drain(ALICE, fail_with(ServerError("LINE is down", provider="line", status=503)))
    assert [r.getMessage() for r in caplog.records] == [
        f"{NAME} item of …aaaa failed (attempt 1 of 3), next try in 5 s: [line 503] LINE is down"]


def test_the_dead_list_is_trimmed_to_the_newest(redis, clock):
    queue = make_queue(redis, clock, dead_kept=2)
    for n in range(4):
        queue.append(ALICE, f"e{n}", {"n": n})
    with pytest.raises(ItemsSetAside, match=rf"^4 {NAME} item\(s\) of …aaaa set aside in {NAME}:dead$"):
        queue.drain(ALICE, fail_with(InvalidRequestError("no", provider="x", status=400)))
    assert [d.raw for d in UserQueue(redis, NAME, max_attempts=1, lock_timeout=1).dead.items()] == [raw({"n": 3}), raw({"n": 2})]


def test_the_hook_sees_dict_items_only_and_runs_before_the_item_leaves(redis, clock):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    redis.rpush(f"{NAME}:{ALICE}", b'["not", "a", "dict"]')
    seen = []

    def hook(item, error):
        seen.append((item, type(error).__name__, redis.llen(f"{NAME}:dead")))

    with pytest.raises(ItemsSetAside, match=rf"^2 {NAME} item"):
        queue.drain(ALICE, fail_with(InvalidRequestError("no", provider="x", status=400)), hook)
    assert seen == [({"n": 1}, "InvalidRequestError", 0)]


# -- bounded drains --------------------------------------------------------------------------------
def test_a_drain_over_its_budget_hands_the_rest_over(redis, clock, monotonic):
    queue = make_queue(redis, clock)
    for n in range(3):
        queue.append(ALICE, f"e{n}", {"n": n})
    redis.zadd(f"{NAME}-due", {ALICE: clock() - 100})
    handled, queued = [], []

    def slow(item):
        handled.append(item["n"])
        monotonic.value += 2

    assert queue.drain_and_hand_over(ALICE, slow, queued.append, budget_seconds=2) == 1
    assert (handled, queued) == ([0], [ALICE])
    assert redis.zscore(f"{NAME}-due", ALICE) == clock()  # due now: the next drain starts at once
    assert queue.drain(ALICE, slow, budget_seconds=4.5) == 2  # 2 s, 4 s: under budget after each
    assert handled == [0, 1, 2]
    assert redis.zscore(f"{NAME}-due", ALICE) is None


def test_a_drain_within_its_budget_or_at_its_last_item_does_not_hand_over(redis, clock, monotonic):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e0", {"n": 0})
    queue.append(ALICE, "e1", {"n": 1})
    queued = []

    def slow(item):
        monotonic.value += 1

    assert queue.drain_and_hand_over(ALICE, slow, queued.append, budget_seconds=1.5) == 2
    assert queued == []
    queue.append(ALICE, "e2", {"n": 2})
    assert queue.drain_and_hand_over(ALICE, slow, queued.append, budget_seconds=0) == 1  # nothing left to hand
    assert queued == [] and redis.zscore(f"{NAME}-due", ALICE) is None


def test_a_stop_request_ends_the_drain_between_items(redis, clock):
    queue = make_queue(redis, clock)
    for n in range(3):
        queue.append(ALICE, f"e{n}", {"n": n})
    handled = []
    assert queue.drain(ALICE, lambda item: handled.append(item["n"]), should_stop=lambda: len(handled) >= 2) == 2
    assert handled == [0, 1] and queue.pending(ALICE) == [{"n": 2}]
    assert queue.due_now(ALICE)
    assert queue.drain(ALICE, lambda item: handled.append(item["n"]), should_stop=lambda: False) == 1


def test_a_backing_off_user_is_left_to_the_sweeper(redis, clock):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    queued = []
    assert queue.drain_and_hand_over(ALICE, fail_with(ServerError("down", provider="x")), queued.append) == 0
    assert queued == []


def test_after_a_set_aside_the_due_rest_is_handed_over_and_the_error_raised(redis, clock):
    queue = make_queue(redis, clock)
    queue.append(ALICE, "e1", {"n": 1})
    queue.append(ALICE, "e2", {"n": 2})
    queued, hooked = [], []

    def refuse_then_stop(item):
        raise InvalidRequestError("no", provider="x", status=400)

    with pytest.raises(ItemsSetAside, match=rf"^1 {NAME} item"):
        queue.drain_and_hand_over(ALICE, refuse_then_stop, queued.append, lambda item, error: hooked.append(item),
                                  should_stop=lambda: True)
    assert queued == [ALICE] and queue.pending(ALICE) == [{"n": 2}] and hooked == [{"n": 1}]
    queue.drain(ALICE, lambda item: None)
    with pytest.raises(ItemsSetAside):
        queue.append(ALICE, "e3", {"n": 3})
        queue.drain_and_hand_over(ALICE, refuse_then_stop, queued.append)
    assert queued == [ALICE]  # nothing left: no next drain
