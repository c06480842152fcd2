"""A patient's turn waits a short while for the SMS provider, so that the free reply carries the
outcome; what takes longer finishes on a background thread and is pushed.

A few threads only: with every one busy (a slow provider, many patients), waiting in line for one
would eat the turn's budget, so the work is handed to its backstop job at once instead. A thread
stays taken until its late outcome has been pushed.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRunning
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

#: How long a patient's turn waits for the SMS provider before answering without its outcome.
TURN_SECONDS = 2.0
TURN_THREADS = 4

T = TypeVar("T")


class TurnBudget(Generic[T]):
    """Runs work for a turn within ``seconds`` on one of ``threads`` threads (made on first use:
    processes that never verify start none). ``seconds`` may be changed (tests make it short)."""

    def __init__(self, seconds: float = TURN_SECONDS, threads: int = TURN_THREADS, name: str = "turn"):
        self.seconds = seconds
        self.threads = threads
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._free = threading.BoundedSemaphore(threads)

    def run(self, work: Callable[[], T], elsewhere: Callable[[], None],
            late: Callable[[T], None]) -> tuple[bool, T | None]:
        """``(True, result)`` when ``work`` finished within the budget; else ``(False, None)``: with
        every thread busy ``elsewhere()`` was called instead of ``work``, and a ``work`` slower than
        the budget goes on and hands its result to ``late`` (on its thread) when it is done."""
        if not self._free.acquire(blocking=False):
            elsewhere()
            return False, None
        # The turn's context goes along (which hospital it serves: the metrics' label).
        working, finishing = contextvars.copy_context(), contextvars.copy_context()
        try:
            future = self._threads().submit(working.run, work)
            result = future.result(timeout=self.seconds)
        except StillRunning:  # frees the thread after:
            future.add_done_callback(lambda done: finishing.run(self._finish_late, done, late))
            return False, None
        except BaseException:
            self._free.release()
            raise
        self._free.release()
        return True, result

    def wait_for_late_work(self, wait: bool = True) -> None:
        """Wait until every late result has been handed over; the next ``run`` starts new threads.
        ``wait=False``: let the threads end once their work is done, without waiting for them."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)

    def _finish_late(self, future: Future, late: Callable[[T], None]) -> None:
        try:
            late(future.result())
        except Exception:  # the backstop job does the work again, or tells what it finds
            log.exception("%s work finished after the turn went wrong; its backstop job will see to it", self.name)
        finally:
            self._free.release()

    def _threads(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
            return self._pool
