"""Wrong settings stop every process the way a person can act on: each Procfile line run as the Procfile
says (the web under gunicorn, the three workers), ``./dev serve``'s check and ``flask doctor`` print ONE
block naming every problem, no traceback, and exit with status 2, in seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import load_settings
from workers.start_up import redis_problems

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
#: Three wrong settings, each of a different kind: a format, a URL's part, a number.
WRONG = {"LINE_CHANNEL_SECRET": "x", "REDIS_URL": "redis://localhost:63a90/0", "MAX_WEBHOOK_BYTES": "abc"}
pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(tmp_path, **values) -> dict:
    """Only what a process needs, the venv's gunicorn and python first on PATH (as ./dev serve has it)."""
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "PYTHONPATH", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PORT=str(free_port()),
               WEB_HOST="127.0.0.1", VAR_DIR=str(tmp_path / "var"), SANDBOX="0", **values)
    return env


def run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def the_block(output: str) -> list[str]:
    """The block's lines: its title and the lines right under it that name a setting."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("Invalid settings:", "Cannot start:"))]
    assert len(starts) == 1, output
    block = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


@pytest.mark.parametrize("process", sorted(PROCFILE))
def test_every_procfile_process_stops_with_one_block_of_every_problem(tmp_path, process):
    result = run(["bash", "-c", "exec " + PROCFILE[process].strip()], environment(tmp_path, **WRONG))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    title, *problems = the_block(output)
    assert title.startswith("Invalid settings: 3 to fix")
    assert sorted(line.split(":")[0].strip() for line in problems) == sorted(WRONG)
    assert all("(for example " in line for line in problems)
    assert not (tmp_path / "var").exists()  # nothing was started (no embedded Redis)


@pytest.mark.parametrize("process", sorted(PROCFILE))
def test_a_redis_that_does_not_answer_stops_every_process_in_one_plain_line(tmp_path, process):
    port = free_port()  # nothing listens there
    result = run(["bash", "-c", "exec " + PROCFILE[process].strip()],
                 environment(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    title, problem = the_block(output)
    assert title.startswith("Cannot start:")
    assert f"REDIS_URL: no Redis answers at 127.0.0.1:{port} (connection refused)" in problem


def test_dev_serves_check_stops_before_any_process(tmp_path):
    result = run([sys.executable, "-m", "workers.start_up"], environment(tmp_path, **WRONG))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(the_block(result.stderr)) == 1 + len(WRONG)


def test_flask_doctor_shows_the_problems_as_its_rows(tmp_path):
    result = run([sys.executable, "-m", "flask", "--app", "wsgi", "doctor"], environment(tmp_path, **WRONG))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    rows = [line for line in result.stdout.splitlines() if line.startswith("FAIL  setting ")]
    assert sorted(row.split()[2] for row in rows) == sorted(WRONG)
    assert "0 ok, 3 to fix" in result.stdout
    assert not (tmp_path / "var").exists()


def test_other_commands_print_the_block(tmp_path):
    result = run([sys.executable, "-m", "flask", "--app", "wsgi", "sms", "credit"], environment(tmp_path, **WRONG))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(the_block(result.stderr)) == 1 + len(WRONG)


def test_unreachable_sentinels_are_named(monkeypatch):
    ports = [free_port(), free_port()]
    monkeypatch.setenv("REDIS_SENTINELS", ",".join(f"127.0.0.1:{port}" for port in ports))
    (problem,) = redis_problems(load_settings(_env_file=None))
    assert problem.name == "REDIS_SENTINELS" and problem.environment
    assert f"no Sentinel answers at 127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}" in problem.what


def test_a_running_redis_is_no_problem(redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert redis_problems(load_settings(_env_file=None)) == []


def test_the_block_also_names_a_redis_that_does_not_answer_when_other_settings_are_wrong(tmp_path):
    port = free_port()
    wrong = {**WRONG, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    result = run(["bash", "-c", "exec " + PROCFILE["worker"].strip()], environment(tmp_path, **wrong))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    title, *problems = the_block(result.stderr)
    assert title.startswith("Invalid settings: 3 to fix")
    assert sorted(line.split(":")[0].strip() for line in problems) == sorted(wrong)
    assert any(f"no Redis answers at 127.0.0.1:{port}" in line for line in problems)


def test_flask_doctor_adds_a_redis_that_does_not_answer_to_the_settings_rows(tmp_path):
    port = free_port()
    env = environment(tmp_path, LINE_CHANNEL_SECRET="x", REDIS_URL=f"redis://127.0.0.1:{port}/0")
    result = run([sys.executable, "-m", "flask", "--app", "wsgi", "doctor"], env)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert [line.split("  ")[1].strip() for line in result.stdout.splitlines() if line.startswith("FAIL")] == \
        ["setting LINE_CHANNEL_SECRET", "Redis"]
    assert f"no Redis answers at 127.0.0.1:{port}" in result.stdout
