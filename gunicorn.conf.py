"""gunicorn's hooks (gunicorn reads ./gunicorn.conf.py by itself; the Procfile's flags set the rest).

Metrics run in prometheus-client's multiprocess mode (``integrations/metrics.py``): when a
worker exits, its live-gauge files go; its counters stay in the directory, so totals never
drop while the deployment runs (``./dev serve`` empties the directory before it starts).
"""

import os
import subprocess
import sys


def on_starting(server):
    """Check the settings before anything is bound, with the address gunicorn is about to bind.

    The sandbox must not listen beyond loopback without its token, and only gunicorn knows where it
    listens (``--bind``, the Procfile's ``${WEB_HOST:-0.0.0.0}``): that address becomes ``WEB_HOST``
    for the check and for the workers forked later. A problem stops the start with the one
    block (``workers/start_up.py``: the settings, then whether their Redis answers), every problem
    listed, no traceback, and the master exits with status 2 before it forks a worker (gunicorn's
    arbiter lets a ``SystemExit`` from this hook end the master).

    The check runs in a process of its own: it imports redis, and redis imported in the master would
    be in every worker before gevent patches it (gevent warns, and its sockets could block the loop).
    """
    from bot.settings import bind_host

    os.environ["WEB_HOST"] = bind_host(server.cfg.bind)
    if code := subprocess.run([sys.executable, "-m", "workers.start_up"], check=False).returncode:
        raise SystemExit(code)


def when_ready(server):
    """In sandbox mode, leave the note that lets the staff commands find this sandbox
    (``workers/sandbox_note.py``): written once, by the master, once it listens."""
    from bot.settings import load_settings
    from workers.sandbox_note import write_note

    settings = load_settings()
    if settings.sandbox:
        write_note(settings, os.getpid())


def on_exit(server):
    from bot.settings import load_settings
    from workers.sandbox_note import remove_note

    remove_note(load_settings().var_dir, os.getpid())


def child_exit(server, worker):
    from integrations.metrics import mark_process_dead

    mark_process_dead(worker.pid)
