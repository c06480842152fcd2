"""SIGTERM, as a platform sends it on every deploy and restart: each worker process of the Procfile is
gone within 25 s (Heroku's SIGKILL follows 30 s after SIGTERM), also one busy in a provider call that
hangs, and nothing it was doing is lost: after the restart every accepted event is answered exactly once.

The hanging call is LINE's (``LINE_TIMEOUT_SECONDS`` at its 60 s maximum here), standing for any slow
provider call a job may be in: LiveDesk's reads may take 3 × 18 s with their retries.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.processes import Stack
from tests.faults.test_line_delivery import assert_exactly_once, await_answers, settle
from tests.faults.waiting import poll_until
from tests.support import wait_for

pytestmark = pytest.mark.faults

EXIT_WITHIN = 25      # seconds from SIGTERM to the process gone
HANG = 90             # the hanging LINE call answers (503) after this, longer than any platform waits


@pytest.fixture
def stack(request, redis_server, line_api, tmp_path):
    """The Procfile's processes, LINE calls allowed to take a minute (``LINE_TIMEOUT_SECONDS=60``)."""
    procs = Stack(redis_server, line_api, tmp_path / "logs", extra_env={"LINE_TIMEOUT_SECONDS": "60"})
    try:
        procs.start_all()
        yield procs
    finally:
        failed = getattr(request.node, "report_call", None)
        if failed is None or failed.failed:
            print("\n" + procs.logs(60))
        procs.stop_all()


def stop_and_time(procs) -> dict[str, float | None]:
    """SIGTERM to each process group at once; seconds until each process was gone (None: still alive
    after 40 s, then SIGKILLed as the platform would)."""
    started = time.monotonic()
    for proc in procs:
        proc.kill(signal.SIGTERM)
    gone: dict[str, float | None] = {proc.name: None for proc in procs}

    def all_gone() -> bool:
        for proc in procs:
            if gone[proc.name] is None and not proc.alive():
                gone[proc.name] = round(time.monotonic() - started, 1)
        return all(seconds is not None for seconds in gone.values())

    poll_until(all_gone, 40)
    for proc in procs:
        if proc.alive():
            proc.kill(signal.SIGKILL)
    return gone


def test_sigterm_stops_every_worker_within_25_s_even_mid_call_and_nothing_is_lost(stack, sender, line_api,
                                                                                 redis, report):
    line_api.hang_next(1, HANG)   # the first answer gets no answer from LINE
    for _ in range(3):
        sender.send_new(list(range(8)))   # 24 events of 8 patients
    hanging = wait_for(lambda: [c for c in line_api.calls if c.kind in ("reply", "push")], 60,
                       what="the worker in LINE's hanging call")[0]
    busy = stack.caller_of(hanging)
    assert busy is not None and busy.kind == "worker", busy
    workers = stack.workers()
    gone = stop_and_time(workers)
    for kind in dict.fromkeys(p.kind for p in workers):
        stack.start(kind)
    await_answers(stack, sender.events, line_api, 120)
    settle(redis, sender.events, line_api)
    fig, answers = report(sender.events, notes=f"busy={busy.name} exit_seconds={gone}")
    slow = {name: seconds for name, seconds in gone.items() if seconds is None or seconds > EXIT_WITHIN}
    assert not slow, f"not gone within {EXIT_WITHIN} s of SIGTERM: {slow}\n{fig.line()}"
    assert_exactly_once(fig, answers, sender.events)
