"""A worker hears of a near wake-up at once: in-process after the commit, across processes by NOTIFY on
PostgreSQL, never for a transaction that rolled back; it sleeps until the next wake-up, at most the poll
interval; two workers never both load an instance that one of them already woke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from engine import clock, timers
from engine.api import Engine
from engine.models import HistoryEntry, WakeUp
from engine.worker import Worker
from tests.conftest import make_engine


class _Boom(Exception):
    pass


def test_a_near_wake_up_reaches_the_listeners_after_the_commit(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    heard: list[datetime] = []
    stop = engine.wakeups.listen(heard.append)
    with engine.transaction() as session:
        engine.start(session, "one_timer", {"wait_for": "PT1M"})
        assert heard == []  # not before the commit: another process could not see the row yet
    assert heard == [clock.now() + timedelta(minutes=1)]

    with pytest.raises(_Boom), engine.transaction() as session:
        engine.start(session, "one_timer", {"wait_for": "PT2M"})
        raise _Boom
    with engine.transaction() as session:
        engine.start(session, "one_timer", {"wait_for": "P30D"})  # the sweep finds it long before
    assert len(heard) == 1

    stop()
    with engine.transaction() as session:
        engine.start(session, "one_timer", {"wait_for": "PT1M"})
    assert len(heard) == 1


@pytest.mark.postgres
def test_postgres_tells_other_processes_at_the_commit(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        with engine.transaction() as session:
            engine.deploy(session, [_data("one_timer.bpmn")])
        dsn = engine.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as listener:
            listener.execute("LISTEN kmop_wake")
            with pytest.raises(_Boom), engine.transaction() as session:
                engine.start(session, "one_timer", {"wait_for": "PT1M"})
                raise _Boom
            with engine.transaction() as session:
                engine.start(session, "one_timer", {"wait_for": "PT1M"})
            heard = list(listener.notifies(timeout=10, stop_after=1))
            assert [n.channel for n in heard] == ["kmop_wake"]
            assert list(listener.notifies(timeout=0.2)) == []  # the rolled-back one said nothing
    finally:
        engine.close()


class _FixedClock:
    simulated = False

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def test_the_worker_sleeps_until_the_next_wake_up_at_most_the_poll(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    at = datetime(2027, 3, 5, 9, 0, tzinfo=UTC)
    fixed = _FixedClock(at)
    worker = Worker(engine)
    engine.clock = fixed  # as a worker on the system clock sees it
    with clock.using(fixed):
        assert worker.pause() == engine.settings.worker_poll_seconds  # nothing waits: the safety sweep
        with engine.transaction() as session:
            engine.start(session, "one_timer", {"wait_for": "PT0.1S"})
        assert worker.pause() == pytest.approx(0.1)
        fixed.at = at + timedelta(seconds=1)
        assert worker.pause() == 0.0  # overdue: no sleep at all
        with engine.transaction() as session:
            engine.start(session, "one_timer", {"wait_for": "PT1H"})
            session.execute(WakeUp.__table__.delete().where(WakeUp.due_at <= fixed.at))
        assert worker.pause() == engine.settings.worker_poll_seconds  # an hour away: sweep meanwhile


def test_an_instance_woken_by_another_worker_is_passed_over_unloaded(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "one_timer", {"wait_for": "PT1H"})
    engine.clock.set(clock.now() + timedelta(hours=2))  # type: ignore[attr-defined]
    now = clock.now()
    with engine.transaction() as session:
        assert timers.due_instances(session, now, 10) == [inst.id]  # what both workers read
    with engine.transaction() as session:  # the first worker wakes it
        assert timers.wake(engine.runtime, session, inst.id)
    with engine.transaction() as session:  # the second comes to it with the same list: nothing to do
        assert not timers.claim(session, inst.id, now)
        assert not timers.wake(engine.runtime, session, inst.id)
    with engine.transaction() as session:
        fired = session.scalar(select(func.count(HistoryEntry.id)).where(HistoryEntry.event == "timer_fired"))
    assert fired == 1


def _data(name: str) -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent / "data" / name


def test_a_broken_instance_in_a_lot_holds_up_no_other(engine: Engine, deploy: Any) -> None:
    from sqlalchemy import update

    from engine.models import ProcessInstance

    deploy("one_timer.bpmn")
    with engine.transaction() as session:
        ids = [engine.start(session, "one_timer", {"wait_for": "PT1H"}).id for _ in range(3)]
    with engine.transaction() as session:  # the middle one cannot be loaded any more
        session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == ids[1])
            .values(skeleton='{"broken": true}', lock_version=ProcessInstance.lock_version + 1)
        )
    engine.clock.set(clock.now() + timedelta(hours=2))  # type: ignore[attr-defined]
    assert engine.settings.worker_claim >= 3  # all three are claimed as one lot
    assert engine.fire_due() == 2
    with engine.transaction() as session:
        statuses = [session.get(ProcessInstance, i).status for i in ids]  # type: ignore[union-attr]
        fired = session.scalars(
            select(HistoryEntry.instance_id).where(HistoryEntry.event == "timer_fired")
        ).all()
    assert statuses == ["completed", "waiting", "completed"]
    assert sorted(fired) == [ids[0], ids[2]]  # each once; the broken one untouched


@pytest.mark.postgres
def test_a_sleeping_worker_is_woken_by_a_commit_in_another_process(pg_url: str) -> None:
    """Two engines on one database are two processes as far as the worker can tell: the in-process word
    does not pass between them, only PostgreSQL's NOTIFY does. The worker sleeps a whole minute unless
    woken."""
    import time

    worker_engine = make_engine(pg_url, worker_poll_seconds=60.0)
    other = make_engine(pg_url)
    worker = Worker(worker_engine)
    try:
        with other.transaction() as session:
            other.deploy(session, [_data("one_timer.bpmn")])
        worker.start()
        assert worker.listening.wait(30)
        deadline = time.monotonic() + 30
        while not worker.idle.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.idle.is_set()
        asleep = worker.sweeps
        with other.transaction() as session:
            other.start(session, "one_timer", {"wait_for": "PT1M"})
        while worker.sweeps == asleep and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.sweeps > asleep  # woken long before its minute was up
    finally:
        worker.stop()
        worker_engine.close()
        other.close()
