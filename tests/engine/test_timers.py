"""Timers: the database is the source of truth; overdue timers fire at start-up in due order, once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.api import Engine
from engine.models import HistoryEntry, ProcessInstance, WakeUp
from engine.worker import Worker
from tests.conftest import make_engine


def _sim(engine: Engine) -> clock.SimulatedClock:
    assert isinstance(engine.clock, clock.SimulatedClock)
    return engine.clock


def test_overdue_timers_fire_at_start_up_in_due_order(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    # Started in the order 1, 2, 3 but due in the order 3, 1, 2.
    waits = {"K1": "PT2H", "K2": "PT3H", "K3": "PT1H"}
    ids = {}
    for key, wait in waits.items():
        with engine.transaction() as session:
            ids[key] = engine.start(session, "one_timer", {"wait_for": wait}, business_key=key).id
    _sim(engine).set(clock.now() + timedelta(days=2))  # the worker was down meanwhile: nothing fired

    with engine.transaction() as session:
        assert session.scalar(select(func.count(WakeUp.id))) == 3
    worker = Worker(engine)
    worker.start()  # the first sweep runs before start() returns
    worker.stop()

    with engine.transaction() as session:
        fired = session.scalars(
            select(HistoryEntry).where(HistoryEntry.event == "timer_fired").order_by(HistoryEntry.id)
        ).all()
        statuses = set(session.scalars(select(ProcessInstance.status)))
    assert [h.instance_id for h in fired] == [ids["K3"], ids["K1"], ids["K2"]]
    assert statuses == {"completed"}
    assert all(h.detail["late_seconds"] > 0 for h in fired)  # they report how late they were


def test_a_timer_fires_exactly_once_however_often_the_sweep_runs(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "one_timer", {"wait_for": "PT1H"})
    _sim(engine).set(clock.now() + timedelta(minutes=59, seconds=59))
    assert engine.fire_due() == 0
    _sim(engine).set(clock.now() + timedelta(seconds=1))
    assert [engine.fire_due() for _ in range(3)] == [1, 0, 0]
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
    assert detail.status == "completed"
    assert [h.event for h in detail.history].count("timer_fired") == 1


def test_a_suspended_instance_is_not_woken(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "one_timer", {"wait_for": "PT1H"})
        engine.set_suspended(session, inst.id, True, actor="ops")
    engine.advance_clock(clock.now() + timedelta(hours=2))
    with engine.transaction() as session:
        assert engine.show(session, inst.id).status == "suspended"
        engine.set_suspended(session, inst.id, False, actor="ops")
    engine.fire_due()
    with engine.transaction() as session:
        assert engine.show(session, inst.id).status == "completed"


def test_timer_expression_from_data_that_is_invalid_becomes_an_incident(engine: Engine, deploy: Any) -> None:
    deploy("one_timer.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "one_timer", {"wait_for": "six weeks"})
        incidents = engine.incidents(session, instance_id=inst.id)
    assert inst.status == "error" and len(incidents) == 1 and incidents[0].element_id == "wait"


@pytest.mark.postgres
@pytest.mark.processes
def test_two_worker_processes_fire_1000_timers_exactly_once(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.transaction() as session:
        from engine.specs import read_sources
        from tests.conftest import DATA

        engine.deploy_sources(session, read_sources([DATA / "one_timer.bpmn"]))
    for batch in range(10):
        with engine.transaction() as session:
            for n in range(100):
                engine.start(session, "one_timer", {"wait_for": "PT1H"}, business_key=f"T{batch}-{n}")
    _sim(engine).set(clock.now() + timedelta(hours=2))
    env = {**os.environ, "KMOP_DATABASE_URL": pg_url, "KMOP_CLOCK": "simulated"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "web", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # polls the database for the outcome; no timer is waited on
            with engine.transaction() as session:
                left = session.scalar(select(func.count(WakeUp.id)))
            if left == 0:
                break
            time.sleep(0.5)
    finally:
        for w in workers:
            w.terminate()
        errors = [w.communicate(timeout=30)[1].decode() for w in workers]
    with engine.transaction() as session:
        per_instance = session.execute(
            select(HistoryEntry.instance_id, func.count(HistoryEntry.id))
            .where(HistoryEntry.event == "timer_fired")
            .group_by(HistoryEntry.instance_id)
        ).all()
        actors = set(session.scalars(select(HistoryEntry.actor).where(HistoryEntry.event == "timer_fired")))
        completed = session.scalar(select(func.count()).where(ProcessInstance.status == "completed"))
    engine.close()
    assert len(per_instance) == 1000, errors
    assert {count for _, count in per_instance} == {1}
    assert completed == 1000
    assert len(actors) == 2, f"both workers should have taken a share: {actors}"


def test_times_with_an_offset_are_stored_as_the_same_instant(engine: Engine) -> None:
    from zoneinfo import ZoneInfo

    later = (clock.now() + timedelta(days=400)).astimezone(ZoneInfo("Europe/Brussels"))
    _sim(engine).set(later)
    assert clock.active().now() == later
    assert clock.active().now().astimezone(UTC).hour == later.astimezone(UTC).hour
