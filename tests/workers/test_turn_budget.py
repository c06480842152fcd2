"""The verification turn's budget runs work on its own threads, in the turn's context: the hospital it
serves goes along (the metrics' ``hospital`` label of OTP sends and provider calls made there)."""

from __future__ import annotations

import threading

from integrations.metrics import CURRENT_HOSPITAL
from workers.verification.turn_budget import TurnBudget


def test_work_on_time_and_late_work_know_the_turns_hospital():
    budget = TurnBudget(seconds=0.05, threads=2)
    serving = CURRENT_HOSPITAL.set("b")
    try:
        assert budget.run(CURRENT_HOSPITAL.get, elsewhere=lambda: None, late=lambda _: None) == (True, "b")
        release, seen = threading.Event(), []

        def slow():
            release.wait(10)
            return CURRENT_HOSPITAL.get()

        assert budget.run(slow, elsewhere=lambda: None,
                          late=lambda result: seen.append((result, CURRENT_HOSPITAL.get()))) == (False, None)
    finally:
        CURRENT_HOSPITAL.reset(serving)
    release.set()
    budget.wait_for_late_work()
    assert seen == [("b", "b")]
