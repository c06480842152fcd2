"""Delivery guarantees in one process: answered once, bounded drains, the sweeper, the scheduler watchdog,
Redis fitness and outages at the edge. (Whole processes killed and restarted: ``tests/faults/``.)"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_lib
from rq.exceptions import StopRequested
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, SCHEDULER_LOCKING_KEY_TEMPLATE
from rq.utils import utcformat

from tests.support import text_event
from workers import runtime
from workers.__main__ import MAINTENANCE_INTERVAL, WORKER_TTL, build_worker, parse_queues
from workers.line.events import LineEventHandler
from workers.line.inbox import DRAIN_BUDGET, LOCK_TIMEOUT, accept_events, drain_inbox, line_inbox
from workers.maintenance import LOCK_KEY, SCHEDULER_DEAD_AFTER, Maintenance, free_dead_scheduler_locks, sweep
from workers.queues import LINE_QUEUE, get_queue
from workers.redis_health import findings
from workers.user_queue import UserQueue

USER = "U" + "e" * 32


def answers(line_stub) -> list:
    return [r for r, _ in line_stub.log if r.path in ("/v2/bot/message/reply", "/v2/bot/message/push")]


class FailsAfterSend:
    """A feature whose bookkeeping after the send breaks once (a crash, a Redis error, a job timeout)."""

    def __init__(self):
        self.failures = 1

    def on_turn(self, turn, proposed, reads):
        return None

    def after_send(self, turn, proposed, sent, reads):
        if self.failures:
            self.failures -= 1
            raise TimeoutError("job timed out after LINE accepted the reply")


def test_an_answer_line_accepted_is_never_sent_again_by_the_retry(services, line_stub, redis):
    feature = FailsAfterSend()
    handler = LineEventHandler(services.dialog, services.line, redis, [feature], prefix="")
    event = text_event("โรงพยาบาลเปิดกี่โมงคะ", user=USER)
    with pytest.raises(TimeoutError):
        handler.handle(event)
    handler.handle(event)  # the retry: only what follows the send runs
    [sent] = answers(line_stub)
    assert sent.path == "/v2/bot/message/reply"
    assert redis.get(f"line:answered:{event['webhookEventId']}") == b"reply"
    assert 6 * 24 * 3600 < redis.ttl(f"line:answered:{event['webhookEventId']}") <= 7 * 24 * 3600


def test_an_emergency_answer_is_not_doubled_when_a_feature_breaks_and_the_turn_is_retried(services, line_stub,
                                                                                          redis):
    class Broken:
        calls = 0

        def on_turn(self, turn, proposed, reads):
            Broken.calls += 1
            if Broken.calls == 1:
                raise redis_lib.ConnectionError("state store blip")
            return None

        def after_send(self, turn, proposed, sent, reads):
            pass

    handler = LineEventHandler(services.dialog, services.line, redis, [Broken()], prefix="")
    event = text_event("เจ็บหน้าอก หายใจไม่ออก", user=USER)
    with pytest.raises(redis_lib.ConnectionError):
        handler.handle(event)
    handler.handle(event)
    [sent] = answers(line_stub)
    assert "1669" in sent.get_data(as_text=True)


def refuse_reply_tokens(line_stub):
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "Invalid reply token"}, status=400)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})


def test_a_worker_killed_mid_reply_is_not_answered_twice(services, line_stub, redis):
    """The killed attempt claimed the token and LINE took its reply; nobody heard. The retry offers the
    token again, LINE says it is used: the answer is there, nothing more is sent."""
    event = text_event("โรงพยาบาลเปิดกี่โมงคะ", user=USER)
    redis.set(f"line:reply-claimed:{event['webhookEventId']}", time.time() - 5)
    refuse_reply_tokens(line_stub)
    LineEventHandler(services.dialog, services.line, redis, prefix="").handle(event)
    assert [r.path for r in answers(line_stub)] == ["/v2/bot/message/reply"]  # the probe; no push
    assert redis.get(f"line:answered:{event['webhookEventId']}") == b"reply (earlier attempt)"


def test_a_claim_too_old_to_tell_used_from_expired_is_followed_by_a_push(services, line_stub, redis):
    from workers.line.events import REPLY_TOKEN_FRESH
    event = text_event("โรงพยาบาลเปิดกี่โมงคะ", user=USER)
    redis.set(f"line:reply-claimed:{event['webhookEventId']}", time.time() - REPLY_TOKEN_FRESH - 1)
    refuse_reply_tokens(line_stub)
    LineEventHandler(services.dialog, services.line, redis, prefix="").handle(event)
    assert [r.path for r in answers(line_stub)] == ["/v2/bot/message/push"]  # never silent


def test_a_reply_that_failed_is_not_offered_again_the_retry_pushes(services, line_stub, redis):
    line_stub.clear_all_handlers()
    line_stub.expect_request("/v2/bot/message/reply").respond_with_json({"message": "Internal error"}, status=500)
    line_stub.expect_oneshot_request("/v2/bot/message/push").respond_with_json({"message": "busy"}, status=503)
    line_stub.expect_request("/v2/bot/message/push").respond_with_json({"sentMessages": []})
    handler = LineEventHandler(services.dialog, services.line, redis, prefix="")
    event = text_event("โรงพยาบาลเปิดกี่โมงคะ", user=USER)
    with pytest.raises(Exception):
        handler.handle(event)
    handler.handle(event)
    assert [r.path for r in answers(line_stub)] == ["/v2/bot/message/reply", "/v2/bot/message/push",
                                                    "/v2/bot/message/push"]


def test_the_drain_lock_expires_so_a_killed_worker_blocks_a_user_briefly(redis):
    accept_events(redis, [text_event("1", user=USER)])
    seen_ttl = []
    drain_inbox(redis, USER, lambda event: seen_ttl.append(redis.pttl(f"line:inbox-lock:{USER}")))
    assert len(seen_ttl) == 1 and 0 < seen_ttl[0] <= LOCK_TIMEOUT * 1000
    assert LOCK_TIMEOUT <= 30 < DRAIN_BUDGET * 2


def test_a_long_backlog_is_drained_in_bounded_turns_that_hand_over(redis):
    accept_events(redis, [text_event(str(n), user=USER) for n in range(5)])
    get_queue(redis, LINE_QUEUE).empty()
    seen = []
    stop_after_two = lambda: len(seen) >= 2  # noqa: E731  (what SIGTERM or the time budget does)
    assert drain_inbox(redis, USER, lambda e: seen.append(e["message"]["text"]), should_stop=stop_after_two) == 2
    assert line_inbox(redis).pending(USER)[0]["message"]["text"] == "2"
    assert len(get_queue(redis, LINE_QUEUE).jobs) == 1  # handed over: the next drain is queued
    assert drain_inbox(redis, USER, lambda e: seen.append(e["message"]["text"])) == 3
    assert seen == ["0", "1", "2", "3", "4"]


def test_the_lease_is_renewed_while_a_drain_works(redis, caplog):
    """Items that together take longer than the lease: the drain keeps the lock by renewing it."""
    queue = UserQueue(redis, "test:lease", max_attempts=3, lock_timeout=1)
    for n in range(4):
        queue.append(USER, f"i{n}", {"n": n})
    ttls = []

    def slow(item):  # the time is what is tested here: four items of 0.4 s under a 1 s lease
        ttls.append(redis.pttl(f"test:lease-lock:{USER}"))
        time.sleep(0.4)

    assert queue.drain(USER, slow) == 4
    assert len(ttls) == 4 and all(ttl > 0 for ttl in ttls)  # never lapsed, although 1.6 s > 1 s
    assert "expired while draining" not in caplog.text


def test_the_sweeper_starts_only_due_unattended_users(redis):
    accept_events(redis, [text_event("a", user=USER), text_event("b", user="U" + "f" * 32)])
    get_queue(redis, LINE_QUEUE).empty()
    redis.delete(f"line:inbox-pending:{USER}", f"line:inbox-pending:U{'f' * 32}")
    redis.zadd("line:inbox-due", {"U" + "f" * 32: time.time() + 60})  # waiting out a backoff
    assert sweep(redis) == 1
    [job] = get_queue(redis, LINE_QUEUE).jobs
    assert job.args == [USER]
    assert sweep(redis) == 0  # its drain is queued now


def test_only_one_worker_does_the_maintenance_round(redis):
    first, second = Maintenance(redis), Maintenance(redis)
    assert first.run_once() is True
    assert second.run_once() is False
    assert 0 < redis.pttl(LOCK_KEY) <= first.interval * 1000


def test_a_dead_schedulers_lock_is_freed_and_a_live_ones_kept(redis):
    now = time.time()
    for queue, name, beat in (("line", "dead", now - SCHEDULER_DEAD_AFTER - 5), ("default", "alive", now - 1)):
        redis.set(SCHEDULER_LOCKING_KEY_TEMPLATE % queue, name, ex=61)
        stamp = datetime.fromtimestamp(beat, timezone.utc)
        redis.hset(SCHEDULER_KEY_TEMPLATE % name, "last_heartbeat", utcformat(stamp))
    redis.set(SCHEDULER_LOCKING_KEY_TEMPLATE % "bulk", "gone", ex=61)  # no heartbeat record at all
    assert free_dead_scheduler_locks(redis, now=now) == ["line", "bulk"]
    assert redis.get(SCHEDULER_LOCKING_KEY_TEMPLATE % "default") == b"alive"


def test_workers_look_for_the_scheduler_well_within_a_minute(services, redis):
    worker = build_worker(services, connection=redis, queue_names=parse_queues("line"))
    assert worker.maintenance_interval == MAINTENANCE_INTERVAL <= 20
    assert worker.dequeue_timeout == WORKER_TTL - 15 <= 20  # an idle worker wakes up to do it
    assert [q.name for q in worker.queues] == ["line"]
    assert MAINTENANCE_INTERVAL + SCHEDULER_DEAD_AFTER + 5 < 60


def test_jobs_have_no_services_until_the_process_installs_them(services):
    """No lazy global built from the environment: a process that runs jobs installs its services
    (``python -m workers`` at start-up), and one that forgot is told so at its first job."""
    with pytest.raises(RuntimeError, match="no services installed for jobs"):
        runtime.services()


def test_sigterm_asks_drains_to_hand_over(services, redis):
    worker = build_worker(services, connection=redis)
    try:
        with pytest.raises(StopRequested):  # idle: RQ stops at once
            worker.request_stop(signal.SIGTERM, None)
        assert runtime.stopping()
    finally:
        runtime._stopping.clear()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.mark.parametrize("text", ["", "bogus", "line,nope"])
def test_unknown_queue_names_are_refused(text):
    import argparse
    with pytest.raises(argparse.ArgumentTypeError, match="queues are line, default, bulk"):
        parse_queues(text)


def test_redis_findings_name_eviction_and_missing_persistence(redis):
    assert findings(redis) == []  # the embedded server: noeviction, append-only, everysec, current
    before = redis.config_get("maxmemory-policy")["maxmemory-policy"]
    aof = redis.config_get("appendonly")["appendonly"]
    try:
        redis.config_set("maxmemory-policy", "allkeys-lru")
        redis.config_set("appendonly", "no")
        found = findings(redis)
        assert [f.kind for f in found] == ["eviction", "no_aof"]
        assert "maxmemory-policy is 'allkeys-lru'" in found[0].text and "appendonly yes" in found[1].text
        redis.config_set("appendonly", "yes")
        redis.config_set("appendfsync", "no")
        assert [f.kind for f in findings(redis)] == ["eviction", "lazy_fsync"]
    finally:
        redis.config_set("maxmemory-policy", before)
        redis.config_set("appendonly", aof)
        redis.config_set("appendfsync", "everysec")


def test_readyz_says_what_is_wrong_with_redis_and_stays_ready(client, redis):
    before = redis.config_get("maxmemory-policy")["maxmemory-policy"]
    try:
        redis.config_set("maxmemory-policy", "volatile-lru")
        response = client.get("/readyz")
        assert response.status_code == 200  # every instance shares this Redis: advice, not a reason to stop
        assert "noeviction" in response.get_json()["notes"][0]
    finally:
        redis.config_set("maxmemory-policy", before)
    assert client.get("/readyz").get_json()["notes"] == []


def test_the_webhook_answers_503_while_redis_is_down_and_recovers(settings, tmp_path):
    from handlers.app import create_app
    from tests.support import LineWebhook
    from workers.services import Services
    down = redis_lib.Redis(unix_socket_path=str(tmp_path / "nothing.sock"), socket_connect_timeout=0.2)
    app = create_app(settings, services=Services(settings, redis_connection=down))
    response = LineWebhook(app.test_client()).post([text_event("สวัสดี", user=USER)])
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert app.test_client().get("/healthz").status_code == 200  # the process itself is fine


def test_backoff_is_exact_and_its_last_value_repeats(redis):
    queue = UserQueue(redis, "test:backoff", max_attempts=20, lock_timeout=30, backoff=(5, 30, 120))
    assert [queue.retry_delay(n) for n in range(1, 6)] == [5, 30, 120, 120, 120]
    assert timedelta(seconds=sum(line_inbox(redis).retry_delay(n) for n in range(1, 11))) > timedelta(minutes=59)
