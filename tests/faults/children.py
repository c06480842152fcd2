"""The suite's child processes and loopback ports.

Every child (redis-server, each Procfile entry) runs in a process group of its own, so a fault
test can kill one as a platform would, and none outlives the test run even if a fixture's
finalizer never ran.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess

_LIVE: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Backstop for the fixtures' finalizers: no child process group outlives the test run."""
    for popen in list(_LIVE):
        if popen.poll() is None:
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def spawn(command: list[str], **popen_args) -> subprocess.Popen:
    """Start ``command`` in a new process group, killed at exit if still running."""
    popen = subprocess.Popen(command, start_new_session=True, **popen_args)
    _LIVE.add(popen)
    return popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
