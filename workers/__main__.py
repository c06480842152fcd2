"""``python -m workers``: an RQ worker on every queue, in priority order, with the scheduler.

It is a ``SimpleWorker`` (jobs run in this process, no fork per job) so that
HTTP keep-alive connections to LINE and the providers survive from one job to
the next: a fork per job would pay a new TLS handshake for every answer. Job
timeouts still apply (SIGALRM). Job descriptions are not logged; ours carry
no patient data anyway.
"""

from __future__ import annotations

import argparse
import logging

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.log_setup import configure_logging
from bot.services import Services
from bot.settings import load_settings
from workers import runtime
from workers.queues import QUEUE_NAMES, get_queue


def build_worker(s: Services, connection=None) -> SimpleWorker:
    """Every queue, highest priority first; descriptions not logged."""
    connection = connection or s.redis
    queues = [get_queue(connection, name) for name in QUEUE_NAMES]
    return SimpleWorker(queues, connection=connection, serializer=JSONSerializer, log_job_description=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    s = Services(settings, worker=True)
    runtime.install(s)
    if settings.sandbox:
        logging.getLogger("workers").warning("*** SANDBOX: every provider is simulated at %s/sandbox ***",
                                             settings.sandbox_url)
    if missing := settings.missing_for("line"):
        logging.getLogger("workers").warning("not configured yet: %s", ", ".join(missing))
    build_worker(s).work(burst=args.burst, with_scheduler=True, logging_level=settings.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
