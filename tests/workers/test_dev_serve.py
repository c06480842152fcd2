"""``./dev serve`` as a person runs it: with nothing configured it starts the sandbox, and a SIGTERM
stops everything it started (web, worker, embedded Redis), as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from workers.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's bookkeeping is left


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def _ready(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_sigterm_stops_web_worker_and_redis(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"), WEB_CONCURRENCY="1")
    serve = subprocess.Popen(["./dev", "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    started: set[int] = set()
    try:
        _wait(lambda: _ready(f"http://127.0.0.1:{port}/"), 60, "the sandbox page")  # no LINE settings: sandbox
        started = _wait(lambda: (lambda found: found if len(found) >= 4 else None)(_descendants(serve.pid)), 30,
                        "honcho, gunicorn and the worker")
        redis = EmbeddedRedis(tmp_path / "var")
        assert redis.is_running()

        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=60)
        left = sorted(pid for pid in started if _alive(pid))
        redis_left = redis.is_running()
    finally:  # never leave a process behind, even when the test fails
        for pid in started | (_descendants(serve.pid) if serve.poll() is None else set()):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
        EmbeddedRedis(tmp_path / "var").stop()
    assert left == [], output
    assert not redis_left, output
    assert "SANDBOX" in output
