"""The monitor's counts come from the database and match the instances made: where they wait now, how long
they stayed (median and p90 on the simulated clock), age bands, timers due soon, starts per period and open
incidents grouped by element and error. On SQLite and PostgreSQL alike, and after a restart (every figure
is read from tables, none from memory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import clock
from engine.api import Engine
from engine.monitor import Scope
from engine.services import ServiceContext, ServiceRegistry
from tests.conftest import make_engine

ALL = Scope("service_then_review")


@pytest.fixture
def reviews(engine: Engine, registry: ServiceRegistry, deploy: Any) -> Engine:
    def notify(ctx: ServiceContext, recipient: str) -> dict[str, Any]:
        if recipient == "down@example.test":
            raise ConnectionError("mail server unreachable")
        return {"sent_to": recipient}

    registry.register("notify_provider", notify)
    registry.register("after_review", lambda ctx: {"ok": True})
    deploy("service_then_review.bpmn", "review-form.json", "one_timer.bpmn")
    return engine


def _advance(engine: Engine, by: timedelta) -> None:
    engine.advance_clock(clock.now() + by)


def _review(engine: Engine, instance_id: int) -> None:
    with engine.transaction() as session:
        (task,) = [t for t in engine.tasks(session, instance_id=instance_id) if t.status == "ready"]
        engine.complete(session, task.id, {"decision": "approve"}, actor="tester")


def test_waits_stays_and_bands_are_counted_from_the_tables(reviews: Engine, db_url: str) -> None:
    engine = reviews
    started = clock.now()
    ids = []
    for n in range(5):
        with engine.transaction() as session:
            ids.append(engine.start(session, "service_then_review", {"email": f"p{n}@example.test"}).id)
        _advance(engine, timedelta(days=7))  # instance n started 7 * (4 - n) days before the last
    with engine.transaction() as session:
        assert engine.waiting_now(session, ALL) == {"review": 5}
        assert engine.status_counts(session, ALL) == {"waiting": 5}
        # ages now: 35, 28, 21, 14 and 7 days; bands < 4 weeks, 4-6 weeks, > 6 weeks
        edges = (timedelta(weeks=4), timedelta(weeks=6))
        assert engine.age_bands(session, ALL, ["review"], edges, clock.now()) == [3, 2, 0]
    # Reviews done after 35, 28 and 21 days: median 28 days, p90 35 days.
    for instance_id in ids[:3]:
        _review(engine, instance_id)

    restarted = make_engine(db_url, engine.registry)  # nothing kept in memory counts
    try:
        with restarted.transaction() as session:
            assert restarted.waiting_now(session, ALL) == {"review": 2}
            assert restarted.status_counts(session, ALL) == {"waiting": 2, "completed": 3}
            spread = restarted.stay_spread(session, ALL, since=started)["review"]
            assert (spread.median, spread.p90, spread.count) == (28 * 86400, 35 * 86400, 3)
            assert restarted.stay_spread(session, ALL, since=clock.now() + timedelta(seconds=1)) == {}
            # the instances started a week apart: one week per period, the last one still open
            weeks = [started + timedelta(days=7 * n) for n in range(6)]
            assert restarted.started_by_period(session, ALL, weeks) == [1, 1, 1, 1, 1]
            assert restarted.started_by_period(session, ALL, [weeks[1], weeks[3]]) == [2]
            # the three ended (reviewed) at the end, all in the last week: the time they took
            ended = restarted.duration_by_period(
                session, ALL, [weeks[0], weeks[4], clock.now() + timedelta(1)]
            )
            assert ended[0] is None and ended[1] is not None
            assert (ended[1].count, ended[1].median, ended[1].p90) == (3, 28 * 86400, 35 * 86400)
            assert restarted.waiting_now(session, Scope("service_then_review", version=1)) == {"review": 2}
            assert restarted.waiting_now(session, Scope("service_then_review", version=9)) == {}
    finally:
        restarted.close()


def test_timers_due_within_each_horizon(reviews: Engine) -> None:
    engine = reviews
    for wait in ("P10D", "P40D", "P200D", "P400D"):
        with engine.transaction() as session:
            engine.start(session, "one_timer", {"wait_for": wait})
    horizons = (timedelta(days=30), timedelta(days=90), timedelta(days=365))
    with engine.transaction() as session:
        due = engine.timers_due(
            session, Scope("one_timer"), [("wait", "wait"), ("x", "wait")], clock.now(), horizons
        )
        assert due == {("wait", "wait"): [1, 2, 3], ("x", "wait"): [0, 0, 0]}
        assert engine.waiting_now(session, Scope("one_timer")) == {"wait": 4}
    _advance(engine, timedelta(days=11))
    engine.fire_due()
    with engine.transaction() as session:
        assert engine.waiting_now(session, Scope("one_timer")) == {"wait": 3}
        spread = engine.stay_spread(session, Scope("one_timer"), since=clock.now() - timedelta(days=1))
    # the timer fired at its due moment on the simulated clock: the wait lasted its 10 days
    assert spread["wait"].count == 1 and spread["wait"].median == pytest.approx(10 * 86400, abs=1)


def test_incidents_are_grouped_by_element_and_error(reviews: Engine) -> None:
    engine = reviews
    for n in range(3):
        with engine.transaction() as session:
            engine.start(
                session, "service_then_review", {"email": "down@example.test"}, business_key=f"D-{n}"
            )
    for _ in range(4):  # past every automatic retry
        _advance(engine, timedelta(minutes=10))
        engine.fire_due()
    with engine.transaction() as session:
        (group,) = engine.incident_groups(session, ALL)
        assert engine.status_counts(session, ALL) == {"error": 3}
        assert engine.incident_groups(session, Scope("one_timer")) == []
    assert (group.element_id, group.error_type, group.count) == ("notify", "ConnectionError", 3)
    assert len(group.incidents) == 3 and "unreachable" in group.example
    assert group.first_at <= group.last_at and group.first_at.tzinfo is not None
    assert datetime(2000, 1, 1, tzinfo=UTC) < group.first_at
