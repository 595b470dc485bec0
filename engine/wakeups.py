"""Tell timer workers at once when a transaction wrote a wake-up, so that none waits for its next sweep.

A worker sleeps until the earliest wake-up it knows of. A run that writes an earlier one (a timer due in
a second, a retry after a short back-off) says so:

- in this process, the listeners added with ``Announcer.listen`` are called after the commit (never for
  a transaction that rolled back);
- across processes on PostgreSQL, the transaction sends ``NOTIFY kmop_wake``: PostgreSQL delivers it to
  every listening worker when the transaction commits, and drops it when it rolls back.

Wake-ups due later than ``horizon`` after the run say nothing: a worker's safety sweep finds them long
before they fall due. The sweep stays the safety net for what a notification cannot reach (another
process on SQLite, a worker that was reconnecting).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from . import clock
from .models import WakeUp

log = logging.getLogger("kmop.wakeups")

CHANNEL = "kmop_wake"
_NOTIFIED = "kmop_wake_notified"  # session.info: this transaction already sent its NOTIFY
_EARLIEST = "kmop_wake_earliest"  # session.info: the earliest near wake-up written in this transaction


class Announcer:
    """Watch the sessions of one engine for wake-ups written, and pass the word on."""

    def __init__(self, sessions: sessionmaker[Session], horizon: timedelta = timedelta(minutes=5)) -> None:
        self.horizon = horizon
        self._listeners: list[Callable[[datetime], None]] = []
        self._lock = threading.Lock()
        event.listen(sessions, "after_flush", self._after_flush)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_rollback", self._forget)

    def listen(self, listener: Callable[[datetime], None]) -> Callable[[], None]:
        """Call ``listener(due)`` after each commit in this process that wrote a wake-up due within the
        horizon; return a function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def _after_flush(self, session: Session, _context: Any) -> None:
        written = [
            obj.due_at
            for obj in (*session.new, *session.dirty)
            if isinstance(obj, WakeUp) and obj.due_at is not None
        ]
        if not written:
            return
        earliest = min(_aware(d) for d in written)
        if earliest > clock.now() + self.horizon:
            return
        known = session.info.get(_EARLIEST)
        session.info[_EARLIEST] = earliest if known is None else min(known, earliest)
        if not session.info.get(_NOTIFIED) and session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {CHANNEL}"))
            session.info[_NOTIFIED] = True

    def _after_commit(self, session: Session) -> None:
        earliest = session.info.pop(_EARLIEST, None)
        session.info.pop(_NOTIFIED, None)
        if earliest is None:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(earliest)
            except Exception:  # a listener's trouble is not the committing caller's
                log.exception("wake-up listener failed")

    @staticmethod
    def _forget(session: Session) -> None:
        session.info.pop(_EARLIEST, None)
        session.info.pop(_NOTIFIED, None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
