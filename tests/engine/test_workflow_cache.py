"""Workflows kept in memory between steps are used only when nothing else changed the case meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api import Engine
from engine.services import ServiceRegistry
from tests.conftest import make_engine


def _start(engine: Engine, key: str) -> int:
    with engine.transaction() as session:
        return engine.start(session, "deadline_race", {"applicant": "Acme"}, business_key=key).id


def _task(engine: Engine, instance_id: int) -> str:
    with engine.transaction(write=False) as session:
        return engine.tasks(session, instance_id=instance_id)[0].id


def test_the_next_step_uses_the_kept_workflow(engine: Engine, deploy: Any) -> None:
    if engine.settings.replay:
        pytest.skip("replay mode keeps nothing")
    deploy("deadline_race.bpmn")
    instance = _start(engine, "K-1")
    hits = engine.runtime.workflows.hits
    with engine.transaction() as session:
        engine.complete(session, _task(engine, instance), {"remark": "ok"})
        engine.message(session, "report_due", "K-1", {"score": "T"})  # the same transaction: kept too
    assert engine.runtime.workflows.hits == hits + 2
    with engine.transaction() as session:
        detail = engine.show(session, instance)
    assert detail.status == "completed" and detail.data["score"] == "T"


def test_a_step_taken_by_another_process_makes_the_kept_workflow_stale(
    engine: Engine, deploy: Any, db_url: str, registry: ServiceRegistry
) -> None:
    if engine.settings.replay:
        pytest.skip("replay mode keeps nothing")
    deploy("deadline_race.bpmn")
    instance = _start(engine, "K-2")
    other = make_engine(db_url, registry)
    with other.transaction() as session:
        other.complete(session, _task(other, instance), {"remark": "elders"})
    other.close()
    misses = engine.runtime.workflows.misses
    with engine.transaction() as session:
        result = engine.message(session, "report_due", "K-2", {"score": "G"})
        detail = engine.show(session, instance)
    assert engine.runtime.workflows.misses == misses + 1
    assert result.status == "delivered"
    assert detail.status == "completed" and detail.data["remark"] == "elders"


class Boom(Exception):
    pass


def test_a_rolled_back_step_is_not_kept(engine: Engine, deploy: Any) -> None:
    deploy("deadline_race.bpmn")
    instance = _start(engine, "K-3")
    task = _task(engine, instance)
    with pytest.raises(Boom), engine.transaction() as session:
        engine.complete(session, task, {"remark": "lost"})
        raise Boom
    with engine.transaction() as session:
        assert [t.id for t in engine.tasks(session, instance_id=instance)] == [task]
        engine.complete(session, task, {"remark": "kept"})
        detail = engine.show(session, instance)
    assert detail.data["remark"] == "kept"


def test_a_step_in_a_rolled_back_savepoint_is_not_kept(
    engine: Engine, deploy: Any, db_url: str, registry: ServiceRegistry
) -> None:
    """The undone step would have the same lock version as the next real one, taken by another process."""
    deploy("deadline_race.bpmn")
    instance = _start(engine, "K-4")
    task = _task(engine, instance)
    with engine.transaction() as session:
        savepoint = session.begin_nested()
        engine.complete(session, task, {"remark": "undone"})
        savepoint.rollback()
    other = make_engine(db_url, registry)
    with other.transaction() as session:
        other.complete(session, task, {"remark": "done elsewhere"})
    other.close()
    with engine.transaction() as session:
        engine.message(session, "report_due", "K-4", {"score": "T"})
        detail = engine.show(session, instance)
    assert detail.status == "completed" and detail.data["remark"] == "done elsewhere"
