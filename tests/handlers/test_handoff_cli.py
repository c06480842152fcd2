"""``flask handoff list`` / ``close`` against real Redis, a real RQ worker, Oho stubbed with
``responses`` and LINE by the stub server."""

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
from workers.handoff.store import open_handoffs

OTHER = "U" + "a" * 31 + "e"   # ends like USER's mask would not: …aaae


@pytest.fixture
def cli(settings, services):
    return create_app(settings, services=services).test_cli_runner()


def open_for(services, user, *, since=None, answered=False, session="s-1"):
    state = HandoffState(session=session, reason="asked", since=since or time.time() - 600, agent_answered=answered)
    assert services.handoff.store.open(user, state)


def test_list_with_none(cli, redis):
    result = cli.invoke(args=["handoff", "list"])
    assert result.exit_code == 0 and "no open handoff" in result.output


def test_list_shows_masked_users_since_when_and_who_waits(cli, services, redis):
    open_for(services, USER, since=time.time() - 3 * 3600)
    open_for(services, OTHER, answered=True, session="s-2")
    result = cli.invoke(args=["handoff", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].startswith("…eeee") and "3 h 00 min" in lines[1] and "WAITING for an agent" in lines[1]
    assert lines[2].startswith("…aaae") and "answered" in lines[2]
    assert USER not in result.output and OTHER not in result.output


def test_an_expired_state_drops_out_of_the_list(cli, services, redis):
    open_for(services, USER)
    redis.delete(f"handoff:state:{USER}")  # as its TTL would
    assert "no open handoff" in cli.invoke(args=["handoff", "list"]).output
    assert redis.zcard("handoff:open") == 0


def test_close_by_the_masked_id_brings_the_bot_back_and_closes_oho(cli, services, redis, oho, line_extra,
                                                                  livedesk, run_worker):
    oho.room = "agent"
    oho.contact = {"display_name": "x", "tags": [], "labels": ["handoff"], "attributes": []}
    open_for(services, USER)
    result = cli.invoke(args=["handoff", "close", "…eeee"])
    assert result.exit_code == 0, result.output
    assert "closed the handoff of …eeee" in result.output and USER not in result.output
    assert services.handoff.store.state(USER) is None and open_handoffs(redis) == []  # the bot is back now
    run_worker()
    assert oho.room == "bot" and oho.calls("POST", "/close-chat")
    assert any("จบการสนทนากับเจ้าหน้าที่" in m["text"] for p in pushes(line_extra) for m in p.get_json()["messages"])


@pytest.mark.parametrize("given, message", [
    ("…1234", "no open handoff for …1234"),
    ("ee", "at least its last 4 characters"),
    ("U" + "1" * 32, "no open handoff for …1111"),
])
def test_close_of_no_such_handoff(cli, services, redis, given, message):
    open_for(services, USER)
    result = cli.invoke(args=["handoff", "close", given])
    assert result.exit_code == 1 and message in result.output
    assert services.handoff.store.state(USER) is not None


def test_close_of_an_ambiguous_end(cli, services, redis):
    open_for(services, USER)
    open_for(services, "U" + "0" * 28 + "eeee", session="s-2")
    result = cli.invoke(args=["handoff", "close", "eeee"])
    assert result.exit_code == 1 and "2 open handoffs end in eeee" in result.output
    assert cli.invoke(args=["handoff", "close", USER]).exit_code == 0  # the full id settles it
