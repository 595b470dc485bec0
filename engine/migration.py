"""Move running instances of a process from one deployed version to another, with an impact preview first.

Built on SpiffWorkflow's own diff and migrate utilities (``SpiffWorkflow.bpmn.util.diff``): each case is
diffed against the target version's specs, its waiting and ready tasks are reset onto the new specs (so
that what follows them is predicted from the new diagram), and the result is saved through the engine's
normal run (``runner.execute``): under the instance's lock and version, with its projections, history and
search fields, on fresh spec objects from the target version's blueprint.

The rules, stated once here and shown on the preview:

- A case moves only if every element it waits at (user task, timer, message, incident) still exists in the
  target version, no multi-instance is running in it, no event subprocess was started in it, every call
  activity or subprocess it is running still has its process in the target version with the same steps
  after it, and every element it already passed still exists (its stored history names them). A case that
  cannot move raises ``MigrationRefused`` (a ``Conflict``) saying why, and is left untouched.
- A case with an open incident can move: the failed step stays failed, and a retry runs it on the new
  version (often the reason to migrate).
- A pending timer whose definition did not change keeps its due moment. A duration timer whose duration
  changed is recomputed from the moment the timer started: a 4-week timer started 1 week ago that becomes
  ``P3W`` falls due 2 weeks from now. If that moment has passed, the timer fires in the migration itself, at
  its recomputed due moment (as the worker would fire an overdue timer). Any other changed timer (a date, a
  cycle, or a change of kind) starts again at the moment of migration with the new definition.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from . import clock, projections, runner
from .errors import Conflict, InvalidInput, NotFound
from .models import DefinitionAudit, MessageSubscription, ProcessInstance, ProcessVersion, UserTask, WakeUp
from .run import KmopScriptEngine
from .sandbox import evaluate_expression
from .views import _View

__all__ = [
    "CaseImpact",
    "ElementImpact",
    "MigrationPreview",
    "MigrationRefused",
    "MovedCase",
    "Refusal",
    "TimerChange",
    "TimerMove",
    "WaitPoint",
    "migrate",
    "preview",
    "record_audit",
    "running_by_version",
]


# ------------------------------------------------------------------------------------------ views


@dataclass(frozen=True)
class Refusal(_View):
    """Why a case cannot move: ``code`` for a page to word, ``message`` in English for the CLI and API."""

    code: str  # suspended | wiring | multi_instance | called_process_missing | activity_changed | removed
    #            | passed_removed | unaligned | timer | same_version | other_version | ended
    element_id: str | None
    element_name: str | None
    message: str


@dataclass(frozen=True)
class WaitPoint(_View):
    """One element a case waits at."""

    element_id: str
    name: str
    kind: str  # user_task | timer | message | incident | multi_instance | event | running
    due_at: datetime | None = None  # a timer's due moment


@dataclass(frozen=True)
class TimerMove(_View):
    """What the migration does to one pending timer of a case."""

    element_id: str
    name: str
    due_at: datetime | None  # before
    new_due_at: datetime | None  # after (the same when kept)
    rule: str  # kept | recomputed | restarted


@dataclass(frozen=True)
class CaseImpact(_View):
    instance_id: int
    business_key: str | None
    status: str
    waits: list[WaitPoint]
    refusals: list[Refusal]
    timers: list[TimerMove]
    movable: bool


@dataclass(frozen=True)
class ElementImpact(_View):
    """How many cases wait at one element, and how many of them can move."""

    element_id: str
    name: str
    kind: str
    change: str  # unchanged | changed | removed (in the target version)
    waiting: int
    movable: int


@dataclass(frozen=True)
class TimerChange(_View):
    """A timer whose definition differs between the two versions."""

    element_id: str
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class MigrationPreview(_View):
    process_key: str
    from_version: int
    to_version: int
    cases: list[CaseImpact]
    elements: list[ElementImpact]
    timer_changes: list[TimerChange]

    @property
    def movable(self) -> list[int]:
        return [c.instance_id for c in self.cases if c.movable]


@dataclass(frozen=True)
class MovedCase(_View):
    instance_id: int
    business_key: str | None
    from_version: int
    to_version: int
    timers: list[TimerMove] = field(default_factory=list)


class MigrationRefused(Conflict):
    """A case cannot move to the asked version; ``refusals`` say why. Nothing of it was changed."""

    def __init__(self, instance_id: int, refusals: list[Refusal]) -> None:
        reasons = "; ".join(r.message for r in refusals)
        super().__init__(f"instance {instance_id} cannot move: {reasons}")
        self.instance_id = instance_id
        self.refusals = refusals


# ------------------------------------------------------------------------------------ the moving


@functools.cache
def _registry() -> Any:
    """The library's converters for specs: what ``SpecDiff`` compares task specs with."""
    return BpmnWorkflowSerializer.configure(SPIFF_CONFIG)


_FRONTIER = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


def _name(spec: Any) -> str:
    name = getattr(spec, "bpmn_name", None)
    if name is None and isinstance(spec, LoopTask):  # a multi-instance's name is on its child spec
        name = getattr(spec._wf_spec.task_specs.get(spec.task_spec), "bpmn_name", None)
    return str(name or getattr(spec, "bpmn_id", None) or spec.name)


def _element(spec: Any) -> str:
    """The diagram element a task spec belongs to (``x.BoundaryEventSplit`` belongs to ``x``)."""
    return str(getattr(spec, "bpmn_id", None) or spec.name.split(".", 1)[0])


def _refusal(code: str, spec: Any | None, message: str) -> Refusal:
    if spec is None:
        return Refusal(code, None, None, message)
    return Refusal(code, _element(spec), _name(spec), message.replace("{el}", f"'{_name(spec)}'"))


def waits_of(wf: Any) -> list[WaitPoint]:
    """Every element the workflow waits at: ready user tasks, timers, messages, failures, running loops."""
    timers = {t.task_id: t.due_at for t in projections.waiting_timers(wf)}
    found: list[WaitPoint] = []
    for task in projections.all_tasks(wf):
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) is None or not task.state & _FRONTIER:
            continue
        eid, name = str(spec.bpmn_id), _name(spec)
        if task.state == TaskState.ERROR:
            found.append(WaitPoint(eid, name, "incident"))
        elif task.state == TaskState.READY:
            found.append(WaitPoint(eid, name, "user_task" if spec.manual else "running"))
        elif task.state == TaskState.STARTED:
            if isinstance(spec, LoopTask):
                found.append(WaitPoint(eid, name, "multi_instance"))
        else:
            parts = projections.event_parts(task)
            kinds = {type(p).__name__ for p in parts}
            if any(isinstance(p, TimerEventDefinition) for p in parts):
                found.append(WaitPoint(eid, name, "timer", timers.get(str(task.id))))
            if "MessageEventDefinition" in kinds:
                found.append(WaitPoint(eid, name, "message"))
            if (
                not any(isinstance(p, TimerEventDefinition) for p in parts)
                and "MessageEventDefinition" not in kinds
            ):
                found.append(WaitPoint(eid, name, "event"))
    return found


def _scopes(wf: Any, new_spec: Any, new_subs: Any) -> tuple[list[tuple[Any, Any, SpecDiff]], list[Refusal]]:
    """(scope workflow, its new spec, its spec diff) for the workflow and each running subprocess."""
    scopes = [(wf, new_spec, SpecDiff(_registry(), wf.spec, new_spec))]
    refusals = []
    for sp in wf.subprocesses.values():
        parent = projections.find_task(wf, str(sp.parent_task_id))
        parent_spec = parent.task_spec if parent is not None else None
        name = sp.spec.name
        if name not in new_subs:
            refusals.append(
                _refusal(
                    "called_process_missing",
                    parent_spec,
                    f"it runs {{el}}, whose process '{name}' is not part of the new version",
                )
            )
            continue
        scopes.append((sp, new_subs[name], SpecDiff(_registry(), sp.spec, new_subs[name])))
    return scopes, refusals


def check(wf: Any, new_spec: Any, new_subs: Any, wiring: bool) -> tuple[list[Refusal], list[Any]]:
    """Why the workflow cannot move to ``new_spec``, and (when it can) its scopes with their diffs."""
    refusals: list[Refusal] = []
    if wiring:
        refusals.append(
            _refusal(
                "wiring",
                None,
                "an event subprocess started in it; a started one cannot move to another version",
            )
        )
    for task in projections.all_tasks(wf):
        if task.state == TaskState.STARTED and isinstance(task.task_spec, LoopTask):
            refusals.append(
                _refusal(
                    "multi_instance",
                    task.task_spec,
                    "a multi-instance is running at {el}; wait until it ends",
                )
            )
    scopes, missing = _scopes(wf, new_spec, new_subs)
    refusals += missing
    for scope, _new, diff in scopes:
        removed = set(diff.removed)
        changed = diff.changed
        seen: set[str] = set()
        for task in scope.tasks.values():
            spec = task.task_spec
            if spec not in diff.alignment and not task.state & TaskState.PREDICTED_MASK:
                key = f"unaligned:{spec.name}"
                if key not in seen:
                    seen.add(key)
                    refusals.append(_refusal("unaligned", spec, "{el} cannot be matched to the new version"))
            elif spec in removed and task.state & _FRONTIER:
                refusals.append(
                    _refusal("removed", spec, "it waits at {el}, which the new version no longer has")
                )
            elif (
                spec in removed and task.state & TaskState.FINISHED_MASK and f"passed:{spec.name}" not in seen
            ):
                seen.add(f"passed:{spec.name}")
                refusals.append(
                    _refusal(
                        "passed_removed", spec, "it already passed {el}, which the new version no longer has"
                    )
                )
            elif (
                task.state == TaskState.STARTED
                and isinstance(spec, SubWorkflowTask)
                and {"outputs", "spec"} & set(changed.get(spec, []))
            ):
                refusals.append(
                    _refusal(
                        "activity_changed",
                        spec,
                        "it runs {el}, and what it calls or what follows it changed in the new version",
                    )
                )
    return refusals, scopes


def _unique(refusals: list[Refusal]) -> list[Refusal]:
    return list({(r.code, r.element_id): r for r in refusals}.values())


@dataclass
class _PendingTimer:
    definition: Any
    value: Any
    due_at: datetime | None
    data: dict[str, Any]


def _timer_part(task: Any) -> Any | None:
    return next((p for p in projections.event_parts(task) if isinstance(p, TimerEventDefinition)), None)


def _pending_timers(wf: Any) -> dict[Any, _PendingTimer]:
    dues = {t.task_id: t.due_at for t in projections.waiting_timers(wf)}
    found = {}
    for task in projections.all_tasks(wf):
        part = _timer_part(task) if task.state == TaskState.WAITING else None
        if part is not None:
            value = copy.deepcopy(task.internal_data.get("event_value"))
            found[task.id] = _PendingTimer(part, value, dues.get(str(task.id)), dict(task.data))
    return found


def _same_timer(old: Any, new: Any) -> bool:
    return type(old) is type(new) and str(old.expression).strip() == str(new.expression).strip()


def _duration(expression: str, data: dict[str, Any]) -> dict[str, Any]:
    value = evaluate_expression(expression, data, {"now": clock.now})
    return dict(TimerEventDefinition.parse_iso_duration(str(value)))


def recompute_timers(wf: Any, before: dict[Any, _PendingTimer], now: datetime) -> list[TimerMove]:
    """Apply the timer rule to the migrated workflow's pending timers (see the module's docstring)."""
    moves = []
    for task in projections.all_tasks(wf):
        old = before.get(task.id)
        new = _timer_part(task) if task.state == TaskState.WAITING else None
        if old is None or new is None:
            continue
        eid, name = _element(task.task_spec), _name(task.task_spec)
        if _same_timer(old.definition, new) and old.value is not None:
            task.internal_data["event_value"] = copy.deepcopy(old.value)
            moves.append(TimerMove(eid, name, old.due_at, old.due_at, "kept"))
            continue
        durations = isinstance(old.definition, DurationTimerEventDefinition) and isinstance(
            new, DurationTimerEventDefinition
        )
        if durations and old.due_at is not None:
            try:
                started = old.due_at - TimerEventDefinition.get_timedelta_from_end(
                    _duration(old.definition.expression, old.data), old.due_at
                )
                due = started + TimerEventDefinition.get_timedelta_from_start(
                    _duration(new.expression, dict(task.data)), started
                )
            except Exception:
                due = None  # not computable from this case's data: the library's restart stands
            if due is not None:
                task.internal_data["event_value"] = due.isoformat()
                moves.append(TimerMove(eid, name, old.due_at, due, "recomputed"))
                continue
        after = {t.task_id: t.due_at for t in projections.waiting_timers(wf)}.get(str(task.id))
        moves.append(TimerMove(eid, name, old.due_at, after, "restarted"))
    return moves


def move(
    wf: Any, new_spec: Any, new_subs: Any, wiring: bool, now: datetime
) -> tuple[list[Refusal], list[TimerMove]]:
    """Move the workflow (in memory) onto the new specs; (refusals, timers). With refusals, ``wf`` may be
    half moved and must be thrown away."""
    refusals, scopes = check(wf, new_spec, new_subs, wiring)
    if refusals:
        return _unique(refusals), []
    try:
        diffs = [(scope, spec, WorkflowDiff(scope, diff)) for scope, spec, diff in scopes]
    except KeyError:  # a task whose spec the library's alignment never reached
        return [_refusal("unaligned", None, "its state cannot be matched to the new version")], []
    before = _pending_timers(wf)
    for scope, spec, workflow_diff in diffs:
        migrate_workflow(workflow_diff, scope, spec)
    wf.subprocess_specs = new_subs
    for scope, spec, _diff in scopes:
        for task in scope.tasks.values():
            if spec.task_specs.get(task.task_spec.name) is not task.task_spec:
                refusals.append(
                    _refusal("unaligned", task.task_spec, "{el} cannot be matched to the new version")
                )
    if refusals:
        return _unique(refusals), []
    try:
        return [], recompute_timers(wf, before, now)
    except Exception as exc:  # pragma: no cover - a timer the library cannot even restart
        return [_refusal("timer", None, f"a timer of the new version cannot be computed for it: {exc}")], []


# --------------------------------------------------------------------------------------- preview


def versions_of(session: Session, key: str, old: int, new: int) -> tuple[ProcessVersion, ProcessVersion]:
    if old == new:
        raise InvalidInput("choose two different versions", "to")
    found = {
        pv.version: pv
        for pv in session.scalars(
            select(ProcessVersion).where(
                ProcessVersion.process_key == key, ProcessVersion.version.in_([old, new])
            )
        )
    }
    for number in (old, new):
        if number not in found:
            raise NotFound(f"process '{key}' has no version {number}")
    return found[old], found[new]


def running_by_version(session: Session, key: str) -> dict[int, int]:
    """Version -> how many of its cases have not ended."""
    rows = session.execute(
        select(ProcessVersion.version, func.count(ProcessInstance.id))
        .join(ProcessInstance, ProcessInstance.process_version_id == ProcessVersion.id)
        .where(ProcessVersion.process_key == key, ProcessInstance.status.not_in(runner.ENDED))
        .group_by(ProcessVersion.version)
    ).all()
    return {int(v): int(n) for v, n in rows}


def _timer_changes(old: Any, new: Any, old_subs: Any, new_subs: Any) -> list[TimerChange]:
    found = []
    pairs = [(old, new)] + [(old_subs[n], new_subs[n]) for n in old_subs if n in new_subs]
    for before, after in pairs:
        for name, spec in before.task_specs.items():
            was = _timer_part_of(spec)
            now = _timer_part_of(after.task_specs[name]) if name in after.task_specs else None
            if was is not None and now is not None and not _same_timer(was, now):
                found.append(
                    TimerChange(_element(spec), _name(spec), str(was.expression), str(now.expression))
                )
    return found


def _timer_part_of(spec: Any) -> Any | None:
    event = getattr(spec, "event_definition", None)
    parts = list(getattr(event, "event_definitions", None) or ([event] if event is not None else []))
    return next((p for p in parts if isinstance(p, TimerEventDefinition)), None)


def preview(rt: runner.Runtime, session: Session, key: str, old: int, new: int) -> MigrationPreview:
    """What moving every running case of ``key`` from version ``old`` to ``new`` would do; changes nothing."""
    pv_old, pv_new = versions_of(session, key, old, new)
    bp_old = rt.specs.blueprint(session, rt.specs.version(session, pv_old.id))
    bp_new = rt.specs.blueprint(session, rt.specs.version(session, pv_new.id))
    old_spec, old_subs = bp_old.instantiate()
    ref_spec, ref_subs = bp_new.instantiate()
    changes = _element_changes(old_spec, ref_spec, old_subs, ref_subs)
    rows = session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.process_version_id == pv_old.id, ProcessInstance.status.not_in(runner.ENDED))
        .order_by(ProcessInstance.id)
    ).all()
    cases = [_impact(rt, session, inst, bp_new) for inst in rows]
    return MigrationPreview(
        key, old, new, cases, _count(cases, changes), _timer_changes(old_spec, ref_spec, old_subs, ref_subs)
    )


def _element_changes(old: Any, new: Any, old_subs: Any, new_subs: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    pairs = [(old, new)] + [(old_subs[n], new_subs.get(n)) for n in old_subs]
    for before, after in pairs:
        if after is None:
            found.update({_element(s): "removed" for s in before.task_specs.values()})
            continue
        diff = SpecDiff(_registry(), before, after)
        found.update({_element(s): "removed" for s in diff.removed})
        for spec, props in diff.changed.items():
            if set(props) - {"inputs"}:
                found.setdefault(_element(spec), "changed")
    return found


def _impact(rt: runner.Runtime, session: Session, inst: ProcessInstance, bp_new: Any) -> CaseImpact:
    with clock.pinned() as now:
        wf, _ = runner.load(rt, session, inst)
        run = runner.Run(rt, session, inst, wf, bp_new, now, None)
        wf.script_engine = KmopScriptEngine(run)
        waits = waits_of(wf)
        refusals = (
            [_refusal("suspended", None, "it is suspended: resume it first")]
            if inst.status == "suspended"
            else []
        )
        new_spec, new_subs = bp_new.instantiate()
        wiring = bool(_stored_changes(inst))
        found, timers = move(wf, new_spec, new_subs, wiring, now)
    refusals += found
    return CaseImpact(inst.id, inst.business_key, inst.status, waits, refusals, timers, not refusals)


def _stored_changes(inst: ProcessInstance) -> Any:
    return json.loads(inst.skeleton or "{}").get("spec_changes")


def _count(cases: list[CaseImpact], changes: dict[str, str]) -> list[ElementImpact]:
    counts: dict[tuple[str, str], list[Any]] = {}
    for case in cases:
        for point in {(w.element_id, w.name, w.kind) for w in case.waits}:
            entry = counts.setdefault((point[0], point[2]), [point[1], 0, 0])
            entry[1] += 1
            entry[2] += int(case.movable)
    return [
        ElementImpact(eid, name, kind, changes.get(eid, "unchanged"), waiting, movable)
        for (eid, kind), (name, waiting, movable) in sorted(counts.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]


# --------------------------------------------------------------------------------------- migrate


def migrate(
    rt: runner.Runtime, session: Session, instance_id: int, to_version: int, actor: str | None
) -> MovedCase:
    """Move one case to ``to_version`` of its process, in the caller's transaction, as a run of the engine.

    ``MigrationRefused`` (nothing changed) when it cannot move; ``NotFound`` for an unknown case or version.
    """
    outcome: list[MovedCase] = []

    def action(run: runner.Run) -> None:
        inst = run.inst
        old = rt.specs.version(session, inst.process_version_id)
        target = session.scalar(
            select(ProcessVersion.id).where(
                ProcessVersion.process_key == inst.process_key, ProcessVersion.version == to_version
            )
        )
        if target is None:
            raise NotFound(f"process '{inst.process_key}' has no version {to_version}")
        if target == old.id:
            raise MigrationRefused(
                inst.id, [_refusal("same_version", None, f"it is already on version {to_version}")]
            )
        pv = rt.specs.version(session, target)
        blueprint = rt.specs.blueprint(session, pv)
        wiring = bool(run.blueprint.changes(run.wf.spec, run.wf.subprocess_specs))
        new_spec, new_subs = blueprint.instantiate()
        refusals, timers = move(run.wf, new_spec, new_subs, wiring, run.now)
        if refusals:
            raise MigrationRefused(inst.id, refusals)
        run.blueprint = blueprint
        session.execute(
            update(ProcessInstance).where(ProcessInstance.id == inst.id).values(process_version_id=pv.id)
        )
        set_committed_value(inst, "process_version_id", pv.id)
        run.record(
            "migrated",
            None,
            message=f"migrated from version {old.version} to {pv.version}",
            from_version=old.version,
            to_version=pv.version,
            timers=[t.to_dict() for t in timers],
        )
        _refresh_rows(session, inst.id, run.wf)
        runner.fire_timers(run)  # a recomputed timer whose moment has passed fires now, at that moment
        outcome.append(MovedCase(inst.id, inst.business_key, old.version, pv.version, timers))

    if runner.execute(rt, session, instance_id, action, actor=actor) is None:  # pragma: no cover
        raise Conflict(f"instance {instance_id} is busy")
    return outcome[0]


def _refresh_rows(session: Session, instance_id: int, wf: Any) -> None:
    """Carry renamed elements, lanes and forms of the new version into the rows the run keeps as they are."""
    for row in session.scalars(
        select(UserTask).where(UserTask.instance_id == instance_id, UserTask.status == "ready")
    ):
        task = projections.find_task(wf, row.id)
        if task is not None:
            row.element_id, row.name = projections.element_id(task), projections.element_name(task)
            row.lane, row.form = getattr(task.task_spec, "lane", None), projections.form_of(task)
    waits: list[WakeUp | MessageSubscription] = [
        *session.scalars(select(WakeUp).where(WakeUp.instance_id == instance_id)),
        *session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)),
    ]
    for item in waits:
        task = projections.find_task(wf, item.task_id)
        if task is not None:
            item.element_id = projections.element_id(task)


# ------------------------------------------------------------------------------------------ trail


def record_audit(
    session: Session,
    key: str,
    old: int,
    new: int,
    moved: Iterable[int],
    refused: dict[int, str],
    reason: str,
    actor: str | None,
) -> DefinitionAudit:
    """Write the one audit row of a bulk migration: who, when, why, which cases moved, which did not."""
    row = DefinitionAudit(
        at=clock.now(),
        actor=actor,
        action="migrate",
        process_key=key,
        reason=reason,
        detail={
            "from": old,
            "to": new,
            "moved": sorted(moved),
            "refused": {str(k): v for k, v in sorted(refused.items())},
        },
    )
    session.add(row)
    session.flush()
    return row
