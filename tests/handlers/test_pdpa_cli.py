"""``flask pdpa erase`` as staff use it: the real app and Redis, real RQ workers, Oho and LiveDesk
stubbed at the HTTP boundary (``tests/handoff_stubs.py``) and LINE by the stub server."""

from __future__ import annotations

import time

import pytest

from bot.handoff.state import HandoffState
from handlers.app import create_app
from tests.handoff_stubs import (  # noqa: F401  (fixtures)
    USER,
    http,
    line_extra,
    livedesk,
    oho,
    pushes,
    services,
    settings,
)
from tests.support import invoke_with_worker
from workers.handoff.mirror import Mirrored
from workers.handoff.mirror_drains import enqueue_drain_mirror
from workers.handoff.store import open_handoffs
from workers.verification.store import VerificationStore, verified_phone

PHONE = "0812345678"
OTHER = "U" + "a" * 31 + "e"


@pytest.fixture
def cli(settings, services):
    return create_app(settings, services=services).test_cli_runner()


def verified(redis, user: str, phone: str = PHONE) -> None:
    VerificationStore(redis, prefix="").save_verified(user, phone, "2026-01-07T10:00:00+07:00", "sepsms", keep_days=30)


def stored(redis, user: str) -> bool:
    return bool(redis.exists(f"verify:phone:{user}", f"handoff:state:{user}", f"livedesk:user:{user}"))


@pytest.mark.parametrize("given", [USER, "0812-345-678", "…eeee", "eeeeee"],
                         ids=["line user id", "phone", "short id", "short id without the dots"])
def test_each_id_finds_the_patient_and_yes_erases(cli, redis, given):
    verified(redis, USER)
    redis.set(f"verify:state:{USER}", "{}")
    result = cli.invoke(args=["pdpa", "erase", given, "--yes"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("patient …eeee · phone …5678\n")
    assert "verified phone number: 1" in result.output and "Removed:" in result.output
    assert PHONE not in result.output and USER not in result.output
    assert verified_phone(redis, USER) is None and not redis.exists(f"verify:state:{USER}")


def test_a_number_being_verified_finds_the_patient_too(cli, redis):
    redis.hset("verify:request:r1", mapping={"user": USER, "phone": PHONE, "provider": "sepsms"})
    result = cli.invoke(args=["pdpa", "erase", "+66812345678", "--yes"])
    assert result.exit_code == 0, result.output
    assert "OTP requests: 1" in result.output and not redis.exists("verify:request:r1")


def test_several_matches_are_listed_and_nothing_is_erased(cli, redis):
    verified(redis, USER)
    verified(redis, OTHER)
    result = cli.invoke(args=["pdpa", "erase", PHONE, "--yes"])
    assert result.exit_code == 1
    assert "…aaaaaaae" in result.output and "…eeeeeeee" in result.output and "2 patients match" in result.output
    assert PHONE not in result.output
    assert stored(redis, USER) and stored(redis, OTHER)


@pytest.mark.parametrize("answer, says", [("n\n", "nothing was erased."), (None, "no one answered")],
                         ids=["refused", "no terminal"])
def test_without_a_yes_nothing_is_erased(cli, redis, answer, says):
    verified(redis, USER)
    result = cli.invoke(args=["pdpa", "erase", "…eeee"], input=answer)
    assert result.exit_code == 1
    assert "Will be removed:" in result.output and says in result.output
    assert verified_phone(redis, USER) == PHONE


def test_typed_yes_erases(cli, redis):
    verified(redis, USER)
    result = cli.invoke(args=["pdpa", "erase", "…eeee"], input="y\n")
    assert result.exit_code == 0, result.output
    assert verified_phone(redis, USER) is None


def test_no_such_patient(cli, redis):
    verified(redis, USER)
    for given in ("…1234", "0899999999"):
        result = cli.invoke(args=["pdpa", "erase", given, "--yes"])
        assert result.exit_code == 1 and "no patient found" in result.output
    assert cli.invoke(args=["pdpa", "erase", "hello", "--yes"]).exit_code == 2
    assert verified_phone(redis, USER) == PHONE


def test_an_open_urgent_handoff_is_closed_as_staff_would_then_erased(cli, services, redis, oho, livedesk,
                                                                      line_extra, run_worker):
    verified(redis, USER)
    state = HandoffState(session="s-1", reason="emergency", since=time.time() - 60, urgent=True)
    urgent_note = Mirrored("urgent:s-1", {"kind": "note", "text": "🚨 ด่วน"})
    assert services.handoff.open_handoff(USER, state, [urgent_note])
    enqueue_drain_mirror(redis, USER)
    run_worker()
    assert oho.room == "agent" and livedesk.notes() == ["🚨 ด่วน"]  # staff have it, as a patient's would be

    result = invoke_with_worker(cli, run_worker, ["pdpa", "erase", PHONE, "--yes"])
    assert result.exit_code == 0, result.output
    assert "handoff open (URGENT)" in result.output and "closed the handoff of …eeee" in result.output
    assert oho.room == "bot" and oho.calls("POST", "/close-chat")
    assert "handoff ปิดแล้ว" in livedesk.notes()[-1]  # the closing note, in the patient's conversation
    assert any("จบการสนทนากับเจ้าหน้าที่" in m["text"] for p in pushes(line_extra) for m in p.get_json()["messages"])
    assert open_handoffs(redis) == [] and not stored(redis, USER)
    assert "job records naming the user" in result.output and "still queued" not in result.output
