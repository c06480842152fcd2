"""Staff commands find a running sandbox through its note in ``var/`` (``workers/sandbox_note.py``).

The commands run as a person runs them: ``flask --app wsgi …`` in a process of its own, with nothing
set but ``VAR_DIR``; the sandbox is the real app in sandbox mode on a loopback port
(``tests/handlers/sandbox/conftest.py``). gunicorn's master writes the note and removes it on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.sandbox import sms as sms_simulator
from tests.handlers.sandbox.conftest import _serve, free_port
from tests.support import wait_for
from workers.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_LINE = "ใช้แซนด์บ็อกซ์ที่"


@pytest.fixture
def sandbox(redis_server, redis, tmp_path):
    yield from _serve(redis_server, redis)
    EmbeddedRedis(tmp_path / "var").stop()  # one a command started, had it not found the sandbox's


def write_note(var: Path, url: str, pid: int, redis_url: str, **more) -> None:
    var.mkdir(parents=True, exist_ok=True)
    (var / "sandbox.json").write_text(json.dumps({"url": url, "pid": pid, "redis_url": redis_url,
                                                  "started": "2026-01-07T03:00:00+00:00", **more}))


def flask(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``flask --app wsgi ARGS`` from ``cwd`` (no .env there), with nothing set but ``env``."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT),
             "VAR_DIR": str(cwd / "var"), **env}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=60, check=False)


def gone_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_a_live_note_makes_sms_credit_use_the_simulator_and_say_so_first(sandbox, redis_server, tmp_path):
    write_note(tmp_path / "var", sandbox.url, os.getpid(), redis_server.url)
    result = flask(tmp_path, "sms", "credit")
    assert result.returncode == 0, result.stderr
    first = (result.stderr.splitlines() or [""])[0]
    assert first == f"{SANDBOX_LINE} {sandbox.url} (sandbox running; {tmp_path / 'var' / 'sandbox.json'})"
    assert result.stdout.splitlines()[0] == f"sepsms credit: {sms_simulator.CREDIT}"  # the simulator's answer


def test_a_live_note_gives_the_sandbox_redis(sandbox, redis_server, redis, tmp_path):
    from bot.handoff.state import HandoffState

    write_note(tmp_path / "var", sandbox.url, os.getpid(), redis_server.url)
    user = "U" + "5a" * 16
    assert sandbox.services.handoff.store.open(user, HandoffState(session="s-1", reason="asked", since=1.0))
    result = flask(tmp_path, "handoff", "list")
    assert result.returncode == 0, result.stderr
    assert "…5a5a" in result.stdout
    assert not (tmp_path / "var" / "redis").exists()  # no embedded Redis of its own


def test_a_note_of_two_hospitals_makes_a_command_say_which_and_use_that_ones_accounts(redis_server, redis, tmp_path):
    for two in _serve(redis_server, redis, sandbox_hospitals=True, var_dir=str(tmp_path / "var")):
        write_note(tmp_path / "var", two.url, os.getpid(), redis_server.url, hospitals=True)
        asked = flask(tmp_path, "handoff", "list")
        assert asked.returncode == 2 and "--hospital (one of: a, b)" in asked.stderr
        result = flask(tmp_path, "doctor", "--hospital", "b")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "(@sandbox-b)" in result.stdout and "0 to fix" in result.stdout  # B's LINE account, and B's others


@pytest.mark.parametrize("stale", ["process gone", "url not answering"])
def test_a_stale_note_is_ignored(sandbox, redis_server, tmp_path, stale):
    pid, url = (gone_pid(), sandbox.url) if stale == "process gone" else \
        (os.getpid(), f"http://127.0.0.1:{free_port()}")
    write_note(tmp_path / "var", url, pid, redis_server.url)
    result = flask(tmp_path, "sms", "credit", REDIS_URL=redis_server.url)
    assert result.returncode != 0
    assert SANDBOX_LINE not in result.stderr + result.stdout
    assert "SEPSMS_API_KEY" in result.stderr and "./dev serve" in result.stderr
    assert "credit:" not in result.stdout


def test_real_credentials_win_over_the_note(sandbox, redis_server, tmp_path):
    write_note(tmp_path / "var", sandbox.url, os.getpid(), redis_server.url)
    result = flask(tmp_path, "sms", "credit", REDIS_URL=redis_server.url, LINE_CHANNEL_SECRET="0" * 32,
                   LINE_CHANNEL_ACCESS_TOKEN="t" * 172)
    assert result.returncode != 0
    assert SANDBOX_LINE not in result.stderr + result.stdout
    assert "SEPSMS_API_KEY" in result.stderr
    assert "not used" in result.stderr and "LINE_CHANNEL_SECRET" in result.stderr  # says why
    assert "credit:" not in result.stdout


def test_gunicorn_writes_the_note_once_it_listens_and_removes_it_on_exit(redis_server, tmp_path):
    port = free_port()
    var = tmp_path / "var"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT),
           "VAR_DIR": str(var), "SANDBOX": "1", "SANDBOX_URL": f"http://127.0.0.1:{port}",
           "REDIS_URL": redis_server.url}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                            "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        note = wait_for(lambda: (var / "sandbox.json").exists() and json.loads((var / "sandbox.json").read_text()),
                        timeout=30, what="the sandbox note")
        assert note["url"] == f"http://127.0.0.1:{port}" and note["pid"] == web.pid
        assert note["redis_url"] == redis_server.url and note["started"] and note["hospitals"] is False
        assert [p.name for p in var.iterdir()] == ["sandbox.json"]  # written in one rename, nothing left over
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
    assert not (var / "sandbox.json").exists()


def test_without_the_sandbox_a_command_says_what_to_set_and_how_to_start_it(redis_server, redis, tmp_path):
    from bot.handoff.state import HandoffState
    from workers.handoff.store import HandoffStore

    HandoffStore(redis, b"k").open("U" + "5a" * 16, HandoffState(session="s-1", reason="asked", since=1.0))
    result = flask(tmp_path, "handoff", "close", "…5a5a", REDIS_URL=redis_server.url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the handoff is not configured: set OTP_SECRET (or LINE_CHANNEL_SECRET)" in result.stderr
    assert "`./dev serve` starts the sandbox" in result.stderr
