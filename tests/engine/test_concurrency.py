"""Two writers at once: one wins, the other gets a clear conflict, and nothing is half-written."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from engine import clock
from engine.api import Engine
from engine.errors import Conflict, KmopError
from engine.services import ServiceContext, ServiceRegistry
from tests.conftest import make_engine


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same moment; return results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def runner(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc

    threads = [threading.Thread(target=runner, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _slow_after_review(ctx: ServiceContext) -> dict[str, Any]:
    """Hold the instance lock a while, so that the second completion really overlaps the first."""
    time.sleep(0.3)
    return {"registered": True}


@pytest.fixture
def slow_registry(registry: ServiceRegistry) -> ServiceRegistry:
    registry.register("notify_provider", lambda ctx, recipient: {"sent_to": recipient})
    registry.register("after_review", _slow_after_review)
    return registry


def test_two_concurrent_completions_one_wins(
    engine: Engine, slow_registry: ServiceRegistry, deploy: Any, db_url: str
) -> None:
    deploy("service_then_review.bpmn", "review-form.json")
    with engine.transaction() as session:
        inst = engine.start(session, "service_then_review", {"email": "a@b.be"}, business_key="C-1")
        task = engine.tasks(session, instance_id=inst.id)[0]
    other = make_engine(db_url, slow_registry)  # a second "process": its own connections

    def complete(eng: Engine, who: str, decision: str) -> Any:
        with eng.transaction() as session:
            return eng.complete(session, task.id, {"decision": decision}, actor=who)

    results = _race(lambda: complete(engine, "an", "approve"), lambda: complete(other, "bert", "reject"))
    other.close()
    conflicts = [r for r in results if isinstance(r, Conflict)]
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and len(conflicts) == 1, results
    assert "already completed" in conflicts[0].message
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
    assert detail.status == "completed"
    completions = [h for h in detail.history if h.event == "user_task_completed"]
    assert len(completions) == 1
    winner = completions[0].actor
    assert detail.data["decision"] == {"an": "approve", "bert": "reject"}[winner or ""]
    assert sum(1 for h in detail.history if h.element_id == "after" and h.event == "task_completed") == 1


def test_message_racing_a_timer_takes_exactly_one_path(engine: Engine, deploy: Any, db_url: str) -> None:
    deploy("deadline_race.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "deadline_race", business_key="R-1")
        engine.complete(session, engine.tasks(session, instance_id=inst.id)[0].id, {})
        due = engine.timers(session, instance_id=inst.id)[0].due_at
    sim = engine.clock
    assert isinstance(sim, clock.SimulatedClock)
    sim.set(due + timedelta(seconds=1))  # the timer is due, but nobody woke the instance yet
    other = make_engine(db_url)

    def send() -> Any:
        with other.transaction() as session:
            return other.message(session, "report_due", "R-1", {"score": "T"}, "race-1")

    results = _race(engine.fire_due, send)
    other.close()
    assert not any(isinstance(r, Exception) and not isinstance(r, KmopError) for r in results), results
    engine.fire_due()  # the next sweep: a refused message rolled back its catch-up while the first skipped
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
    assert detail.status == "completed"
    ends = {"end_received", "end_late"} & set(detail.completed_elements)
    assert len(ends) == 1, detail.completed_elements
    fired = sum(1 for h in detail.history if h.event == "timer_fired" and h.element_id == "wait_report")
    received = sum(1 for h in detail.history if h.event == "message_received")
    assert fired + received == 1
    assert ("end_received" in ends) == (received == 1) == ("score" in detail.data)
