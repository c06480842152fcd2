"""Batches of users per LiveDesk mirror drain under a backlog (the mirror outbox's ready list), and the
Oho contact made by the user's mirror drain instead of a job of its own: fewer RQ jobs than turns,
every line in LiveDesk once and in order, each contact made once, a 5xx retried, nobody stranded.

Real Redis, real RQ workers; LINE, Oho and LiveDesk stubbed over HTTP (``tests/handoff_stubs.py``).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from rq.job import Job
from rq.registry import FinishedJobRegistry
from werkzeug import Response

from tests.handoff_stubs import (  # noqa: F401  (fixtures used by name)
    USER,
    http,
    line_extra,
    livedesk,
    make_due,
    oho,
    scheduled,
    services,
    settings,
)
from tests.support import text_event
from workers.__main__ import build_worker
from workers.batches import DRAIN_LOST_AFTER
from workers.handoff.mirror import Mirrored
from workers.handoff.mirror_drains import ENOUGH_QUEUED_DRAINS, QUEUED_DRAINS_KEY
from workers.handoff.service import HandoffService
from workers.handoff.store import mirror_outbox
from workers.maintenance import hand_over_lost_contacts, sweep
from workers.oho_contacts import WANT_LOST_AFTER, WANTED_KEY
from workers.queues import DEFAULT_QUEUE, get_queue

READY = "livedesk:outbox-ready"
USERS = [f"U{n:032x}" for n in range(1, 11)]


@pytest.fixture
def profiles(line_extra):
    """LINE profiles for every test patient (the mirror and Oho contacts ask for them)."""
    line_extra.expect_request(re.compile(r"/v2/bot/profile/U[0-9a-f]{32}"), method="GET").respond_with_json(
        {"displayName": "Patient"})
    return line_extra


def line(user: str, n: int) -> Mirrored:
    return Mirrored(f"in:{user}-{n}", {"kind": "text", "direction": "incoming", "text": f"{user[-2:]}-{n}"})


def default_jobs(redis, func: str) -> list[Job]:
    return [j for j in get_queue(redis, DEFAULT_QUEUE).jobs if j.func_name.endswith(func)]


def finished(redis, func: str) -> int:
    registry = FinishedJobRegistry(queue=get_queue(redis, DEFAULT_QUEUE))
    return sum(1 for j in Job.fetch_many(registry.get_job_ids(), connection=redis, serializer=get_queue(
        redis, DEFAULT_QUEUE).serializer) if j is not None and j.func_name.endswith(func))


def test_idle_a_turn_gets_its_own_drain_under_a_backlog_the_ready_list(services, redis):
    handoff = services.handoff
    handoff.finish_turn(USERS[0], [line(USERS[0], 0)], oho_contact=True)
    assert [j.args for j in default_jobs(redis, "drain_mirror")] == [[USERS[0]]]  # idle: a job of its own
    assert not redis.exists(READY)
    for user in USERS[1:]:
        handoff.finish_turn(user, [line(user, 0)], oho_contact=True)
    assert len(default_jobs(redis, "drain_mirror")) == ENOUGH_QUEUED_DRAINS  # then the ready list
    assert [u.decode() for u in redis.lrange(READY, 0, -1)] == USERS[ENOUGH_QUEUED_DRAINS:]
    assert all(redis.exists(f"livedesk:outbox-pending:{u}") for u in USERS)  # the sweeper sees drains coming
    assert redis.zcard(QUEUED_DRAINS_KEY) == ENOUGH_QUEUED_DRAINS
    # The contacts go with the mirror drains: no job of their own.
    assert default_jobs(redis, "ensure_oho_contact") == []
    assert {u.decode() for u in redis.zrange(WANTED_KEY, 0, -1)} == set(USERS)


def two_hospitals(services, redis):
    """Hospitals ``h:a:`` and ``h:b:`` served by the same workers, each counting the other's drains."""
    def hospital(prefix: str, other: str) -> HandoffService:
        return HandoffService(services.settings, redis, line=lambda: services.line, oho=lambda: services.oho,
                              livedesk=lambda: services.livedesk, oho_contacts=services.oho_contacts,
                              menu=lambda: None, prefix=prefix, other_prefixes=lambda: [other])
    return hospital("h:a:", "h:b:"), hospital("h:b:", "h:a:")


def drains(redis, prefix: str) -> list:
    return [j.args for j in get_queue(redis, DEFAULT_QUEUE, prefix=prefix).jobs if j.func_name.endswith("drain_mirror")]


def test_several_hospitals_behind_as_a_whole_batch_each_ones_users(services, redis):
    """Once one of a hospital's mirror drains waits, the other hospitals' waiting drains count too: 20
    hospitals under a backlog start about one drain job each, not ``ENOUGH_QUEUED_DRAINS`` each. A
    hospital with none waiting still gets one (only its own drains take its ready list)."""
    a, b = two_hospitals(services, redis)
    for user in USERS[:ENOUGH_QUEUED_DRAINS]:
        b.finish_turn(user, [line(user, 0)])
    a.finish_turn(USERS[5], [line(USERS[5], 0)])  # none of a's waits: a job of its own, however many of b's
    a.finish_turn(USERS[6], [line(USERS[6], 0)])  # one of a's waits, and enough in all: a's ready list
    b.finish_turn(USERS[7], [line(USERS[7], 0)])
    assert drains(redis, "h:a:") == [[USERS[5]]]
    assert drains(redis, "h:b:") == [[user] for user in USERS[:ENOUGH_QUEUED_DRAINS]]
    assert [u.decode() for u in redis.lrange("h:a:" + READY, 0, -1)] == [USERS[6]]
    assert [u.decode() for u in redis.lrange("h:b:" + READY, 0, -1)] == [USERS[7]]
    assert drains(redis, "") == [] and not redis.exists(READY)  # the implicit hospital's own: untouched


@pytest.mark.parametrize(("b_waiting", "a_listed"), [(ENOUGH_QUEUED_DRAINS - 1, True), (ENOUGH_QUEUED_DRAINS - 2, False)])
def test_behind_as_a_whole_means_enough_drains_in_all(services, redis, b_waiting, a_listed):
    a, b = two_hospitals(services, redis)
    for user in USERS[:b_waiting]:
        b.finish_turn(user, [line(user, 0)])
    a.finish_turn(USERS[8], [line(USERS[8], 0)])  # a's one waiting drain
    a.finish_turn(USERS[9], [line(USERS[9], 0)])  # 1 + b's: enough (4), or one short
    assert [u.decode() for u in redis.lrange("h:a:" + READY, 0, -1)] == ([USERS[9]] if a_listed else [])
    assert drains(redis, "h:a:") == [[USERS[8]]] + ([] if a_listed else [[USERS[9]]])


def test_a_hospitals_own_drain_that_started_meanwhile_gets_its_listed_user_a_job(services, redis):
    """The turn counted one drain of its own (and the other hospital's) and put its user on the list;
    that drain started before the transaction: the user gets a job, though the other hospital's still
    wait (they never take this hospital's list)."""
    a, b = two_hospitals(services, redis)
    for user in USERS[:ENOUGH_QUEUED_DRAINS]:
        b.finish_turn(user, [line(user, 0)])
    a.finish_turn(USERS[8], [line(USERS[8], 0)])
    a_drains = "h:a:" + QUEUED_DRAINS_KEY
    real_pipeline = redis.pipeline

    def pipeline(transaction=True, **options):  # a's drain starts right after the turn's read
        pipe = real_pipeline(transaction=transaction, **options)
        if not transaction:
            real_execute = pipe.execute

            def execute(*args, **kwargs):
                found = real_execute(*args, **kwargs)
                redis.delete(a_drains)
                return found
            pipe.execute = execute
        return pipe

    redis.pipeline = pipeline
    try:
        a.finish_turn(USERS[9], [line(USERS[9], 0)])
    finally:
        del redis.pipeline
    assert [u.decode() for u in redis.lrange("h:a:" + READY, 0, -1)] == [USERS[9]]
    assert drains(redis, "h:a:")[-1] == [USERS[9]]  # not stranded behind b's drains
    assert redis.zcard("h:b:" + QUEUED_DRAINS_KEY) == ENOUGH_QUEUED_DRAINS


def test_a_ready_list_whose_counted_drains_all_started_meanwhile_gets_a_job(services, redis):
    for user in USERS[:ENOUGH_QUEUED_DRAINS]:
        services.handoff.finish_turn(user, [line(user, 0)])
    # The waiting drains start (each leaves the count as it starts) before the next turn's transaction:
    # the turn read the count while they still waited, so it put its user on the list.
    real_pipeline = redis.pipeline

    def pipeline(transaction=True, **options):
        pipe = real_pipeline(transaction=transaction, **options)
        if not transaction:
            real_execute = pipe.execute

            def execute(*args, **kwargs):
                found = real_execute(*args, **kwargs)
                for job_id in [j.decode() for j in redis.zrange(QUEUED_DRAINS_KEY, 0, -1)]:
                    redis.zrem(QUEUED_DRAINS_KEY, job_id)
                return found
            pipe.execute = execute
        return pipe

    redis.pipeline = pipeline
    try:
        services.handoff.finish_turn(USERS[-1], [line(USERS[-1], 0)])
    finally:
        del redis.pipeline
    assert [u.decode() for u in redis.lrange(READY, 0, -1)] == [USERS[-1]]
    assert [j.args for j in default_jobs(redis, "drain_mirror")][-1] == [USERS[-1]]  # not stranded


def test_a_real_worker_mirrors_a_backlog_in_order_once_with_fewer_jobs_and_one_contact_each(
        webhook, run_worker, profiles, oho, livedesk, redis):
    for round_ in range(2):
        for user in USERS:
            assert webhook.post([text_event(f"{user[-2:]}-{round_} ขอบคุณค่ะ", user=user)]).status_code == 200
    run_worker()
    incoming = [m["content"] for m in livedesk.messages if m["message_type"] == "incoming"]
    for user in USERS:  # every patient's lines once, in order
        assert [t for t in incoming if t.startswith(f"{user[-2:]}-")] == [f"{user[-2:]}-0 ขอบคุณค่ะ",
                                                                          f"{user[-2:]}-1 ขอบคุณค่ะ"]
    assert len(incoming) == 2 * len(USERS)
    drains = finished(redis, "drain_mirror")
    assert drains < len(USERS) < 2 * len(USERS)  # batches: fewer jobs than patients, let alone turns
    assert finished(redis, "ensure_oho_contact") == 0  # made by the drains
    assert len(oho.calls("POST", "/contact")) == len(USERS)  # one contact per patient, across two turns each
    assert not redis.exists(READY) and not redis.zcard(WANTED_KEY)
    assert not any(mirror_outbox(redis).has_pending(u) for u in USERS)


def test_a_batch_killed_mid_way_is_finished_by_the_sweeper(services, line_extra, livedesk, redis, run_worker):
    for user in USERS:
        for n in range(2):
            services.handoff.finish_turn(user, [line(user, n)])
    get_queue(redis, DEFAULT_QUEUE).empty()  # the users' own jobs, as if lost: one batch alone works
    victim = USERS[ENOUGH_QUEUED_DRAINS + 2]   # the third user it takes from the ready list
    child: list[int] = []

    def kill_the_drain(request):  # SIGKILL while it waits on LINE for the victim: no finally, no hand-over
        if len(child) == 1:
            os.kill(child.pop(), signal.SIGKILL)
        return Response('{"displayName": "Patient"}', content_type="application/json")

    line_extra.expect_request(f"/v2/bot/profile/{victim}", method="GET").respond_with_handler(kill_the_drain)
    line_extra.expect_request(re.compile(r"/v2/bot/profile/U[0-9a-f]{32}"), method="GET").respond_with_json(
        {"displayName": "Patient"})
    pid = os.fork()
    if pid == 0:  # the drain job's process
        try:
            services.handoff.drain_mirror(USERS[0])
        finally:
            os._exit(3)
    child.append(pid)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    done_before = {u for u in USERS if not mirror_outbox(redis).has_pending(u)}
    assert done_before == {USERS[0], *USERS[ENOUGH_QUEUED_DRAINS:ENOUGH_QUEUED_DRAINS + 2]}
    redis.delete(f"livedesk:outbox-lock:{victim}")  # its lease lapses (60 s): not waited for here
    assert sweep(redis, now=time.time() + DRAIN_LOST_AFTER + 1) == len(USERS) - len(done_before)
    run_worker()
    assert not any(mirror_outbox(redis).has_pending(u) for u in USERS)
    texts = [m["content"] for m in livedesk.messages if m["message_type"] == "incoming"]
    for user in USERS:  # the ones the killed batch had done are not posted again; the rest once, in order
        expected = [] if user in done_before else [f"{user[-2:]}-0", f"{user[-2:]}-1"]
        assert [t for t in texts if t.startswith(f"{user[-2:]}-")] == expected


def test_a_contact_failing_with_a_5xx_is_retried_by_the_job_and_does_not_hold_the_mirror(
        webhook, run_worker, services, line_extra, oho, livedesk, redis):
    oho.down = True
    assert webhook.post([text_event("ขอบคุณค่ะ", user=USER)]).status_code == 200
    build_worker(services, connection=redis, queue_names=("line",)).work(burst=True)
    assert default_jobs(redis, "ensure_oho_contact") == []  # the turn asked the mirror drain, not a job
    assert redis.zscore(WANTED_KEY, USER) is not None
    run_worker()
    assert livedesk.public()[0] == ("incoming", "ขอบคุณค่ะ")  # mirrored while Oho is down
    assert len(livedesk.public()) == 2 and not mirror_outbox(redis).has_pending(USER)
    assert oho.calls("POST", "/contact") and oho.contact is None
    # The drain handed the contact to the job, whose RQ retry waits.
    assert len(scheduled(redis, "workers.handoff.jobs.ensure_oho_contact")) == 1
    assert not redis.zcard(WANTED_KEY)
    oho.down = False
    assert make_due(redis, "workers.handoff.jobs.ensure_oho_contact") == 1
    run_worker()
    assert oho.contact is not None
    tried = len(oho.calls("POST", "/contact"))
    assert webhook.post([text_event("อีกข้อความ", user=USER)]).status_code == 200
    run_worker()
    assert len(oho.calls("POST", "/contact")) == tried  # made once: later turns ask for nothing


def test_a_want_no_drain_took_care_of_goes_to_the_job(services, line_extra, oho, redis, run_worker):
    services.handoff.finish_turn(USER, [line(USER, 0)], oho_contact=True)
    get_queue(redis, DEFAULT_QUEUE).empty()  # the drain job lost with its worker
    assert hand_over_lost_contacts(redis) == 0  # not yet: a drain may still come
    assert hand_over_lost_contacts(redis, now=redis.time()[0] + WANT_LOST_AFTER + 1) == 1
    assert [j.func_name for j in get_queue(redis, DEFAULT_QUEUE).jobs] == ["workers.handoff.jobs.ensure_oho_contact"]
    run_worker()
    assert oho.contact is not None and not redis.zcard(WANTED_KEY)
