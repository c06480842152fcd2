"""``flask pdpa erase`` and RQ's job records: what names the user goes, what other patients' work needs
is waited for (a queued drain also takes others from its ready list)."""

from __future__ import annotations

import datetime as dt

from rq.job import Job
from rq.serializers import JSONSerializer

from workers import job_names
from workers.handoff.enqueue import enqueue_oho_contact
from workers.line.inbox import enqueue_drain
from workers.pdpa import erase_user
from workers.queues import DEFAULT_QUEUE, LINE_QUEUE, enqueue_at, get_queue

USER, OTHER = "U" + "d" * 32, "U" + "c" * 32


def args_waiting(redis, queue: str) -> list[list]:
    return [job.args for job in Job.fetch_many(get_queue(redis, queue).get_job_ids(), redis, JSONSerializer)]


def test_queued_drains_are_waited_for_and_other_jobs_of_the_user_deleted(redis, services, run_worker):
    enqueue_drain(redis, USER)                     # drain_inbox([USER]): other patients may ride on it
    enqueue_drain(redis, OTHER)
    enqueue_oho_contact(redis, USER)               # would make an Oho contact for a user who is gone
    timer = enqueue_at(redis, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1), job_names.HANDOFF_CHECK_IDLE,
                       USER, "session-1", description="idle check")
    naps = []
    removed = erase_user(redis, USER, on_request=True, jobs_wait=0, sleep=naps.append)
    assert "job records naming the user (2); 1 more still queued or running: run the erasure again in a minute" \
        in removed
    assert args_waiting(redis, LINE_QUEUE) == [[USER], [OTHER]]   # both drains still go
    assert args_waiting(redis, DEFAULT_QUEUE) == []
    assert not redis.exists(timer.key) and get_queue(redis).scheduled_job_registry.count == 0

    run_worker()  # the drains run (and find nothing of the erased user)
    again = erase_user(redis, USER, on_request=True, jobs_wait=0, sleep=naps.append)
    assert again == ["job records naming the user (1)"]
    finished = get_queue(redis, LINE_QUEUE).finished_job_registry.get_job_ids()
    assert [job.args for job in Job.fetch_many(finished, redis, JSONSerializer)] == [[OTHER]]


def test_the_erasure_waits_a_while_for_running_work(redis):
    enqueue_drain(redis, USER)
    naps = []
    removed = erase_user(redis, USER, on_request=True, jobs_wait=0.05, sleep=naps.append)
    assert naps and all(nap == 0.5 for nap in naps)
    assert any("1 more still queued or running" in line for line in removed)
