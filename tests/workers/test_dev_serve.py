"""``./dev serve`` as a person runs it: with nothing configured it starts the sandbox, on loopback only,
and a SIGTERM stops everything it started (web, worker, embedded Redis), as Ctrl-C does; with a real
credential beside the sandbox it starts nothing and says why."""

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


def _listening_on(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* has them) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, local_port = fields[1].rpartition(":")
            if int(local_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


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
        assert _listening_on(port) == {"0100007F"}  # 127.0.0.1 only: nobody else reaches the sandbox

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


def test_a_real_credential_stops_the_sandbox_with_one_message(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    token = "a-real-looking-his-token-0123456789abcdef"
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"), APPOINTMENTS_API_TOKEN=token)  # no LINE: the sandbox
    serve = subprocess.Popen(["./dev", "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = serve.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # it started: stop all of it, and fail
        for pid in _descendants(serve.pid) | {serve.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        output, _ = serve.communicate()
        pytest.fail(f"./dev serve started:\n{output}")
    finally:
        EmbeddedRedis(tmp_path / "var").stop()
    assert serve.returncode == 2
    assert output.count("Invalid settings:") == 1 and "Traceback" not in output, output
    assert "APPOINTMENTS_API_TOKEN" in output and "SANDBOX=0" in output and token not in output
    assert not _listening_on(port)


def test_wrong_settings_stop_dev_serve_with_one_block_before_any_process(tmp_path):
    """The issue's figure: a mistyped REDIS_URL, LINE credentials of the wrong form and a word for a number
    were 186 lines and six tracebacks (and a web accepting the secret "x"); now one block, exit 2."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"), SANDBOX="0", REDIS_URL="redis://localhost:63a90/0",
               LINE_CHANNEL_SECRET="x", LINE_CHANNEL_ACCESS_TOKEN="y", MAX_WEBHOOK_BYTES="abc")
    serve = subprocess.run(["./dev", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert serve.returncode == 2, serve.stdout + serve.stderr
    lines = serve.stderr.splitlines()
    assert lines[0].startswith("Invalid settings: 4 to fix") and len(lines) == 5, serve.stderr
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == \
        ["LINE_CHANNEL_ACCESS_TOKEN", "LINE_CHANNEL_SECRET", "MAX_WEBHOOK_BYTES", "REDIS_URL"]
    assert "Traceback" not in serve.stdout + serve.stderr and not _listening_on(port)
