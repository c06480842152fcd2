"""``flask hospitals adopt ID``: a deployment of one hospital moved under a hospital id, its keys,
queued jobs and scheduled reminders where a registry's hospital looks, nothing shared touched."""

from __future__ import annotations

import datetime as dt

import pytest
from rq import Worker
from rq.job import Job

from handlers.app import create_app
from tests.conftest import make_settings
from workers.adopt import AdoptError, adopt
from workers.queues import enqueue, enqueue_at, get_queue


def one_hospitals_data(redis):
    redis.set("handoff:state:U1", "open", ex=3600)
    redis.rpush("line:inbox:U1", '{"text": "x"}')
    redis.set("maintenance:lock", "w")
    redis.set("moph:token:abcd", "jwt")
    queued = enqueue(redis, "bench.bench_line.noop", queue="line", description="drain")
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    reminder = enqueue_at(redis, when, "bench.bench_line.noop", queue="default", description="reminder",
                          job_id="appt-notice-1")
    return queued.id, reminder.id


def test_keys_jobs_and_reminders_move_under_the_hospital_and_shared_keys_stay(redis):
    queued_id, _ = one_hospitals_data(redis)
    done = adopt(redis, "a")
    assert done.jobs == 2 and done.keys == 2
    assert redis.get("h:a:handoff:state:U1") == b"open" and 3500 < redis.ttl("h:a:handoff:state:U1") <= 3600
    assert redis.lrange("h:a:line:inbox:U1", 0, -1) == [b'{"text": "x"}']
    assert not redis.exists("handoff:state:U1", "line:inbox:U1")
    assert redis.get("maintenance:lock") == b"w" and redis.get("moph:token:abcd") == b"jwt"
    assert get_queue(redis, "h:a:line").job_ids == [queued_id] and get_queue(redis, "line").count == 0
    assert Job.fetch(queued_id, connection=redis).origin == "h:a:line"
    scheduled = get_queue(redis, "h:a:default").scheduled_job_registry.get_job_ids()
    assert scheduled == ["h_a_appt-notice-1"]  # a fixed id gets the prefix: the code looks for it so
    assert Job.fetch("h_a_appt-notice-1", connection=redis).origin == "h:a:default"


def test_nothing_moves_while_a_worker_is_alive_or_the_hospital_has_data(redis):
    one_hospitals_data(redis)
    worker = Worker(["line"], connection=redis)
    worker.register_birth()
    with pytest.raises(AdoptError, match="stop every process"):
        adopt(redis, "a")
    worker.register_death()
    redis.set("h:a:something", "1")
    with pytest.raises(AdoptError, match="already has data"):
        adopt(redis, "a")
    assert redis.exists("handoff:state:U1")


def test_the_command(redis_server, redis):
    one_hospitals_data(redis)
    runner = create_app(make_settings(redis_server)).test_cli_runner()
    assert runner.invoke(args=["hospitals", "adopt", "Not An Id"]).exit_code != 0
    moved = runner.invoke(args=["hospitals", "adopt", "a"])
    assert moved.exit_code == 0 and "moved 2 keys and 2 jobs under hospital a" in moved.output


def test_an_interrupted_move_is_finished_by_running_it_again_and_a_key_gone_meanwhile_is_skipped(redis, monkeypatch):
    queued_id, _ = one_hospitals_data(redis)
    # As if a first run stopped half-way: its marker set, one key and the queued job already moved.
    redis.set("h:a:adopting", 1)
    redis.rename("handoff:state:U1", "h:a:handoff:state:U1")
    redis.rpush("rq:queue:h:a:line", redis.lpop("rq:queue:line"))
    scan = redis.scan_iter
    monkeypatch.setattr(redis, "scan_iter", lambda **kw: [*scan(**kw), b"line:seen:expired-since"])
    done = adopt(redis, "a")
    assert done.keys == 1 and done.jobs == 1  # what was left: the inbox, the reminder
    assert get_queue(redis, "h:a:line").job_ids == [queued_id]
    assert redis.exists("h:a:handoff:state:U1", "h:a:line:inbox:U1") == 2 and not redis.exists("h:a:adopting")
    with pytest.raises(AdoptError, match="already has data"):  # finished: a third run moves nothing
        adopt(redis, "a")
