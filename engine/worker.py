"""Run the timer worker: APScheduler wakes due instances; the database says what is due.

At start-up every overdue wake-up fires at once, in due order. Then a sweep runs every
``KMOP_WORKER_POLL_SECONDS`` (default 0.25 s), so a timer fires well within a second of its due time
under normal load. Several workers may run side by side on PostgreSQL: row locks with SKIP LOCKED keep
each instance with one of them.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from .api import Engine

log = logging.getLogger("kmop.worker")


class Worker:
    """Owns an APScheduler scheduler with one job: sweep the due wake-ups, then run the application's jobs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.fired = 0

    def sweep(self) -> None:
        try:
            self.fired += self.engine.fire_due()
        except Exception:  # a sweep that fails (database away) must not stop the scheduler
            log.exception("timer sweep failed; the next sweep tries again")
        self.engine.run_jobs()  # each job's failure is logged there; the next sweep tries it again

    def start(self) -> None:
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
