"""A worker serving several hospitals: their queues in turn (kind by kind), a hospital added while
it runs is followed, and no hospital holds every worker of a kind (``workers/fair_share.py``)."""

from __future__ import annotations

import datetime as dt

import redis as redis_lib
from rq import get_current_job

from bot.hospitals import Registry
from tests.conftest import make_settings
from tests.support import FakeClock
from workers.__main__ import build_worker
from workers.fair_share import ACTIVE_FOR, ALIVE_FOR, FairShare
from workers.hospitals import HospitalServices, HospitalTurns
from workers.queues import enqueue, enqueue_at, get_queue

BOTS = {h: "U" + f"{i:02x}" * 16 for i, h in enumerate("abc", start=1)}


def record(label: str) -> None:
    """A job: note which queue it was taken from, in order."""
    job = get_current_job()
    job.connection.rpush("test:served", f"{job.origin}/{label}")


def registry_dir(tmp_path, *ids):
    for h in ids:
        (tmp_path / f"{h}.toml").write_text(f'line_bot_user_id = "{BOTS[h]}"\n')
    return tmp_path


def hospitals(redis_server, redis, directory) -> HospitalServices:
    settings = make_settings(redis_server, hospitals_dir=str(directory), otp_secret="o" * 32)
    return HospitalServices(Registry(settings, directory), redis_connection=redis, worker=True)


def test_queues_kind_by_kind_and_hospitals_in_turn(redis_server, redis, tmp_path):
    turns = HospitalTurns(hospitals(redis_server, redis, registry_dir(tmp_path, "a", "b", "c")), ("line", "default"))
    assert turns.names() == ["h:a:line", "h:b:line", "h:c:line", "h:a:default", "h:b:default", "h:c:default"]
    turns.served("h:a:default")
    assert turns.names()[:3] == ["h:b:line", "h:c:line", "h:a:line"]
    turns.rest("b")
    assert turns.resting() and "h:b:line" not in turns.names()
    turns.rest("b", seconds=0)
    assert turns.names()[:3] == ["h:b:line", "h:c:line", "h:a:line"]


def test_a_worker_takes_the_hospitals_jobs_in_turn_not_one_backlog_first(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a", "b"))
    for i in range(4):
        enqueue(redis, "tests.workers.test_hospital_turns.record", f"a{i}", queue="h:a:line", description="t")
    for i in range(2):
        enqueue(redis, "tests.workers.test_hospital_turns.record", f"b{i}", queue="h:b:line", description="t")
    build_worker(services, connection=redis, queue_names=("line",)).work(burst=True)
    served = [x.decode().split("/")[1] for x in redis.lrange("test:served", 0, -1)]
    assert served == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_a_hospital_added_while_the_worker_runs_is_followed(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a"))
    worker = build_worker(services, connection=redis, queue_names=("line",))
    assert worker.queue_names() == ["h:a:line"]
    a = services.get("a")
    assert a.other_prefixes() == []  # whose waiting drains count with a's (the webhook's and the turns')
    registry_dir(tmp_path, "b")
    services.get("a")  # a job's look at the registry comes first: the worker must still follow it
    services._checked_at = float("-inf")  # (the registry's next look is due now)
    services.get("a")
    worker.heartbeat()
    assert worker.queue_names() == ["h:a:line", "h:b:line"]
    assert a.other_prefixes() == ["h:b:"] and services.get("b").other_prefixes() == ["h:a:"]


def test_no_hospital_holds_every_worker_of_a_kind(redis):
    clock = FakeClock(1_000)
    fair = FairShare(redis, clock=clock)
    with redis.pipeline() as pipe:
        fair.alive("w1", ["line"], pipe), fair.alive("w2", ["line"], pipe), fair.alive("w3", ["line"], pipe)
        pipe.execute()
    assert fair.take("line", "a", "w1", 60) and fair.take("line", "a", "w2", 60)
    assert not fair.take("line", "a", "w3", 60)  # two of three: the third is the others'
    assert fair.take("line", "b", "w3", 60)
    fair.give_back("line", "a", "w1")
    assert not fair.take("line", "a", "w1", 60)  # b is active now: a holds at most half (one of three) ...
    assert not fair.take("line", "b", "w1", 60)  # ... and so does b
    assert fair.take("line", "c", "w1", 60)
    clock.advance(61)  # a job past its timeout (its worker killed) no longer counts
    assert fair.take("line", "a", "w3", 60)


def test_a_lone_worker_still_serves_and_dead_workers_stop_counting(redis):
    clock = FakeClock(1_000)
    fair = FairShare(redis, clock=clock)
    assert fair.take("default", "a", "w1", 60)  # no live worker seen yet: a share of one
    assert not fair.take("default", "a", "w2", 60)
    with redis.pipeline() as pipe:
        for w in ("w1", "w2", "w3"):
            fair.alive(w, ["default"], pipe)
        pipe.execute()
    assert fair.take("default", "a", "w2", 60)
    clock.advance(ALIVE_FOR + 1)  # w1..w3 not seen since: a share of one again
    fair.give_back("default", "a", "w1")
    assert not fair.take("default", "a", "w3", 60)


def test_while_another_hospital_is_active_none_holds_more_than_half(redis):
    clock = FakeClock(1_000)
    fair = FairShare(redis, clock=clock)
    with redis.pipeline() as pipe:
        for w in ("w1", "w2", "w3", "w4"):
            fair.alive(w, ["line"], pipe)
        pipe.execute()
    assert fair.take("line", "b", "w4", 60)  # b's patient: one turn, milliseconds
    fair.give_back("line", "b", "w4")
    # a's LINE API hangs: its drains hold their workers, but b wrote a moment ago
    assert fair.take("line", "a", "w1", 600) and fair.take("line", "a", "w2", 600)
    assert not fair.take("line", "a", "w3", 600)
    assert fair.take("line", "b", "w3", 60) and fair.take("line", "b", "w4", 60)  # b keeps two
    for w, h in (("w3", "b"), ("w4", "b")):
        fair.give_back("line", h, w)
    clock.advance(ACTIVE_FOR + 1)  # b quiet for a minute (a's drains go on)
    with redis.pipeline() as pipe:
        for w in ("w1", "w2", "w3", "w4"):
            fair.alive(w, ["line"], pipe)
        pipe.execute()
    assert fair.take("line", "a", "w3", 600)  # all but one: the last is kept for whoever writes next
    assert not fair.take("line", "a", "w4", 600)
    assert fair.take("line", "b", "w4", 60)


def test_a_worker_deep_in_a_long_job_still_counts_as_live(redis):
    clock = FakeClock(1_000)
    fair = FairShare(redis, clock=clock)
    with redis.pipeline() as pipe:
        fair.alive("w1", ["bulk"], pipe), fair.alive("w2", ["bulk"], pipe), fair.alive("w3", ["bulk"], pipe)
        pipe.execute()
    assert fair.take("bulk", "a", "w1", 600)  # a long job: w1 beats no more while it runs
    clock.advance(ALIVE_FOR + 1)
    with redis.pipeline() as pipe:
        fair.alive("w2", ["bulk"], pipe), fair.alive("w3", ["bulk"], pipe)
        pipe.execute()
    assert fair.take("bulk", "a", "w2", 600)  # three live, w1 among them: a share of two
    assert not fair.take("bulk", "a", "w3", 600)


def test_a_worker_leaves_a_hospital_at_its_share_to_the_others(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a", "b"))
    fair = FairShare(redis)
    assert fair.take("line", "a", "another-worker", 600)  # a's share (one: no live worker counted) is held
    enqueue(redis, "tests.workers.test_hospital_turns.record", "a0", queue="h:a:line", description="t")
    enqueue(redis, "tests.workers.test_hospital_turns.record", "b0", queue="h:b:line", description="t")
    worker = build_worker(services, connection=redis, queue_names=("line",))
    worker.work(burst=True)
    assert [x.decode() for x in redis.lrange("test:served", 0, -1)] == ["h:b:line/b0"]
    assert redis.llen("rq:queue:h:a:line") == 1  # back at the head of a's queue, to wait its turn
    fair.give_back("line", "a", "another-worker")
    worker.turns.rest("a", seconds=0)  # its moment has passed
    worker.work(burst=True)
    assert [x.decode() for x in redis.lrange("test:served", 0, -1)] == ["h:b:line/b0", "h:a:line/a0"]


def alive_seen(label: str) -> None:
    """A job: note the workers counted live for the share at its start."""
    job = get_current_job()
    job.connection.rpush("test:alive", ",".join(w.decode() for w in job.connection.zrange("fair:alive:line", 0, -1)))


def test_a_worker_busy_job_after_job_counts_as_alive_and_leaves_when_it_stops(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a", "b"))
    for i in range(3):
        enqueue(redis, "tests.workers.test_hospital_turns.alive_seen", f"a{i}", queue="h:a:line", description="t")
    worker = build_worker(services, connection=redis, queue_names=("line",))
    worker.work(burst=True)
    assert [x.decode() for x in redis.lrange("test:alive", 0, -1)] == [worker.name] * 3
    assert redis.zcard("fair:alive:line") == 0  # stopped: no longer counted


def test_a_registry_of_one_hospital_shares_its_workers_with_no_one(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a"))
    worker = build_worker(services, connection=redis, queue_names=("line",))
    FairShare(redis).take("line", "a", "another-worker", 60)  # a lone worker's share (1) is used up
    enqueue(redis, "tests.workers.test_hospital_turns.record", "a0", queue="h:a:line", description="t")
    worker.work(burst=True)
    assert [x.decode() for x in redis.lrange("test:served", 0, -1)] == ["h:a:line/a0"]


def test_the_scheduler_moves_every_hospitals_due_jobs_even_one_resting(redis_server, redis, tmp_path):
    services = hospitals(redis_server, redis, registry_dir(tmp_path, "a", "b"))
    worker = build_worker(services, connection=redis, queue_names=("line",))
    worker.turns.rest("b", seconds=60)
    worker._listen()
    assert "h:b:line" not in worker.queue_names()
    due = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    enqueue_at(redis, due, "tests.workers.test_hospital_turns.record", "b0", queue="h:b:line", description="t")
    worker._start_scheduler(burst=True)  # in burst mode: moves what is due, then returns
    assert get_queue(redis, "h:b:line").count == 1  # b's OTP send or reminder is due all the same
    assert "h:b:line" not in worker.queue_names()  # still resting for its turns


def test_a_hospital_rebuilt_after_its_file_changed_lets_the_old_ones_threads_end(redis_server, redis, tmp_path):
    import threading

    from tests.support import wait_for

    directory = registry_dir(tmp_path, "a")
    served = hospitals(redis_server, redis, directory)
    before = served.get("a")
    others = set(threading.enumerate())  # other tests' services may have left OTP threads of their own
    assert before.verification.turn_budget.run(lambda: "done", elsewhere=lambda: None, late=print) == (True, "done")
    otp_threads = [t for t in set(threading.enumerate()) - others if t.name.startswith("otp")]
    assert otp_threads
    (directory / "a.toml").write_text(f'line_bot_user_id = "{BOTS["a"]}"\nbusiness_hours = "Mon-Fri 08:00-16:00"\n')
    served.refresh(now=True)
    assert served.get("a") is not before
    wait_for(lambda: not any(t.is_alive() for t in otp_threads), timeout=10, what="the old OTP threads to end")
