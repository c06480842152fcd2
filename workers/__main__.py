"""``python -m workers``: an RQ worker on the given queues (all, by default), in priority order,
with RQ's scheduler and the maintenance thread (``workers/maintenance.py``).

It is a ``SimpleWorker`` (jobs run in this process, no fork per job) so that HTTP keep-alive
connections to LINE and the providers survive from one job to the next: a fork per job would
pay a new TLS handshake for every answer. Job timeouts still apply (SIGALRM). Job
descriptions are not logged; ours carry no patient data anyway.

Every worker may hold the scheduler: they look for it every ``MAINTENANCE_INTERVAL`` seconds
(RQ's default is 10 minutes, during which no retry or reminder would run after the holder
died). SIGTERM is a warm shutdown: a drain hands its user over to the next drain between two
items, and any job still running ``STOP_GRACE`` seconds later is stopped as a job timeout would
stop it (its item or the job itself is retried), so that the process is gone within
``STOP_GRACE + STOP_LAST`` seconds (Heroku sends SIGKILL 30 s after SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from rq import SimpleWorker
from rq.intermediate_queue import IntermediateQueue
from rq.job_lifecycle import call_exception_handlers
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus

from bot.hospitals import IMPLICIT
from bot.knowledge import KnowledgeError
from bot.languages import LanguagesError
from bot.lexicon import LexiconError
from bot.log_setup import configure_logging
from integrations.metrics import CURRENT_HOSPITAL, mark_process_dead
from workers import runtime
from workers.failures import failure_text, stack_of
from workers.fair_share import FairShare
from workers.hospitals import HospitalServices, HospitalTurns, hospital_of_queue, kind_of_queue
from workers.maintenance import Maintenance
from workers.queues import DEFAULT_TIMEOUT, LINE_QUEUE, QUEUE_NAMES, get_queue
from workers.redis_health import log_findings_once
from workers.services import Services
from workers.start_up import settings_or_exit

#: How often a worker cleans RQ's registries and looks for a free scheduler lock.
MAINTENANCE_INTERVAL = 15
#: The worker's registration TTL; RQ also blocks on the queues for this less 15 s, so
#: maintenance runs at least that often on an idle worker.
WORKER_TTL = 35
#: Seconds between two of RQ's plain worker heartbeats. RQ sends three per job, each three round
#: trips (a third of its Redis traffic per job); the worker's key lives ``WORKER_TTL`` + 60 s, and
#: the suspension check before every job beats as well (in its own round trip).
HEARTBEAT_EVERY = 5
#: Seconds a worker serving a registry of hospitals blocks on its queues before it looks at the registry.
FOLLOW_EVERY = 3
#: CPU priority (``nice``) of a worker that answers no patient (no ``line`` queue): when web,
#: workers and Redis share cores, a MOPH push or a mirror backlog must not slow the answers down.
#: It only matters while the CPU is short; then the background still gets a share (CFS weights).
BACKGROUND_NICENESS = 10
#: Seconds a job may go on after SIGTERM before it is stopped (a slow provider call: LiveDesk's
#: reads may take 3 × 18 s with their retries). A drain stops between two items long before.
STOP_GRACE = 15
#: Seconds after that for the job to unwind and the worker to deregister; a job that swallowed the
#: stop and runs on is then ended with the process (as a SIGKILL would, which every job survives).
STOP_LAST = 5


class StopTimeout(JobTimeoutException):
    """The worker is shutting down (SIGTERM) and the job ran ``STOP_GRACE`` seconds past it: it stops
    here, as at a job timeout, and is retried by another (or the restarted) worker."""


class Worker(SimpleWorker):
    """RQ's worker, but a failed job's stored and logged text is ``workers.failures.failure_text``,
    and plain heartbeats are one round trip, at most every ``HEARTBEAT_EVERY`` seconds."""

    _failure: str | None = None
    _beat_at = float("-inf")

    #: Set for a registry of hospitals: the queues it listens on and their order (``workers.hospitals``),
    #: and each hospital's share of the workers (``workers.fair_share``).
    turns: HospitalTurns | None = None
    fair: FairShare | None = None
    _holding: tuple[str, str] | None = None

    def heartbeat(self, timeout=None, pipeline=None):
        if self.turns is not None and timeout is None and pipeline is None:  # between two dequeues
            if self.turns.refresh():  # a hospital was added, changed or removed
                self._listen()
                self._restart_scheduler()
            elif self.turns.resting():
                self._listen()
        if pipeline is not None:  # joins a round trip RQ makes anyway (at every job's start, too)
            super().heartbeat(timeout, pipeline=pipeline)
            if self.fair is not None:  # a worker busy job after job is alive all the more
                self.fair.alive(self.name, self.turns.kinds, pipeline)
        elif timeout is None and time.monotonic() - self._beat_at < HEARTBEAT_EVERY:
            return  # one was sent just now; a beat with a timeout (a job's) is always sent
        else:
            with self.connection.pipeline(transaction=False) as pipe:
                super().heartbeat(timeout, pipeline=pipe)
                if self.fair is not None:
                    self.fair.alive(self.name, self.turns.kinds, pipe)
                pipe.execute()
        self._beat_at = time.monotonic()

    @property
    def dequeue_timeout(self) -> int:
        # With a registry, look at it every few seconds even while idle: a new hospital's first patient
        # must not wait for a long blocking dequeue to end.
        return FOLLOW_EVERY if self.turns is not None else super().dequeue_timeout

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while True:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            if result is None or self.fair is None or len(self.turns.hospitals.registry.hospitals()) < 2:
                return result  # one hospital has no one to be fair to
            job, queue = result
            kind, hospital_id = kind_of_queue(queue.name), hospital_of_queue(queue.name)
            if self.fair.take(kind, hospital_id, self.name, job.timeout or DEFAULT_TIMEOUT):
                self._holding = (kind, hospital_id)
                return result
            # That hospital holds its share of the workers: its job goes back to the head of its queue,
            # and this worker serves the others for a moment.
            with self.connection.pipeline() as pipe:
                queue.push_job_id(job.id, pipeline=pipe, at_front=True)
                pipe.lrem(IntermediateQueue(queue.key, self.connection).key, 1, job.id)
                pipe.execute()
            self.turns.rest(hospital_id)
            self._listen()

    def execute_job(self, job, queue):
        serving = CURRENT_HOSPITAL.set(hospital_of_queue(queue.name))  # the metrics' hospital label
        try:
            return super().execute_job(job, queue)
        finally:
            CURRENT_HOSPITAL.reset(serving)
            if self._holding is not None:
                self.fair.give_back(*self._holding, self.name)
                self._holding = None

    def reorder_queues(self, reference_queue):
        if self.turns is None:
            return super().reorder_queues(reference_queue)
        self.turns.served(reference_queue.name)
        self._listen()

    def _listen(self) -> None:
        known = {queue.name: queue for queue in self.queues}
        self.queues = [known.get(name) or get_queue(self.connection, name) for name in self.turns.names()]
        self._ordered_queues = self.queues[:]

    def _start_scheduler(self, *args, **kwargs):
        # RQ's scheduler moves the due jobs of the queues it is given: every hospital's, including one
        # resting at its share right now (its OTP sends and reminders are due all the same).
        if self.turns is None:
            return super()._start_scheduler(*args, **kwargs)
        listening = self.queues
        self.queues = [get_queue(self.connection, name)
                       for name in self.turns.hospitals.queue_names(self.turns.kinds)] or listening
        try:
            return super()._start_scheduler(*args, **kwargs)
        finally:
            self.queues = listening

    def register_death(self):
        super().register_death()
        if self.fair is not None:  # a stopped worker leaves the share at once, not 35 s later
            self.fair.gone(self.name, self.turns.kinds)

    def _restart_scheduler(self) -> None:
        if self.scheduler is not None:  # RQ's scheduler moves due jobs of the queues it was given
            self.stop_scheduler()
            self._start_scheduler(logging_level=logging.getLevelName(self.log.getEffectiveLevel()))

    _stop_armed = False
    _stop_fired = False

    def request_stop(self, signum, frame):
        runtime.request_stop()  # bounded loops (drains) hand over between items
        if self.get_state() == WorkerStatus.BUSY and not self._stop_armed:
            self._stop_armed = True
            # The job's own timeout (RQ's death penalty) is an alarm too: the earlier of the two stays.
            left = signal.alarm(0)
            signal.signal(signal.SIGALRM, self._stop_the_job)
            signal.alarm(min(left, STOP_GRACE) if left else STOP_GRACE)
        super().request_stop(signum, frame)

    def _stop_the_job(self, signum, frame):
        if self._stop_fired:  # the stop was swallowed and the job runs on
            self.log.error("Worker %s: the job did not stop %d s after SIGTERM; exiting now", self.name,
                           STOP_GRACE + STOP_LAST)
            os._exit(1)
        self._stop_fired = True
        signal.alarm(STOP_LAST)  # cancelled as the job ends (RQ's death penalty clears the alarm)
        raise StopTimeout("stopped: the worker is shutting down (SIGTERM); to be retried")

    def handle_exception(self, job, *exc_info):
        # Instead of RQ's: it logs the whole traceback (values included) with the job's arguments.
        exc = exc_info[1] if len(exc_info) > 1 else None
        self._failure = failure_text(exc)
        try:
            name = job.func_name
        except Exception:  # a job that cannot be read still gets its failure handled
            name = "<unreadable job>"
        self.log.error("Worker %s: job %s (%s) failed: %s\n%s", self.name, job.id, name, self._failure,
                       stack_of(exc))
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        # What RQ stores as the failure (and sends to webhooks): the masked text, never the traceback.
        safe, self._failure = self._failure or _type_line(exc_string), None
        return super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                          exc_string=safe, execution=execution)


def _type_line(exc_string: str) -> str:
    """For failures RQ formats without calling ``handle_exception`` (e.g. an abandoned job): the type only."""
    last = next((line for line in reversed((exc_string or "").splitlines()) if line.strip()), "")
    name = last.split(":", 1)[0].strip()
    return f"{name} (message withheld)" if name.replace(".", "").replace("_", "").isalnum() else "job failed"


def build_worker(s: Services | HospitalServices, connection=None, queue_names=QUEUE_NAMES) -> Worker:
    """The given queues, highest priority first (for a registry: each hospital's, in turn);
    descriptions not logged."""
    connection = connection or s.redis
    turns = HospitalTurns(s, queue_names) if isinstance(s, HospitalServices) else None
    names = turns.names() if turns else queue_names
    worker = Worker([get_queue(connection, name) for name in names], connection=connection,
                    serializer=JSONSerializer, log_job_description=False, worker_ttl=WORKER_TTL,
                    maintenance_interval=MAINTENANCE_INTERVAL)
    worker.turns = turns
    worker.fair = FairShare(connection) if turns else None
    return worker


def niceness_for(queue_names) -> int:
    """How much to lower this worker's CPU priority: not at all for one that answers patients."""
    return 0 if LINE_QUEUE in queue_names else BACKGROUND_NICENESS


#: A knowledge base (or its lexicon, its languages) that cannot be read: a hospital's own mistake.
UNREADABLE_KNOWLEDGE = (KnowledgeError, LexiconError, LanguagesError, OSError)


def warm_up(s: Services, queue_names) -> None:
    """Build before the first job what the first jobs would wait for: the knowledge base takes
    seconds to load (Thai word segmentation builds its dictionary), and the first patients'
    answers would wait behind it."""
    if LINE_QUEUE in queue_names:
        s.dialog


def _whose(s: Services) -> str:
    return "" if s.hospital.id == IMPLICIT else f"hospital {s.hospital.id}: "


def parse_queues(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in QUEUE_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"queues are {', '.join(QUEUE_NAMES)} (got {text!r})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--queues", type=parse_queues, default=QUEUE_NAMES,
                        help=f"comma-separated, in priority order (default: {','.join(QUEUE_NAMES)})")
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    log = logging.getLogger("workers")
    # One hospital from the environment, or every hospital of the registry (each job its hospital's).
    s = HospitalServices.from_settings(settings, worker=True) if settings.hospitals_dir else \
        Services(settings, worker=True)
    runtime.install(s)
    if settings.sandbox:
        log.warning("*** SANDBOX: every provider is simulated at %s/sandbox ***", settings.sandbox_url)
    for one in s.all() if isinstance(s, HospitalServices) else [s]:
        if missing := one.settings.missing_for("line"):
            log.warning("%snot configured yet: %s", _whose(one), ", ".join(missing))
        try:
            warm_up(one, args.queues)
        except UNREADABLE_KNOWLEDGE as exc:
            # Of several hospitals, one's mistake stops only its answers: its events wait (retried) until
            # the knowledge base is fixed and the hospital's file touched, which builds its services again.
            log.error("%sthe knowledge base cannot be read: %s", _whose(one), exc)
            if not isinstance(s, HospitalServices):
                return 2
    if isinstance(s, HospitalServices) and s.registry.problems():
        log.error("hospitals not served until their files are fixed:\n%s", s.registry.problems_report())
    log_findings_once(s.redis, log)
    # Every hospital served now (the registry as last read; the worker's heartbeat re-reads it).
    maintenance = Maintenance(s.redis, prefixes=lambda: [h.prefix for h in s.registry.hospitals()]) \
        if isinstance(s, HospitalServices) else Maintenance(s.redis)
    maintenance.start()
    try:
        build_worker(s, queue_names=args.queues).work(burst=args.burst, with_scheduler=True,
                                                      logging_level=settings.log_level)
    finally:
        maintenance.stop.set()
        mark_process_dead(os.getpid())
    return 0


def exit_now(code: int) -> None:
    """Exit without tearing the interpreter down: the knowledge base and its models are millions of
    objects, freed one by one at a normal exit (2 to 5 s on a busy machine) for nothing, while the
    platform's SIGKILL approaches. Logs and output are flushed first; nothing else waits for exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
