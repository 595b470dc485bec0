"""Save and restore SpiffWorkflow state without its spec, one row per task, writing only what changed.

The spec is never stored with an instance: it is parsed once per process version (``SpecCache``). A
workflow is kept as a skeleton (workflow data, subprocess structure, pending events) plus a row per task
in creation order. On save, only tasks that are new, changed state, or are still unfinished are
serialized again, and only rows whose text differs are written.

Large data values are stored once per instance, by content (``engine.values``): a task's data, its delta
against its parent and a workflow's data refer to them by hash. They are rows of ``instance_task_state``
too, with the scope ``VALUE_SCOPE`` and their hash as task id; a completed instance keeps them in its one
document (``values``). Values no task refers to any more are dropped at the save that leaves them.

Formats: 1 had every value inline; 2 (this) refers to large values. Both load.
"""

from __future__ import annotations

import json
import pickle
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
from .datacopy import install as _install_data_copy
from .models import InstanceTaskState
from .readywalk import install as _install_ready_walk
from .values import Values, refs_in

_install_data_copy()  # task data crosses subprocess and data-object boundaries by a pickle round trip
_install_ready_walk()  # READY tasks found from the task dicts, in the iterator's order

_TASK_TABLE: Table = InstanceTaskState.__table__  # type: ignore[assignment]
_UPDATE_TASK = (
    update(_TASK_TABLE)
    .where(_TASK_TABLE.c.instance_id == bindparam("b_instance"), _TASK_TABLE.c.task_id == bindparam("b_task"))
    .values(body=bindparam("body"))
)
FORMAT = 2  # bump, and add a migration of stored state (or keep reading the old), when the layout changes
_READS = (1, 2)  # the formats ``load`` reads: 1 has no value references, which changes nothing for it
_TASK_ROWS = (  # built once: every load reads them
    select(_TASK_TABLE.c.task_id, _TASK_TABLE.c.scope, _TASK_TABLE.c.seq, _TASK_TABLE.c.body)
    .where(_TASK_TABLE.c.instance_id == bindparam("b_id"))
    .order_by(_TASK_TABLE.c.seq)
)
_DROP_TASKS = _TASK_TABLE.delete().where(_TASK_TABLE.c.instance_id == bindparam("b_id"))
VALUE_SCOPE = "#value"  # the scope of a row that holds a value (``engine.values``), not a task


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


class _Shared:
    """One stored value as a load hands it to every task that refers to it.

    SpiffWorkflow's restore rebuilds a value object by object in Python, once for every task that holds
    it: in a data-heavy multi-instance that is every task, each with the whole list. Here the library
    restores each value once (each item of a list once, however many versions of the list hold it), and
    every task that refers to it gets its own copy of the result by a pickle round trip (C code): the
    same objects the library's restore would have made, and no container of it shared between two such
    tasks. A value pickle cannot take is restored by the library for each task, as before; what pickle
    dumped it loads (the restored types are dicts, lists and plain datetime, date, Decimal values).
    """

    __slots__ = ("_items", "_pickled", "_value")

    def __init__(self, value: Any, items: dict[int, tuple[Any, Any]]) -> None:
        self._value = value
        self._items = items  # id(JSON item) -> (JSON item, restored item), over one load
        self._pickled: bytes | None = None

    def fresh(self) -> Any:
        if self._pickled is None:
            restored = self._restored()
            try:
                self._pickled = pickle.dumps(restored, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # not picklable: the library restores it anew for every task
                self._pickled = b""
        if self._pickled:
            return pickle.loads(self._pickled)  # noqa: S301 - bytes this process pickled a moment ago
        return _REGISTRY.restore(self._value)

    def _restored(self) -> Any:
        if not isinstance(self._value, list):
            return _REGISTRY.restore(self._value)
        out = []
        for item in self._value:
            if isinstance(item, dict | list):
                seen = self._items.get(id(item))
                if seen is None or seen[0] is not item:
                    seen = self._items[id(item)] = (item, _REGISTRY.restore(item))
                out.append(seen[1])
            else:
                out.append(_REGISTRY.restore(item))
        return out


class _SharedValues:
    """The shared values of one load, each wrapped where a task's data refers to it."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Shared] = {}
        self._items: dict[int, tuple[Any, Any]] = {}

    def wrap(self, key: str, value: Any) -> dict[str, Any]:
        shared = self._by_key.get(key)
        if shared is None:
            shared = self._by_key[key] = _Shared(value, self._items)
        return {"typename": _SHARED, "shared": shared}


_SHARED = "kmop_shared_value"  # a marker only a load puts in a task's data, restored by ``_fresh``


def _fresh(dct: dict[str, Any]) -> Any:
    shared: _Shared = dct["shared"]
    return shared.fresh()


def _never_stored(value: Any) -> dict[str, Any]:
    raise TypeError("a shared value of a load was about to be stored: it is restored before any run")


_SERIALIZER = _make_serializer()
_REGISTRY = _SERIALIZER.registry
_REGISTRY.register(_Shared, _never_stored, _fresh, typename=_SHARED)
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
    values: Values = field(default_factory=lambda: Values(_dumps))
    refs: dict[str, set[str]] = field(default_factory=dict)  # task id -> the values its row refers to


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


def _pack_skeleton(dct: dict[str, Any], values: Values, refs: set[str]) -> None:
    dct["data"] = values.pack(dct["data"], refs)
    for sp in dct["subprocesses"].values():
        sp["data"] = values.pack(sp["data"], refs)


def _task_dict(task: Any, values: Values, refs: set[str]) -> dict[str, Any]:
    """The task as the serializer converts it, its data and delta with large values referenced."""
    dct: dict[str, Any] = _REGISTRY.convert(task)
    if dct.get("data"):
        dct["data"] = values.pack(dct["data"], refs)
    delta = dct.get("delta")
    if delta and delta.get("updates"):
        dct["delta"] = {**delta, "updates": values.pack(delta["updates"], refs)}
    return dct


def _task_refs(dct: dict[str, Any]) -> set[str]:
    return refs_in(dct.get("data")) | refs_in((dct.get("delta") or {}).get("updates"))


def _unpack_task(dct: dict[str, Any], values: Values, shared: _SharedValues) -> dict[str, Any]:
    if dct.get("data"):
        dct["data"] = values.unpack(dct["data"], shared.wrap)
    delta = dct.get("delta")
    if delta and delta.get("updates"):
        delta["updates"] = values.unpack(delta["updates"], shared.wrap)
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
    later: list[tuple[Any, dict[str, Any]]] | None = None,
) -> tuple[str, int]:
    """Write the rows that changed; return the new skeleton text and how many task rows were written.

    A completed workflow never changes again: it is kept as one document (the skeleton with its tasks
    embedded), and its task rows, if any, are dropped (by a statement and its parameters put in ``later``
    when given: the caller executes it with the instance's save).
    """
    if wf.completed:
        return _save_completed(session, instance_id, wf, loaded, spec_changes, later)
    values = loaded.values
    skeleton_refs: set[str] = set()
    _REGISTRY._encoder_mode = True
    try:
        skeleton_dct = skeleton_of(wf, spec_changes)
        _pack_skeleton(skeleton_dct, values, skeleton_refs)
        skeleton = _dumps(skeleton_dct)
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
            refs: set[str] = set()
            body = _dumps(_task_dict(task, values, refs))
            loaded.refs[tid] = refs
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
        values.forget_texts()
    gone = [tid for tid in loaded.bodies if tid not in seen]
    for tid in gone:
        loaded.refs.pop(tid, None)
    inserts.extend(_value_rows(session, instance_id, values, skeleton_refs.union(*loaded.refs.values())))
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
    session: Session,
    instance_id: int,
    wf: BpmnWorkflow,
    loaded: LoadedState,
    spec_changes: Changes | None,
    later: list[tuple[Any, dict[str, Any]]] | None,
) -> tuple[str, int]:
    values = loaded.values
    refs: set[str] = set()
    _REGISTRY._encoder_mode = True
    try:
        document = skeleton_of(wf, spec_changes)
        _pack_skeleton(document, values, refs)
        embedded: dict[str, dict[str, Any]] = {}
        for scope, task in _all_tasks(wf):
            embedded.setdefault(scope, {})[str(task.id)] = _task_dict(task, values, refs)
        document["embedded"] = embedded
        text = _dumps(document)
    finally:
        _REGISTRY._encoder_mode = False
        values.forget_texts()
    live = values.live(refs)
    if live:  # spliced in as text: the nodes are JSON already
        nodes = ",".join(f'"{key}":{values.bodies[key]}' for key in sorted(live))
        text = text[:-1] + ',"values":{' + nodes + "}}"
    if loaded.bodies or values.stored:
        if later is not None:
            later.append((_DROP_TASKS, {"b_id": instance_id}))
        else:
            session.connection().execute(_DROP_TASKS, {"b_id": instance_id})
    dropped = len(loaded.bodies) + len(values.stored)
    loaded.bodies.clear()
    loaded.marks.clear()
    loaded.refs.clear()
    values.stored.clear()
    loaded.skeleton = text
    return text, dropped


def load(
    session: Session, instance_id: int, skeleton_text: str, blueprint: Blueprint
) -> tuple[BpmnWorkflow, LoadedState]:
    """Rebuild the workflow from its skeleton and task rows, on fresh specs from its version's blueprint."""
    session.flush()  # as the ORM's autoflush would before a query
    rows = session.connection().execute(_TASK_ROWS, {"b_id": instance_id}).all()
    loaded = LoadedState(skeleton=skeleton_text)
    values = loaded.values
    shared = _SharedValues()
    for tid, scope, _seq, body in rows:
        if scope == VALUE_SCOPE:
            values.add_stored(tid, body)
    by_scope: dict[str, dict[str, Any]] = {}
    for tid, scope, seq, body in rows:
        if scope == VALUE_SCOPE:
            continue
        dct = json.loads(body)
        loaded.refs[tid] = _task_refs(dct)
        by_scope.setdefault(scope, {})[tid] = _unpack_task(dct, values, shared)
        loaded.bodies[tid] = body
        loaded.marks[tid] = (dct["last_state_change"], dct["state"], tuple(dct["children"]))
        loaded.next_seq = max(loaded.next_seq, seq + 1)
    skeleton = json.loads(skeleton_text)
    if skeleton.get("format") not in _READS:
        raise RuntimeError(f"stored state has format {skeleton.get('format')}, this kmop reads {_READS}")
    for key, node in skeleton.pop("values", {}).items():  # a completed instance: its values inline
        values.add_node(key, _dumps(node))
    for scope, tasks in skeleton.pop("embedded", {}).items():  # a completed instance: one document
        by_scope[scope] = {tid: _unpack_task(dct, values, shared) for tid, dct in tasks.items()}
    skeleton["data"] = values.unpack(skeleton["data"], shared.wrap)
    for sp in skeleton["subprocesses"].values():
        sp["data"] = values.unpack(sp["data"], shared.wrap)
    values.forget_resolved()
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


def _value_rows(session: Session, instance_id: int, values: Values, refs: set[str]) -> list[dict[str, Any]]:
    """The rows of values new in use (to insert); delete the rows, and forget the values, no longer used."""
    live = values.live(refs)
    dead = [key for key in values.bodies if key not in live]
    gone = [key for key in dead if key in values.stored]
    for key in dead:
        values.forget(key)
    if gone:
        session.execute(
            delete(InstanceTaskState).where(
                InstanceTaskState.instance_id == instance_id, InstanceTaskState.task_id.in_(gone)
            )
        )
    rows = [
        {
            "instance_id": instance_id,
            "task_id": key,
            "scope": VALUE_SCOPE,
            "seq": -1,
            "body": values.bodies[key],
        }
        for key in live
        if key not in values.stored
    ]
    values.stored.update(key for key in live)
    return rows


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
