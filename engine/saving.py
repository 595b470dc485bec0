"""Save a run: the workflow's state, its projections (inbox, wake-ups, subscriptions), its history,
its status and its search fields, in the caller's transaction, guarded by the instance's version."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import JSON, DateTime, Integer, String, Table, bindparam, column, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from . import projections, state
from .errors import Conflict
from .models import HistoryEntry, Incident, InstanceAttribute, ProcessInstance, WakeUp
from .run import ENDED, WAITING, Run, Runtime, load
from .workflow_cache import Kept


def record_completed(run: Run) -> None:
    for task in projections.all_tasks(run.wf):
        if task.state != TaskState.COMPLETED or run.before.get(task.id) == TaskState.COMPLETED:
            continue
        if task.id in run.recorded:
            continue
        run.recorded.add(task.id)
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None or spec.manual:
            continue  # internal control tasks say nothing to people; user tasks are recorded by complete
        changed = _changed(run, task)
        if not changed and type(spec).__name__ in _SILENT_WHEN_UNCHANGED:
            continue  # a gateway or plain start/end that changed nothing: the path shows it, history need not
        run.record(
            "task_completed",
            projections.element_id(task),
            name=projections.element_name(task),
            changed=state.to_plain(changed),
        )


def _changed(run: Run, task: Any) -> dict[str, Any]:
    """What the task changed in its data: compared with what it began with, where that is known.

    A task that ran a subprocess (an embedded subprocess, a call activity, each item of a multi-instance
    one) began with the data its subprocess started from; another task with its parent's. A child of a
    multi-instance task says nothing of the loop's collections: the multi-instance task itself records
    them once (each child recording them would store the whole list once per item).
    """
    sub = run.wf.subprocesses.get(task.id)
    parent = task.parent
    before = sub.task_tree.data if sub is not None else parent.data if parent is not None else None
    if before is None:
        return dict(task.data)
    skip: tuple[str, ...] = ()
    if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
        skip = tuple(
            ref.bpmn_id for ref in (parent.task_spec.data_input, parent.task_spec.data_output) if ref
        )
    return {k: v for k, v in task.data.items() if k not in skip and before.get(k, _MISSING) != v}


_MISSING = object()
_SILENT_WHEN_UNCHANGED = {
    "ExclusiveGateway", "ParallelGateway", "InclusiveGateway", "EventBasedGateway", "StartEvent", "EndEvent",
}  # fmt: skip


_HISTORY_TABLE: Table = HistoryEntry.__table__  # type: ignore[assignment]
_INSTANCE_TABLE: Table = ProcessInstance.__table__  # type: ignore[assignment]
# Built once: every run executes these, and building a statement costs more than running it here.
_INSERT_HISTORY = _HISTORY_TABLE.insert()
INSERT_INSTANCE = _INSTANCE_TABLE.insert().returning(_INSTANCE_TABLE.c.id)
_SAVE_INSTANCE = (
    _INSTANCE_TABLE.update()
    .where(
        _INSTANCE_TABLE.c.id == bindparam("b_id"), _INSTANCE_TABLE.c.lock_version == bindparam("b_version")
    )
    .values(
        skeleton=bindparam("skeleton"),
        status=bindparam("status"),
        updated_at=bindparam("updated_at"),
        lock_version=bindparam("lock_version"),
        ended_at=bindparam("ended_at"),
        search=bindparam("search"),
        due_at=bindparam("due_at"),
    )
)
# On PostgreSQL the run's history goes with the save, in one statement (one round trip less than an
# INSERT of the entries before the UPDATE): the entries travel as one JSON array.
_ENTRIES = (
    func.json_to_recordset(bindparam("b_history", type_=JSON))
    .table_valued(
        column("at", DateTime(timezone=True)),
        column("actor", String),
        column("event", String),
        column("element_id", String),
        column("detail", JSON),
    )
    .render_derived(name="entry", with_types=True)
)
_SAVE_INSTANCE_WITH_HISTORY = _SAVE_INSTANCE.add_cte(
    _HISTORY_TABLE.insert()
    .from_select(
        ["instance_id", "at", "actor", "event", "element_id", "detail"],
        select(
            bindparam("b_id", type_=Integer),
            _ENTRIES.c.at,
            _ENTRIES.c.actor,
            _ENTRIES.c.event,
            _ENTRIES.c.element_id,
            _ENTRIES.c.detail,
        ),
    )
    .cte("entries")
)
_ATTRIBUTE_TABLE: Table = InstanceAttribute.__table__  # type: ignore[assignment]
_INSERT_ATTRIBUTES = _ATTRIBUTE_TABLE.insert()
_DELETE_ATTRIBUTES = _ATTRIBUTE_TABLE.delete().where(_ATTRIBUTE_TABLE.c.instance_id == bindparam("b_id"))


def finish(run: Run, loaded: state.LoadedState, expected_version: int | None) -> None:
    inst, session, wf = run.inst, run.session, run.wf
    changes = run.blueprint.changes(wf.spec, wf.subprocess_specs)
    if run.runtime.settings.replay:
        run.blueprint.verify(wf.spec, wf.subprocess_specs, changes)
    # The statements that only delete or close rows of this instance (its task rows once it completed, its
    # wake-ups and subscriptions once it ended, the stays that ended) run with its save, past the ORM: on
    # PostgreSQL as data-modifying CTEs of the one UPDATE (each a round trip less), on SQLite just before it.
    postgres = session.get_bind().dialect.name == "postgresql"
    later: list[projections.Rider] = []
    skeleton, _written = state.save(session, inst.id, wf, loaded, changes, later)
    waiting = projections.sync(session, inst, wf, run.now, fresh=run.fresh, later=later)
    status = _status(run)
    ended_at = run.now if status in ENDED else inst.ended_at
    if status in ENDED and not run.fresh:
        projections.clear(session, inst.id, later)
    if status != inst.status:
        run.record("status", None, status=status, previous=inst.status)
    history = _history_with_save(session, run.history)
    if run.history and history is None:
        rows = [{"instance_id": inst.id, **entry} for entry in run.history]
        session.connection().execute(_INSERT_HISTORY, rows)
    new_version = (expected_version or 0) + 1
    search = projections.search_values(wf, run.runtime.registry.search_fields)
    if search != inst.search:
        _index(session, inst.id, search, had_rows=bool(inst.search))
    values = {
        "skeleton": skeleton,
        "status": status,
        "updated_at": run.now,
        "lock_version": new_version,
        "ended_at": ended_at,
        "search": search,
        "due_at": None if status in ENDED else waiting.due_at,
    }
    current = expected_version if expected_version is not None else inst.lock_version
    params = {**values, "b_id": inst.id, "b_version": current}
    if history is not None:
        params["b_history"] = history
    if later:
        # What the ORM still holds for this instance (a retry's wake-up, a row a migration changed) is
        # written before the riders delete past it, whatever query would have flushed it before.
        session.flush()
    connection = session.connection()
    if postgres:
        save = _with_riders(history is not None, [statement for statement, _ in later])
        for _, rider_params in later:  # b_id is the instance's in all; the others are the rider's own
            for name, value in rider_params.items():
                if params.setdefault(name, value) is not value and params[name] != value:
                    raise RuntimeError(f"two statements of a save disagree on the parameter {name}")
    else:
        save = _SAVE_INSTANCE
        for statement, rider_params in later:
            connection.execute(statement, rider_params)
    result = connection.execute(save, params)
    if result.rowcount != 1:
        raise Conflict(f"instance {inst.id} was changed by someone else at the same time; try again")
    for name, value in values.items():  # written already: the ORM must not write it again at its flush
        set_committed_value(inst, name, value)
    WAITING[inst] = (new_version, waiting)
    if status not in ENDED:
        run.runtime.workflows.offer(session, inst.id, Kept(new_version, wf, loaded))


_SAVES: dict[tuple[Any, ...], Any] = {}


def _with_riders(history: bool, riders: list[Any]) -> Any:
    """The save with its history (or not) and ``riders`` as CTEs, built once for each such combination:
    the riders are statements built once too, so there are a handful of combinations."""
    key = (history, *riders)  # the statements themselves (compared by identity), kept alive by the key
    found = _SAVES.get(key)
    if found is None:
        found = _SAVE_INSTANCE_WITH_HISTORY if history else _SAVE_INSTANCE
        for number, rider in enumerate(riders):
            found = found.add_cte(rider.cte(f"rider_{number}"))
        if len(_SAVES) < 256:  # riders are module constants: a few shapes, never this many
            _SAVES[key] = found
    return found


def _history_with_save(session: Session, history: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The run's history entries as they travel with the save on PostgreSQL, or None: not on SQLite (no
    round trips there), and not when some text holds a NUL (the plain INSERT refuses it as bad input)."""
    if not history or session.get_bind().dialect.name != "postgresql":
        return None
    entries = [
        {
            "at": entry["at"].isoformat(),
            "actor": entry["actor"],
            "event": entry["event"],
            "element_id": entry["element_id"],
            "detail": entry["detail"],
        }
        for entry in history
    ]
    texts = (e[k] for e in entries for k in ("actor", "event", "element_id"))
    if any(t is not None and "\x00" in t for t in texts):
        return None
    return entries


def _index(session: Session, instance_id: int, search: dict[str, str], had_rows: bool) -> None:
    """Write the instance's search fields (only when they changed: at start, and when a field is set)."""
    connection = session.connection()
    if had_rows:
        connection.execute(_DELETE_ATTRIBUTES, {"b_id": instance_id})
    if search:
        rows = [{"instance_id": instance_id, "name": k, "value": v} for k, v in search.items()]
        connection.execute(_INSERT_ATTRIBUTES, rows)


def reindex(rt: Runtime, session: Session, inst: ProcessInstance) -> dict[str, str]:
    """Write the search fields of an instance no run has indexed yet (one from before kmop kept them)."""
    wf, _ = load(rt, session, inst)
    search = projections.search_values(wf, rt.registry.search_fields)
    _index(session, inst.id, search, had_rows=True)
    inst.search = search
    return search


def _status(run: Run) -> str:
    """Work out the status, asking the database only about what this run cannot know."""
    if run.wf.completed:
        return "completed"
    session, inst = run.session, run.inst
    if run.incident_opened:
        return "error"
    if not run.fresh and inst.status == "error":
        open_incident = session.scalar(
            select(Incident.id).where(Incident.instance_id == inst.id, Incident.status == "open").limit(1)
        )
        if open_incident is not None:
            return "error"
    if run.retry_scheduled or any(
        t.state == TaskState.READY and not t.task_spec.manual for t in projections.all_tasks(run.wf)
    ):
        return "running"
    if not run.fresh and inst.status in ("running", "error"):
        retrying = session.scalar(
            select(WakeUp.id).where(WakeUp.instance_id == inst.id, WakeUp.kind == "retry").limit(1)
        )
        if retrying is not None:
            return "running"
    return "waiting"
