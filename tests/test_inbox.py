"""Per-user ordering: one drain at a time per user, events in LINE's order, nothing lost."""

import threading

import pytest

from integrations.errors import InvalidRequestError, ServerError
from workers.inbox import DEAD_LETTERS, PermanentEventFailure, accept_events, drain_inbox
from tests.support import text_event

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


def test_transient_failure_keeps_the_event_first_in_line(redis):
    accept_events(redis, [text_event("a", user=USER), text_event("b", user=USER)])

    def failing(event):
        raise ServerError("LINE is down", provider="line", status=503)

    with pytest.raises(ServerError):
        drain_inbox(redis, USER, failing)
    seen = []
    drain_inbox(redis, USER, lambda e: seen.append(e["message"]["text"]))
    assert seen == ["a", "b"]


def test_permanent_failure_sets_the_event_aside_and_goes_on(redis):
    accept_events(redis, [text_event("bad", user=USER), text_event("good", user=USER)])
    seen = []

    def handler(event):
        if event["message"]["text"] == "bad":
            raise InvalidRequestError("rejected", provider="line", status=400)
        seen.append(event["message"]["text"])

    with pytest.raises(PermanentEventFailure):
        drain_inbox(redis, USER, handler)
    assert seen == ["good"]
    assert redis.llen(DEAD_LETTERS) == 1
    assert redis.llen(f"line:inbox:{USER}") == 0


def test_a_repeatedly_failing_event_stops_blocking_after_max_attempts(redis):
    from workers.inbox import MAX_EVENT_ATTEMPTS
    accept_events(redis, [text_event("stuck", user=USER)])

    def failing(event):
        raise ServerError("still down", provider="line", status=500)

    for _ in range(MAX_EVENT_ATTEMPTS - 1):
        with pytest.raises(ServerError):
            drain_inbox(redis, USER, failing)
    with pytest.raises(PermanentEventFailure):
        drain_inbox(redis, USER, failing)
    assert redis.llen(DEAD_LETTERS) == 1


@pytest.mark.parametrize("error", [RuntimeError("bug or job timeout"), OSError("redis blip")])
def test_errors_outside_the_provider_tree_are_retried_not_set_aside(redis, error):
    accept_events(redis, [text_event("1669 please", user=USER)])

    def failing(event):
        raise error

    with pytest.raises(type(error)):
        drain_inbox(redis, USER, failing)
    assert redis.llen(DEAD_LETTERS) == 0
    assert redis.llen(f"line:inbox:{USER}") == 1
