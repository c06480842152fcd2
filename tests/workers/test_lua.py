"""The Lua scripts live in one place (workers/lua/) and run through one helper that survives a server
that lost its script cache (a failover, SCRIPT FLUSH): a real Redis."""

from __future__ import annotations

import re
from pathlib import Path

from workers import lua
from workers.handoff.store import HandoffStore
from workers.user_queue import UserQueue

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("bot", "integrations", "workers", "handlers", "bench")
# A script's call, a raw EVAL, a registered or hand-made Script, or a script loaded by hand.
LUA_SIGNS = re.compile(r"redis\.call\(|redis\.pcall\(|register_script|\.eval\(|\.evalsha\(|script_load|\bScript\(")
RUN_CALL = re.compile(r"lua\.run\([^,]+,\s*\"([a-z_]+)\"")


def source_files():
    for folder in SOURCE_DIRS:
        yield from (ROOT / folder).rglob("*.py")
    yield from ROOT.glob("*.py")


def test_no_lua_and_no_script_call_outside_workers_lua():
    helper = ROOT / "workers" / "lua" / "__init__.py"
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in source_files() if path != helper
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if LUA_SIGNS.search(line)]
    assert found == []


def test_each_script_says_its_keys_args_answer_and_why_atomic_and_bakes_in_no_python():
    scripts = sorted((ROOT / "workers" / "lua").glob("*.lua"))
    assert len(scripts) == len(lua.SCRIPTS) >= 14
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        header = text[:text.index("\n", text.index("-- Atomic"))] if "-- Atomic" in text else ""
        for word in ("KEYS[1]", "ARGV", "Returns", "Atomic"):
            assert word in header, f"{path.name}: the header says nothing of {word}"
        assert all(line.startswith("--") for line in header.splitlines()), f"{path.name}: header interrupted"
        # What an f-string left behind: {{ for a Lua table, {NAME} for a Python constant (now in ARGV).
        assert not re.search(r"\{\{|\{[A-Z_]+\}", text), f"{path.name}: a Python f-string's text"


def test_every_script_is_run_somewhere_and_every_run_names_a_script():
    named = {name for path in source_files() for name in RUN_CALL.findall(path.read_text(encoding="utf-8"))}
    assert named == set(lua.SCRIPTS)


def test_a_script_is_loaded_again_after_the_server_lost_it(redis):
    store = HandoffStore(redis, b"k" * 32)
    redis.hset("handoff:state:U1", mapping={"session": "s1", "reason": "asked", "since": "1"})
    assert store.update("U1", "s1", reason="urgent")
    sha = lua.SCRIPTS["handoff_update"].sha
    assert redis.script_exists(sha) == [True]   # EVALSHA after one load, not the text each time

    redis.script_flush()   # as after a failover to a replica that never ran it
    assert redis.script_exists(sha) == [False]
    assert store.update("U1", "s1", reason="again")
    assert redis.hget("handoff:state:U1", "reason") == b"again"
    assert redis.script_exists(sha) == [True]
    assert not store.update("U1", "another session", reason="no")


def test_in_a_transaction_a_script_needs_no_cache_and_no_extra_round_trip(redis):
    queue = UserQueue(redis, "test:lua", max_attempts=3, lock_timeout=30)
    redis.script_flush()
    redis.config_resetstat()
    with redis.pipeline(transaction=True) as pipe:
        pipe.multi()
        assert queue.append("U1", "item-1", {"n": 1}, pipeline=pipe) is None
        assert queue.append("U1", "item-1", {"n": 1}, pipeline=pipe) is None
        pipe.set("along", "1")
        # The answers are 1 and 0 among the transaction's results (callers read them by position).
        assert pipe.execute() == [1, 0, True]
    stats = redis.info("commandstats")
    assert not any(name.startswith("cmdstat_script") for name in stats), "a SCRIPT EXISTS/LOAD round trip"
    assert queue.pending("U1") == [{"n": 1}]


def test_the_webhooks_append_and_the_queues_are_one_script(redis):
    """``append`` and ``append_and_route`` write the same keys the same way (one script, queue_append)."""
    queue = UserQueue(redis, "test:lua", max_attempts=3, lock_timeout=30, clock=lambda: 1000.0)
    assert queue.append("U1", "a", {"n": 1})
    appended, own_job = queue.append_and_route([("U1", "a", {"n": 1}), ("U1", "b", {"n": 2}), ("U2", "c", {"n": 3})],
                                               "rq:queue:test-lua", enough=4)
    assert (appended, own_job) == (2, ["U1", "U2"])   # "a" was seen; no drain is coming for either
    assert queue.pending("U1") == [{"n": 1}, {"n": 2}] and queue.pending("U2") == [{"n": 3}]
    assert redis.zrange(queue.due_key, 0, -1, withscores=True) == [(b"U1", 1000.0), (b"U2", 1000.0)]

    redis.rpush("rq:queue:test-lua", *range(4))      # enough drain jobs wait: the ready list instead
    assert queue.append_and_route([("U3", "d", {"n": 4})], "rq:queue:test-lua", enough=4) == (1, [])
    assert queue.take_ready() == "U3" and queue.drain_queued_since(["U3"]) == [1000.0]
