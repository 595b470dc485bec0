"""Save and restore SpiffWorkflow state without its spec, one row per task, writing only what changed.

The spec is never stored with an instance: it is parsed once per process version (``SpecCache``). A
workflow is kept as a skeleton (workflow data, subprocess structure, pending events) plus a row per task
in creation order. On save, only tasks that are new, changed state, or are still unfinished are
serialized again, and only rows whose text differs are written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from .blueprint import Blueprint, Changes
from .clock import _ClockDatetime
from .models import InstanceTaskState

_TASK_TABLE: Table = InstanceTaskState.__table__  # type: ignore[assignment]
_UPDATE_TASK = (
    update(_TASK_TABLE)
    .where(_TASK_TABLE.c.instance_id == bindparam("b_instance"), _TASK_TABLE.c.task_id == bindparam("b_task"))
    .values(body=bindparam("body"))
)
FORMAT = 1  # bump, and add a migration of stored state, when the layout below changes


def _make_serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(
        _ClockDatetime,
        lambda v: {"value": v.isoformat()},
        lambda v: datetime.fromisoformat(v["value"]),
        "datetime",
    )
    return BpmnWorkflowSerializer(registry)


_SERIALIZER = _make_serializer()
_REGISTRY = _SERIALIZER.registry
_ENCODER = _SERIALIZER._encoder_cls


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=_ENCODER, separators=(",", ":"), sort_keys=False)


@dataclass
class LoadedState:
    """What was read from the database, so a save can tell what changed."""

    bodies: dict[str, str] = field(default_factory=dict)  # task id -> stored text
    marks: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # task id -> _mark(task)
    next_seq: int = 0
    skeleton: str = ""


def _workflow_skeleton(wf: Any) -> dict[str, Any]:
    return {
        "data": _REGISTRY.convert(_REGISTRY.clean(wf.data)),
        "correlations": wf.correlations,
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "root": str(wf.task_tree.id),
    }


def skeleton_of(wf: BpmnWorkflow, spec_changes: Changes | None = None) -> dict[str, Any]:
    dct = _workflow_skeleton(wf)
    dct["format"] = FORMAT
    if spec_changes:  # connections the run made in its specs (``engine.blueprint``), restored on load
        dct["spec_changes"] = spec_changes
    dct["bpmn_events"] = _REGISTRY.convert(wf.bpmn_events)
    dct["subprocesses"] = {
        str(key): {
            **_workflow_skeleton(sp),
            "parent_task_id": str(sp.parent_task_id),
            "spec": sp.spec.name,
            "typename": "BpmnSubWorkflow",
        }
        for key, sp in wf.subprocesses.items()
    }
    return dct


def _all_tasks(wf: BpmnWorkflow) -> list[tuple[str, Any]]:
    tasks = [("", t) for t in wf.tasks.values()]
    for key, sp in wf.subprocesses.items():
        tasks.extend((str(key), t) for t in sp.tasks.values())
    return tasks


def _mark(task: Any) -> tuple[Any, ...]:
    """What tells that a finished task's stored text is still right: a finished task can still gain a
    child (an event subprocess starts under the completed start task), so the children count too."""
    return (task.last_state_change, task.state, tuple(str(c) for c in task._children))


def save(
    session: Session,
    instance_id: int,
    wf: BpmnWorkflow,
    loaded: LoadedState,
    spec_changes: Changes | None = None,
) -> tuple[str, int]:
    """Write the rows that changed; return the new skeleton text and how many task rows were written.

    A completed workflow never changes again: it is kept as one document (the skeleton with its tasks
    embedded), and its task rows, if any, are dropped.
    """
    if wf.completed:
        return _save_completed(session, instance_id, wf, loaded, spec_changes)
    _REGISTRY._encoder_mode = True
    try:
        skeleton = _dumps(skeleton_of(wf, spec_changes))
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        seen: set[str] = set()
        for scope, task in _all_tasks(wf):
            tid = str(task.id)
            seen.add(tid)
            mark = _mark(task)
            old = loaded.bodies.get(tid)
            if old is not None and loaded.marks.get(tid) == mark and task.state & TaskState.FINISHED_MASK:
                continue  # a finished task that did not move: its stored text is still right
            body = _dumps(_REGISTRY.convert(task))
            if old is None:
                inserts.append(
                    {
                        "instance_id": instance_id,
                        "task_id": tid,
                        "scope": scope,
                        "seq": loaded.next_seq,
                        "body": body,
                    }
                )
                loaded.next_seq += 1
            elif old != body:
                updates.append({"b_instance": instance_id, "b_task": tid, "body": body})
            loaded.bodies[tid] = body
            loaded.marks[tid] = mark
    finally:
        _REGISTRY._encoder_mode = False
    gone = [tid for tid in loaded.bodies if tid not in seen]
    if inserts:  # Core, not the ORM's bulk path: this runs on every save and the ORM adds nothing here
        session.connection().execute(_TASK_TABLE.insert(), inserts)
    if updates:
        session.connection().execute(_UPDATE_TASK, updates)
    if gone:
        session.execute(
            delete(InstanceTaskState).where(
                InstanceTaskState.instance_id == instance_id, InstanceTaskState.task_id.in_(gone)
            )
        )
        for tid in gone:
            loaded.bodies.pop(tid, None)
            loaded.marks.pop(tid, None)
    loaded.skeleton = skeleton
    return skeleton, len(inserts) + len(updates) + len(gone)


def _save_completed(
    session: Session, instance_id: int, wf: BpmnWorkflow, loaded: LoadedState, spec_changes: Changes | None
) -> tuple[str, int]:
    _REGISTRY._encoder_mode = True
    try:
        document = skeleton_of(wf, spec_changes)
        embedded: dict[str, dict[str, Any]] = {}
        for scope, task in _all_tasks(wf):
            embedded.setdefault(scope, {})[str(task.id)] = _REGISTRY.convert(task)
        document["embedded"] = embedded
        text = _dumps(document)
    finally:
        _REGISTRY._encoder_mode = False
    if loaded.bodies:
        session.execute(delete(InstanceTaskState).where(InstanceTaskState.instance_id == instance_id))
    dropped = len(loaded.bodies)
    loaded.bodies.clear()
    loaded.marks.clear()
    loaded.skeleton = text
    return text, dropped


def load(
    session: Session, instance_id: int, skeleton_text: str, blueprint: Blueprint
) -> tuple[BpmnWorkflow, LoadedState]:
    """Rebuild the workflow from its skeleton and task rows, on fresh specs from its version's blueprint."""
    rows = session.execute(
        select(
            InstanceTaskState.task_id, InstanceTaskState.scope, InstanceTaskState.seq, InstanceTaskState.body
        )
        .where(InstanceTaskState.instance_id == instance_id)
        .order_by(InstanceTaskState.seq)
    ).all()
    loaded = LoadedState(skeleton=skeleton_text)
    by_scope: dict[str, dict[str, Any]] = {}
    for tid, scope, seq, body in rows:
        dct = json.loads(body)
        by_scope.setdefault(scope, {})[tid] = dct
        loaded.bodies[tid] = body
        loaded.marks[tid] = (dct["last_state_change"], dct["state"], tuple(dct["children"]))
        loaded.next_seq = max(loaded.next_seq, seq + 1)
    skeleton = json.loads(skeleton_text)
    for scope, tasks in skeleton.pop("embedded", {}).items():  # a completed instance: one document
        by_scope[scope] = tasks
    if skeleton.get("format") != FORMAT:
        raise RuntimeError(f"stored state has format {skeleton.get('format')}, this kmop reads {FORMAT}")
    spec, subprocess_specs = blueprint.instantiate(skeleton.get("spec_changes"))
    full = {
        **{k: v for k, v in skeleton.items() if k not in _NOT_WORKFLOW},
        "tasks": by_scope.get("", {}),
        "subprocesses": {
            key: {"typename": "BpmnSubWorkflow", **sp, "tasks": by_scope.get(key, {})}
            for key, sp in skeleton["subprocesses"].items()
        },
        "bpmn_events": skeleton.get("bpmn_events", []),
    }
    wf = _restore(full, spec, subprocess_specs)
    return wf, loaded


_NOT_WORKFLOW = ("format", "subprocesses", "bpmn_events", "spec_changes")


def _restore(dct: dict[str, Any], spec: Any, subprocess_specs: Mapping[str, Any]) -> BpmnWorkflow:
    # Mirrors BpmnWorkflowConverter.from_dict, with the spec handed in instead of deserialized.
    converter = _REGISTRY.convert_from_dict["BpmnWorkflow"].args[0].__self__
    workflow = BpmnWorkflow(spec, subprocess_specs, deserializing=True)
    workflow.tasks = converter.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    converter.set_default_attributes(workflow, dct)
    converter.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = _REGISTRY.restore(dct.pop("bpmn_events", []))
    return workflow


_PLAIN = (str, int, float, bool, type(None))


def to_plain(value: Any) -> Any:
    """Convert task data to JSON-compatible values (dates as ISO text) for views and history."""
    if isinstance(value, dict) and all(isinstance(v, _PLAIN) for v in value.values()):
        return dict(value)  # the common case, without a round trip through JSON
    return json.loads(json.dumps(value, default=_plain_default))


def _plain_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, UUID):
        return str(value)
    return repr(value)
