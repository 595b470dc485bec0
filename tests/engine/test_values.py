"""Large task data stored once per instance (``engine.values``): a data-heavy multi-instance reloads with
the same data at every step, and what it stores grows with the number of items, not with its square."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from engine import runner, state
from engine.api import Engine
from engine.models import HistoryEntry, InstanceTaskState, ProcessInstance
from engine.run import Run, load
from engine.services import ServiceRegistry
from tests.conftest import make_engine, plant_state

BENCH_DIAGRAM = Path(__file__).resolve().parents[2] / "bench" / "data" / "mi_data_heavy.bpmn"


def _snapshot(wf: Any) -> str:
    """Every task's data and every workflow's data, as text that does not depend on key order."""
    tasks = {str(t.id): t.data for t in wf.tasks.values()}
    workflows = {"": wf.data}
    for key, sp in wf.subprocesses.items():
        tasks.update({str(t.id): t.data for t in sp.tasks.values()})
        workflows[str(key)] = sp.data
    return json.dumps({"tasks": tasks, "workflows": workflows}, sort_keys=True, default=repr)


def _as_run_left_it(engine: Engine, instance_id: int) -> Any:
    """The workflow in memory at the end of a run (a run that changes nothing)."""
    runs: list[Run] = []
    with engine.transaction() as session:
        runner.execute(engine.runtime, session, instance_id, runs.append)
    return runs[0].wf


def _complete_next(engine: Engine, instance_id: int, verdict: str) -> None:
    """Complete the instance's first open review task with ``verdict``."""
    with engine.transaction() as session:
        task = engine.tasks(session, instance_id=instance_id)[0]
        engine.complete(session, task.id, {"verdict": verdict})


def _reloaded(db_url: str, registry: ServiceRegistry, instance_id: int) -> Any:
    """The workflow as a new process loads it from the database."""
    fresh = make_engine(db_url, registry, replay=False)
    try:
        with fresh.transaction() as session:
            inst = session.get(ProcessInstance, instance_id)
            assert inst is not None
            return load(fresh.runtime, session, inst)[0]
    finally:
        fresh.close()


def test_a_data_heavy_multi_instance_reloads_with_the_same_data_at_every_step(
    engine: Engine, deploy: Any, db_url: str, registry: ServiceRegistry
) -> None:
    deploy("mi_data_review.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "mi_data_review", {"count": 5})
    for i in range(5):
        _complete_next(engine, inst.id, f"fine {i}")
        if i < 4:  # still waiting: its state is rows of tasks and of values
            assert _snapshot(_reloaded(db_url, registry, inst.id)) == _snapshot(
                _as_run_left_it(engine, inst.id)
            )
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
        of_instance = InstanceTaskState.instance_id == inst.id
        leftover = session.scalar(select(func.count()).select_from(InstanceTaskState).where(of_instance))
    assert detail.status == "completed" and detail.data["checked"] == 5
    assert leftover == 0  # a completed instance is one document, its values in it
    done = _reloaded(db_url, registry, inst.id)
    enriched = done.data["data_objects"]["enriched"]
    assert [item["number"] for item in enriched] == [0, 1, 2, 3, 4]
    assert all(item["status"] == 1 and isinstance(item["stamp"], datetime) for item in enriched)
    assert enriched[3]["checked"] == "item 3 checked and found in order"
    assert len(done.data["data_objects"]["items"]) == 5


def _stored_bytes(session: Session, instance_id: int) -> int:
    def total(column: Any, where: Any) -> int:
        return int(session.scalar(select(func.coalesce(func.sum(func.length(column)), 0)).where(where)) or 0)

    return (
        total(ProcessInstance.skeleton, ProcessInstance.id == instance_id)
        + total(InstanceTaskState.body, InstanceTaskState.instance_id == instance_id)
        + total(cast(HistoryEntry.detail, Text), HistoryEntry.instance_id == instance_id)
    )


def test_stored_bytes_grow_with_the_number_of_items_not_its_square(engine: Engine, deploy: Any) -> None:
    deploy(str(BENCH_DIAGRAM))
    stored = {}
    for items in (20, 40, 80):
        with engine.transaction() as session:
            inst = engine.start(session, "mi_data_heavy", {"count": items})
        with engine.transaction() as session:
            assert engine.show(session, inst.id).data["checked"] == items
            stored[items] = _stored_bytes(session, inst.id)
    assert stored[40] <= 2.2 * stored[20], stored
    assert stored[80] <= 2.2 * stored[40], stored
    assert stored[80] < 80 * 10_000, stored  # about 6 KB an item (each item's list was 5 MB at 300 items)


def test_a_waiting_instance_keeps_each_large_value_once(engine: Engine, deploy: Any) -> None:
    deploy("mi_data_review.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "mi_data_review", {"count": 30})
    for _ in range(3):
        _complete_next(engine, inst.id, "fine")
    with engine.transaction() as session:
        rows = session.execute(
            select(InstanceTaskState.scope, InstanceTaskState.body).where(
                InstanceTaskState.instance_id == inst.id
            )
        ).all()
    values = [body for scope, body in rows if scope == state.VALUE_SCOPE]
    tasks = [body for scope, body in rows if scope != state.VALUE_SCOPE]
    items_list = next(v for v in values if v.count('"number"') == 30)  # the 30 items, stored once
    assert sum(v.count('"number"') for v in values) < 30 + 10  # + the few items enriched so far
    assert sum(body.count('"number"') for body in tasks) <= 3 * 4, [b.count('"number"') for b in tasks]
    assert len(items_list) < 12_000


def test_state_saved_in_format_2_still_loads(engine: Engine, deploy: Any) -> None:
    """A waiting instance saved in format 2 (values by reference) is kept as a file; later kmops load it."""
    deploy("mi_data_review.bpmn")
    saved = json.loads((Path(__file__).parent / "data" / "state_format_2.json").read_text())
    with engine.transaction() as session:
        inst = engine.start(session, "mi_data_review", {"count": 4}, business_key="OLD-2")
        plant_state(session, inst.id, saved)
    with engine.transaction() as session:  # the projections were made for the fresh instance
        runner.execute(engine.runtime, session, inst.id, lambda run: None)
    for i in range(1, 4):
        _complete_next(engine, inst.id, f"fine {i}")
    with engine.transaction() as session:
        detail = engine.show(session, inst.id)
    assert detail.status == "completed" and detail.data["checked"] == 4


def _containers(value: Any) -> list[Any]:
    """``value`` and every list and dict inside it."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def test_a_load_gives_each_task_its_own_copy_of_a_shared_value(
    engine: Engine, deploy: Any, db_url: str, registry: ServiceRegistry
) -> None:
    """A value stored once is restored once per load, then copied for each task that refers to it in
    full: no two such tasks hold the same list or dict, and each holds what the run left."""
    deploy("mi_data_review.bpmn")
    with engine.transaction() as session:
        inst = engine.start(session, "mi_data_review", {"count": 4})
    for i in range(2):
        _complete_next(engine, inst.id, f"fine {i}")
    wf = _reloaded(db_url, registry, inst.id)
    roots = [sp.task_tree for sp in wf.subprocesses.values()]  # each subprocess's data in full
    holders = [t for t in roots if isinstance(t.data.get("items"), list)]
    assert len(holders) >= 2, [sorted(t.data) for t in roots]
    seen: dict[int, str] = {}
    for task in holders:
        where = f"the subprocess of task {task.workflow.parent_task_id}"
        for container in _containers(task.data["items"]):
            assert id(container) not in seen, f"{where} shares a container with {seen[id(container)]}"
            seen[id(container)] = where
    first, second = holders[0].data["items"], holders[1].data["items"]
    assert first == second and len(first) == 4 and first[0] is not second[0]
    assert _snapshot(wf) == _snapshot(_as_run_left_it(engine, inst.id))
