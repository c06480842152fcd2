"""The sandbox cannot be deployed by accident: started as a platform starts it (the Procfile's line
through a shell), with a real credential, a provider URL, a public address without its token or a
short token, the process stops before it binds anything, with one message naming every problem and
no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.integration

SECRET = "a-real-looking-his-token-0123456789abcdef"
CASES = {
    "real-credential": ({"WEB_HOST": "127.0.0.1", "APPOINTMENTS_API_TOKEN": SECRET, "MOPH_USER": "hospital",
                         "MOPH_PASSWORD_HASH": SECRET + "-hash"},
                        ["APPOINTMENTS_API_TOKEN", "MOPH_USER", "MOPH_PASSWORD_HASH", "SANDBOX=0"]),
    "provider-url": ({"WEB_HOST": "127.0.0.1", "MOPH_ALERT_BASE_URL": "https://morpromt2c.moph.go.th"},
                     ["MOPH_ALERT_BASE_URL", "simulators only"]),
    "public-bind": ({}, ["listens on 0.0.0.0", "WEB_HOST=127.0.0.1", "SANDBOX_PUBLIC_TOKEN"]),  # the Procfile's default
    "short-token": ({"SANDBOX_PUBLIC_TOKEN": "short"}, ["SANDBOX_PUBLIC_TOKEN: must be at least 32 characters"]),
    "a-registry": ({"WEB_HOST": "127.0.0.1", "HOSPITALS_DIR": "docs/hospitals"},  # real hospitals' files
                   ["HOSPITALS_DIR", "SANDBOX_HOSPITALS=1", "SANDBOX=0"]),
    "hospitals-without-sandbox": ({"WEB_HOST": "127.0.0.1", "SANDBOX": "0", "SANDBOX_HOSPITALS": "1"},
                                  ["SANDBOX_HOSPITALS", "SANDBOX=1"]),
    "unwritable-var": ({"WEB_HOST": "127.0.0.1", "SANDBOX_HOSPITALS": "1", "VAR_DIR": "/proc/no-sandbox"},
                       ["SANDBOX_HOSPITALS: cannot write the sandbox's hospitals in /proc/no-sandbox"]),
}


def _procfile() -> dict[str, str]:
    lines = (line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line)
    return {name.strip(): command.strip() for name, _, command in lines}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(entry: str, env: dict, tmp_path: Path) -> tuple[int | None, str]:
    """Run a Procfile entry as a platform does; its exit status (None: still running after 30 s) and output."""
    return _run(_procfile()[entry], env, tmp_path)


def _run(command: str, env: dict, tmp_path: Path) -> tuple[int | None, str]:
    base = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG")}
    base.update(PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                PYTHONUNBUFFERED="1", SANDBOX="1", PORT=str(_free_port()), VAR_DIR=str(tmp_path / "var"),
                REDIS_URL="redis://127.0.0.1:9")  # never reached: the settings stop the start first
    process = subprocess.Popen(["/bin/sh", "-c", "exec " + command], cwd=ROOT, env={**base, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=30)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output


@pytest.mark.parametrize("entry, case", [("web", case) for case in CASES] + [("worker", "real-credential")])
def test_the_procfile_process_refuses_with_one_message(entry, case, tmp_path):
    env, expected = CASES[case]
    status, output = _start(entry, env, tmp_path)
    assert status not in (None, 0), output
    assert output.count("Invalid settings:") == 1 and "Traceback" not in output, output
    for words in expected:
        assert words in output, (words, output)
    for name, value in env.items():
        if name.endswith(("_TOKEN", "_HASH")):
            assert f"{value}'" not in output and f" {value}" not in output, name  # named, never shown
    assert "Listening at" not in output  # gunicorn bound nothing


def test_the_check_sees_where_gunicorn_really_binds(tmp_path):
    """WEB_HOST says loopback, the command line binds every interface: what gunicorn binds decides."""
    status, output = _run("gunicorn wsgi:app --bind 0.0.0.0:$PORT --workers 1", {"WEB_HOST": "127.0.0.1"}, tmp_path)
    assert status not in (None, 0), output
    assert "listens on 0.0.0.0" in output and "Traceback" not in output and "Listening at" not in output
