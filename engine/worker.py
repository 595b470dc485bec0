"""Run the timer worker: sleep until the next wake-up falls due, wake the instances, sleep again.

At start-up every overdue wake-up fires at once, in due order. Then the worker's timer thread sleeps
until the earliest wake-up in the database, but never longer than ``KMOP_WORKER_POLL_SECONDS`` (default
0.25 s): that bound is the safety sweep, for what nobody announced. It is woken early when a transaction
writes an earlier wake-up: in this process by the engine's ``Announcer`` (``engine.wakeups``), from other
processes on PostgreSQL by ``NOTIFY kmop_wake`` (a connection of the worker's own listens). So a timer
fires a few milliseconds after it falls due, whoever wrote it. On the simulated clock, which moves only
when it is set, the worker sweeps every poll interval.

Several workers may run side by side on PostgreSQL: each claims an instance under its row lock with SKIP
LOCKED, and one already woken by another is passed over without being loaded (``engine.timers``).

The application's jobs (``ServiceRegistry.register_job``: the outbox) run in the timer thread at most
once per poll interval. The heartbeat (table ``worker_heartbeat``, name ``host:pid``, on kmop's clock) is
an APScheduler job of its own, every ``KMOP_HEARTBEAT_SECONDS`` of real time, so that a long burst of
timers never makes the worker look dead to ``/readyz``; a heartbeat that cannot be written is logged and
the worker goes on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from . import clock, timers, wakeups
from .api import Engine

log = logging.getLogger("kmop.worker")


class Worker:
    """A timer thread that sleeps until the next due wake-up, a listener that wakes it early, and an
    APScheduler scheduler for the heartbeat."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.fired = 0
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._last_beat: float | None = None  # time.monotonic() of the last heartbeat written
        self._last_jobs: float | None = None  # time.monotonic() of the last run of the application's jobs
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unlisten: Any = None
        self.sweeps = 0  # rounds of the timer thread
        self.idle = threading.Event()  # the timer thread sleeps, nothing pending
        self.listening = threading.Event()  # PostgreSQL: the worker's LISTEN connection is up

    # ------------------------------------------------------------------------------- one sweep

    def sweep(self) -> None:
        """Fire what is due, run the application's jobs and write the heartbeat (if it is time)."""
        self._fire()
        self._jobs(force=True)
        self.beat()

    def _fire(self) -> None:
        try:
            self.fired += self.engine.fire_due()
        except Exception:  # a sweep that fails (database away) must not stop the worker
            log.exception("timer sweep failed; the next sweep tries again")

    def _jobs(self, force: bool = False) -> None:
        started = time.monotonic()
        last = self._last_jobs
        if not force and last is not None and started - last < self.engine.settings.worker_poll_seconds:
            return
        self._last_jobs = started
        self.engine.run_jobs()  # each job's failure is logged there; the next sweep tries it again

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

    # ------------------------------------------------------------------------------- the timer thread

    def poke(self, _due: datetime | None = None) -> None:
        """Look at the wake-ups again now (an earlier one was written)."""
        self._wake.set()

    def pause(self) -> float:
        """Seconds to sleep: until the earliest wake-up, at most the poll interval (the safety sweep)."""
        poll = self.engine.settings.worker_poll_seconds
        if self.engine.clock.simulated:
            return poll  # the simulated clock moves only when set: nothing to sleep until
        try:
            with self.engine.transaction(write=False) as session:
                due = timers.next_due(session)
        except Exception:
            log.exception("could not read the next wake-up; sweeping again in %ss", poll)
            return poll
        if due is None:
            return poll
        return max(0.0, min(poll, (due - clock.now()).total_seconds()))

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self._fire()
            self._jobs()
            self.sweeps += 1
            if self._stopping.is_set():
                break
            pause = self.pause()
            if not self._wake.is_set():
                self.idle.set()
            self._wake.wait(pause)
            self.idle.clear()

    def _listen(self) -> None:
        """On PostgreSQL: LISTEN kmop_wake on a connection of its own and poke the timer thread on each
        notification; reconnect after a failure (the sweep covers the gap)."""
        import psycopg

        dsn = self.engine.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {wakeups.CHANNEL}")
                    self._wake.set()  # what was written while nobody listened: look now
                    self.listening.set()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake.set()
            except Exception:
                self.listening.clear()
                if self._stopping.is_set():
                    return
                log.warning(
                    "worker %s: listening for wake-ups failed; again in 1 s",
                    self.name,
                    exc_info=True,
                )
                self._stopping.wait(1.0)

    # ------------------------------------------------------------------------------- life cycle

    def start(self) -> None:
        self.beat(force=True)  # alive before the overdue timers, however long they take
        self.sweep()  # overdue timers first, before anything else is scheduled
        self._stopping.clear()
        self._unlisten = self.engine.wakeups.listen(self.poke)
        self._threads = [threading.Thread(target=self._run, name="kmop-timers", daemon=True)]
        if self.engine.db.dialect.name == "postgresql":
            self._threads.append(threading.Thread(target=self._listen, name="kmop-listen", daemon=True))
        for thread in self._threads:
            thread.start()
        self.scheduler.add_job(
            self.beat,
            "interval",
            seconds=self.engine.settings.heartbeat_seconds,
            kwargs={"force": True},
            id="kmop-heartbeat",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for thread in self._threads:
            if thread.ident is not None:  # a stop that comes while start() is still under way
                thread.join(timeout=30)
        self._threads = []
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
    log.info(
        "kmop worker running (sleeps until the next wake-up, sweeps at least every %ss); stop with Ctrl-C",
        engine.settings.worker_poll_seconds,
    )
    done.wait()
    worker.stop()
