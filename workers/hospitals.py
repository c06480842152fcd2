"""Every hospital's services in one process: one ``Services`` per hospital of the registry
(``bot/hospitals.py``), built on first use, rebuilt when its file changes, all on one Redis.

A job's hospital is the queue it was taken from (``h:<id>:line``; a queue without the prefix is
the implicit hospital's, so jobs queued before a registry existed still run); a webhook's is its
path (``/h/<id>/callback``). The registry is re-read at most every ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Callable

import redis as redis_lib

from bot.hospitals import IMPLICIT, Hospital, Registry
from bot.settings import Settings
from workers.redis_client import connect_redis
from workers.services import Services

#: How long a worker leaves out a hospital that holds its share of the workers.
REST_SECONDS = 1.0
#: How long after its rest a hospital's return is still looked for (one dequeue's wait).
FOLLOW_SLACK = 5.0
#: How stale a process's view of the registry may be: a hospital added answers within this (plus a dequeue).
REFRESH_SECONDS = 2.0


def hospital_of_queue(queue_name: str) -> str:
    """``h:b:line`` -> ``b``; ``line`` -> the implicit hospital."""
    if queue_name.startswith("h:"):
        return queue_name.split(":", 2)[1]
    return IMPLICIT


def kind_of_queue(queue_name: str) -> str:
    """``h:b:line`` -> ``line``."""
    return queue_name.rsplit(":", 1)[-1]


class HospitalServices:
    def __init__(self, registry: Registry, *, redis_connection: redis_lib.Redis | None = None,
                 worker: bool = False, clock: Callable[[], float] = time.monotonic):
        self.registry = registry
        self._worker = worker
        self._clock = clock
        self._checked_at = clock()
        self._built: dict[str, tuple[Hospital, Services]] = {}
        if redis_connection is not None:
            self.__dict__["redis"] = redis_connection

    @classmethod
    def from_settings(cls, settings: Settings, **options) -> HospitalServices:
        return cls(Registry(settings, settings.hospitals_dir), **options)

    @cached_property
    def redis(self) -> redis_lib.Redis:
        """One connection pool for every hospital."""
        return connect_redis(self.registry.process, socket_timeout=None if self._worker else 5.0)

    def refresh(self, now: bool = False) -> bool:
        """Re-read the registry if it was read more than ``REFRESH_SECONDS`` ago (or ``now``)."""
        if not now and self._clock() - self._checked_at < REFRESH_SECONDS:
            return False
        self._checked_at = self._clock()
        return self.registry.refresh()

    def get(self, hospital_id: str) -> Services | None:
        """That hospital's services; None when it is unknown, disabled or its file is broken."""
        self.refresh()
        hospital = self.registry.get(hospital_id)
        if hospital is None:
            return None
        built = self._built.get(hospital_id)
        if built is None or built[0] is not hospital:  # new, or its file changed
            if built is not None and "verification" in built[1].__dict__:  # the old one's OTP threads end
                built[1].verification.turn_budget.wait_for_late_work(wait=False)
            built = (hospital, Services(hospital.settings, hospital=hospital, redis_connection=self.redis,
                                        worker=self._worker, other_prefixes=lambda: self.prefixes(besides=hospital_id)))
            self._built[hospital_id] = built
        return built[1]

    def for_queue(self, queue_name: str) -> Services:
        """The services of the hospital whose queue ``queue_name`` is (a job's ``origin``)."""
        hospital_id = hospital_of_queue(queue_name)
        services = self.get(hospital_id)
        if services is None:
            raise LookupError(f"hospital {hospital_id!r} is not in the registry, or its file is broken")
        return services

    def all(self) -> list[Services]:
        self.refresh()
        return [self.get(hospital.id) for hospital in self.registry.hospitals()]

    def prefixes(self, besides: str) -> list[str]:
        """Every served hospital's prefix but ``besides``'s (a hospital id)."""
        return [h.prefix for h in self.registry.hospitals() if h.id != besides]

    def queue_names(self, kinds) -> list[str]:
        """Every working hospital's queues of these kinds, kind by kind (priority), hospital by hospital."""
        hospitals = self.registry.hospitals()
        return [hospital.prefix + kind for kind in kinds for hospital in hospitals]


class HospitalTurns:
    """The queues a worker listens on, in order: kind by kind (priority: ``line`` before ``default``),
    and within a kind every hospital in turn, the one just served going last. So one hospital's backlog
    (a 50,000-row push) waits its turn behind another's next patient instead of ahead of it."""

    def __init__(self, hospitals: HospitalServices, kinds):
        self.hospitals = hospitals
        self.kinds = tuple(kinds)
        self._order: list[str] = []
        self._prefixes: dict[str, str] = {}
        self._resting: dict[str, float] = {}
        self._follow()

    def _follow(self) -> None:
        self._prefixes = {h.id: h.prefix for h in self.hospitals.registry.hospitals()}
        kept = [hid for hid in self._order if hid in self._prefixes]
        self._order = kept + sorted(set(self._prefixes) - set(kept))

    def names(self) -> list[str]:
        now = time.monotonic()
        serving = [hid for hid in self._order if self._resting.get(hid, 0) <= now]
        if not serving:  # none (or all resting): listen where the implicit hospital's jobs would be
            return list(self.kinds)
        return [self._prefixes[hid] + kind for kind in self.kinds for hid in serving]

    def resting(self) -> bool:
        """Whether a hospital was left out (its queues come back once its moment has passed)."""
        now = time.monotonic()
        self._resting = {hid: until for hid, until in self._resting.items() if until > now - FOLLOW_SLACK}
        return bool(self._resting)

    def rest(self, hospital_id: str, seconds: float = REST_SECONDS) -> None:
        """Leave out a hospital that holds its share of the workers (``workers.fair_share``) for a moment."""
        self._resting[hospital_id] = time.monotonic() + seconds

    def served(self, queue_name: str) -> None:
        """A job was taken from ``queue_name``: its hospital's turn goes to the back."""
        hospital_id = hospital_of_queue(queue_name)
        if hospital_id in self._order:
            self._order.remove(hospital_id)
            self._order.append(hospital_id)

    def refresh(self) -> bool:
        """Follow the registry (whoever read it last); True when the hospitals served changed."""
        self.hospitals.refresh()
        if {h.id: h.prefix for h in self.hospitals.registry.hospitals()} == self._prefixes:
            return False
        self._follow()
        return True
