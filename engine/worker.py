"""Run the timer worker: APScheduler wakes due instances; the database says what is due.

At start-up every overdue wake-up fires at once, in due order. Then a sweep runs every
``KMOP_WORKER_POLL_SECONDS`` (default 0.25 s), so a timer fires well within a second of its due time
under normal load. Several workers may run side by side on PostgreSQL: row locks with SKIP LOCKED keep
each instance with one of them.

A worker writes its heartbeat (table ``worker_heartbeat``, name ``host:pid``, on kmop's clock) when it
starts and then every ``KMOP_HEARTBEAT_SECONDS`` of real time, each in a short transaction of its own;
``/readyz`` reads it. A heartbeat that cannot be written is logged and the worker goes on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from . import clock
from .api import Engine

log = logging.getLogger("kmop.worker")


class Worker:
    """Owns an APScheduler scheduler with one job: sweep the due wake-ups, then run the application's jobs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.fired = 0
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._last_beat: float | None = None  # time.monotonic() of the last heartbeat written

    def sweep(self) -> None:
        try:
            self.fired += self.engine.fire_due()
        except Exception:  # a sweep that fails (database away) must not stop the scheduler
            log.exception("timer sweep failed; the next sweep tries again")
        self.engine.run_jobs()  # each job's failure is logged there; the next sweep tries it again
        self.beat()

    def beat(self, force: bool = False) -> None:
        """Write the heartbeat, at most every ``heartbeat_seconds`` (real time) unless ``force``."""
        started = time.monotonic()
        due = self._last_beat is None or started - self._last_beat >= self.engine.settings.heartbeat_seconds
        if not (force or due):
            return
        self._last_beat = started  # also after a failure: the next try waits its turn
        try:
            with self.engine.transaction(write=True) as session:
                self.engine.beat(session, self.name, clock.now(), fired=self.fired)
        except Exception:  # the database away: logged, the worker goes on and beats again later
            log.exception("heartbeat of worker %s not written; the worker goes on", self.name)

    def start(self) -> None:
        self.beat(force=True)  # alive before the overdue timers, however long they take
        self.sweep()  # overdue timers first, before anything else is scheduled
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.engine.settings.worker_poll_seconds,
            id="kmop-sweep",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)


def run_forever(engine: Engine) -> None:
    """Run the worker in the foreground until SIGINT or SIGTERM."""
    worker = Worker(engine)
    done = threading.Event()

    def _stop(*_: Any) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    worker.start()
    log.info("kmop worker running (poll every %ss); stop with Ctrl-C", engine.settings.worker_poll_seconds)
    done.wait()
    worker.stop()
