"""Read one page of a list of instances or of ready user tasks: filtered, sorted and counted by the database.

A list is asked for with a query (its filters), an ``Order`` and a page (offset, limit); the answer is a
``Page``: the rows of that page, with the number of rows in all. Text a person typed is the application's
to understand: it hands over what it understood as a ``Match`` (search fields with an exact value, a
search field that holds some text, business keys), and the engine finds the instances by that. Nothing
is loaded row by row: a page is one query for its rows, one for the count and one for where its
instances wait.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session, aliased, defer

from . import queries
from .models import ElementStay, Incident, InstanceAttribute, ProcessInstance, ProcessVersion, UserTask
from .monitor import Period, TimerDue, within
from .specs import SpecCache
from .views import InstanceSummary, TaskView

T = TypeVar("T")
FIELD = "field:"  # a sort key "field:<name>" sorts by that search field
INSTANCE_ORDERS = ("id", "key", "process", "status", "created", "updated", "due")
TASK_ORDERS = ("due", "created", "name", "lane", "key", "process", "claimed_by")


@dataclass(frozen=True)
class Match:
    """Instances by their search fields and keys; every part given must hold.

    ``attributes``: search fields with exactly these values; ``contains``: (search field, text): the
    field holds the text, in any case; ``business_keys``: one of these keys.
    """

    attributes: Mapping[str, str] = field(default_factory=dict)
    contains: tuple[str, str] | None = None
    business_keys: Collection[str] | None = None


@dataclass(frozen=True)
class InstanceQuery:
    """Which instances: of a status, process, version; waiting at one of ``waiting_at`` (or at none of
    ``not_waiting_at``); due before ``overdue_at``; found by ``match`` and by one of ``scope`` (None: any
    instance; a person's own cases, say)."""

    status: str | None = None
    process_key: str | None = None
    version: int | None = None
    waiting_at: tuple[str, ...] = ()
    not_waiting_at: tuple[str, ...] = ()
    overdue_at: datetime | None = None
    match: Match = Match()
    scope: tuple[Match, ...] | None = None
    # the cases behind a figure of the monitor: started in a period; waiting at ``waiting_at`` since a
    # moment in a period; with a timer at an element due by a moment; with an open incident at an element
    started: Period | None = None
    waiting_since: Period | None = None
    timer: TimerDue | None = None
    incident_at: str | None = None
    has_field: str | None = None  # the search field is set (a refused case has its refusal_reason)


@dataclass(frozen=True)
class TaskQuery:
    """Which ready user tasks: in a lane (None: every lane), of a process, with a name, due before
    ``overdue_at``, of the instances ``match`` and one of ``scope`` (None: any) find."""

    lane: str | None = None
    process_key: str | None = None
    name: str | None = None
    overdue_at: datetime | None = None
    match: Match = Match()
    scope: tuple[Match, ...] | None = None


@dataclass(frozen=True)
class Order:
    """Sort by ``key`` (one of the list's orders, or ``field:<name>``); rows without a value come last,
    and descending is the exact reverse of ascending."""

    key: str
    descending: bool = False


SORT_IN_MEMORY = 5_000  # at most this many rows are sorted by a search field without its index
NEWEST_FIRST = Order("id", descending=True)
DUE_FIRST = Order("due")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # rows in all pages
    offset: int  # of the first row shown (a page past the end shows the last page)
    limit: int


@dataclass(frozen=True)
class InstanceRow:
    case: InstanceSummary
    due_at: datetime | None  # the earliest due date of its ready tasks and timers
    fields: dict[str, str]  # its search fields


@dataclass(frozen=True)
class TaskRow:
    task: TaskView
    fields: dict[str, str]  # the search fields of its instance


def instance_count(session: Session, query: InstanceQuery) -> int:
    """How many instances ``query`` finds (the count behind a figure)."""
    where = _instance_conditions(query)
    return session.scalar(select(func.count()).select_from(ProcessInstance).where(*where)) or 0


def instance_page(
    session: Session, specs: SpecCache, query: InstanceQuery, order: Order, offset: int, limit: int
) -> Page[InstanceRow]:
    """One page of the instances ``query`` finds, in ``order``."""
    where = _instance_conditions(query)
    total = session.scalar(select(func.count()).select_from(ProcessInstance).where(*where)) or 0
    offset = _within(offset, limit, total)
    # The page's ids first (read from indexes alone, however deep the page), then those rows.
    # By a search field, many rows: read in the field's index order; a few (filtered) rows: just sort them.
    if order.key.startswith(FIELD) and total > SORT_IN_MEMORY:
        columns = (ProcessInstance.id, ProcessInstance.id, [ProcessInstance.id])
        wanted = _ids_by_field(session, columns, where, order, (offset, limit, total))
    else:
        ids = select(ProcessInstance.id).where(*where)
        ids = _order_by(ids, _instance_columns(), order, [ProcessInstance.id], ProcessInstance.id)
        wanted = list(session.scalars(ids.offset(offset).limit(limit)))
    loaded = session.scalars(
        select(ProcessInstance).options(defer(ProcessInstance.skeleton)).where(ProcessInstance.id.in_(wanted))
    )
    by_id = {inst.id: inst for inst in loaded}
    insts = [by_id[i] for i in wanted]
    found = queries.summaries(session, specs, insts)
    rows = [InstanceRow(s, i.due_at, dict(i.search or {})) for s, i in zip(found, insts, strict=True)]
    return Page(rows, total, offset, limit)


def task_page(
    session: Session, query: TaskQuery, order: Order, offset: int, limit: int, now: datetime
) -> Page[TaskRow]:
    """One page of the ready user tasks ``query`` finds, in ``order`` (overdue: due before ``now``)."""
    where = _task_conditions(query)
    total = session.scalar(select(func.count()).select_from(UserTask).where(*where)) or 0
    offset = _within(offset, limit, total)
    # The page's ids first (read from indexes alone, however deep the page), then those rows.
    ties = [UserTask.created_at, UserTask.id]  # the oldest task first (also among those without a due date)
    if order.key.startswith(FIELD) and total > SORT_IN_MEMORY:
        wanted = _ids_by_field(
            session, (UserTask.id, UserTask.instance_id, ties), where, order, (offset, limit, total)
        )
    else:
        ids = select(UserTask.id).where(*where)
        if order.key in ("key", "process"):
            ids = ids.join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
        ids = _order_by(ids, _task_columns(), order, ties, UserTask.instance_id)
        wanted = list(session.scalars(ids.offset(offset).limit(limit)))
    statement = (
        select(UserTask, ProcessInstance.process_key, ProcessInstance.business_key, ProcessInstance.search)
        .join(ProcessInstance, ProcessInstance.id == UserTask.instance_id)
        .where(UserTask.id.in_(wanted))
    )
    found = {
        row.id: TaskRow(task_view(row, process_key, business_key, now), dict(search or {}))
        for row, process_key, business_key, search in session.execute(statement)
    }
    return Page([found[i] for i in wanted], total, offset, limit)


def _ids_by_field(
    session: Session,
    rows: tuple[Any, Any, list[Any]],
    where: list[ColumnElement[bool]],
    order: Order,
    page: tuple[int, int, int],
) -> list[Any]:
    """The ids of one page sorted by a search field, the rows without it last (first when descending):
    read in the order of the field's index, not by sorting every row; counted only when the page starts
    past the first part. ``rows``: (the id column, its instance id column, the tie columns)."""
    row_id, instance_id, ties = rows
    offset, limit, total = page
    attr, name = InstanceAttribute, order.key[len(FIELD) :]
    valued = select(row_id).join(attr, (attr.instance_id == instance_id) & (attr.name == name)).where(*where)
    has_it = exists().where(attr.instance_id == instance_id, attr.name == name)
    bare = select(row_id).where(*where, ~has_it)
    columns: list[Any] = [attr.value, attr.instance_id, *ties]
    keyed = [c.desc() if order.descending else c.asc() for c in columns]
    sorted_valued = valued.order_by(*keyed)
    sorted_bare = bare.order_by(*keyed[2:])
    first, second = (sorted_bare, sorted_valued) if order.descending else (sorted_valued, sorted_bare)
    wanted = list(session.scalars(first.offset(offset).limit(limit)))
    if len(wanted) == limit:
        return wanted
    rest = 0
    if not wanted:  # the page starts past the first part: how long is it?
        counted = session.scalar(select(func.count()).select_from(valued.subquery())) or 0
        rest = offset - (total - counted if order.descending else counted)
    return wanted + list(session.scalars(second.offset(max(0, rest)).limit(limit - len(wanted))))


def task_view(row: UserTask, process_key: str, business_key: str | None, now: datetime) -> TaskView:
    """A user task row as a view (overdue: ready and due before ``now``)."""
    overdue = bool(row.due_at and row.status == "ready" and row.due_at < now)
    return TaskView(
        row.id, row.instance_id, process_key, business_key, row.element_id, row.name, row.lane, row.form,
        row.status, row.created_at, row.due_at, overdue, row.claimed_by, row.completed_by, row.completed_at,
    )  # fmt: skip


def user_tasks(session: Session, specs: SpecCache) -> list[tuple[str | None, str]]:
    """(lane, name) of every user task of the deployed versions, for a list's filter choices."""
    return sorted(
        {(lane, name) for version in _deployed(session, specs) for lane, name in version.tasks},
        key=lambda pair: (pair[0] or "", pair[1]),
    )


def process_versions(session: Session) -> list[tuple[str, int]]:
    """(process key, version) of every deployed version, for a list's filter choices."""
    query = select(ProcessVersion.process_key, ProcessVersion.version).order_by(
        ProcessVersion.process_key, ProcessVersion.version
    )
    return [(key, version) for key, version in session.execute(query)]


@dataclass(frozen=True)
class _Waits:
    """What instances of one version can wait at: elements, and user tasks as (lane, name)."""

    elements: frozenset[str]
    tasks: frozenset[tuple[str | None, str]]
    names: Mapping[str, str]  # every named element (and the process key) by id: its name


_DEPLOYED: WeakKeyDictionary[SpecCache, dict[int, _Waits]] = WeakKeyDictionary()


def wait_elements(session: Session, specs: SpecCache) -> list[str]:
    """Every element an instance of a deployed version can wait at (a user task, a timer, a message): for
    a list's filter choices, without reading where every instance waits."""
    return sorted({e for version in _deployed(session, specs) for e in version.elements})


def _deployed(session: Session, specs: SpecCache) -> list[_Waits]:
    """The waits of every deployed version, read from its spec once per version (versions never change)."""
    return [_version(session, specs, version_id) for version_id in session.scalars(select(ProcessVersion.id))]


def _version(session: Session, specs: SpecCache, version_id: int) -> _Waits:
    known = _DEPLOYED.setdefault(specs, {})
    if version_id not in known:
        spec, subprocesses = specs.blueprint(session, specs.version(session, version_id)).instantiate()
        known[version_id] = _waits([spec, *(subprocesses[k] for k in subprocesses)])
    return known[version_id]


def version_names(session: Session, specs: SpecCache, version_id: int) -> dict[str, str]:
    """The name of every element (and the process) of one deployed version by its id (read once)."""
    return dict(_version(session, specs, version_id).names)


def element_names(session: Session, specs: SpecCache) -> dict[str, str]:
    """The name of every element (and process) of the deployed versions by its id; a later version's
    name wins (for lists that say where instances wait in words)."""
    names: dict[str, str] = {}
    for version in _deployed(session, specs):
        names.update(version.names)
    return names


def _waits(specs: list[Any]) -> _Waits:
    elements, tasks = set(), set()
    names: dict[str, str] = {}
    for spec in specs:
        if getattr(spec, "name", None) and getattr(spec, "description", None):
            names[str(spec.name)] = str(spec.description)
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id and getattr(task_spec, "bpmn_name", None):
                names[str(bpmn_id)] = str(task_spec.bpmn_name)
            event = getattr(task_spec, "event_definition", None)
            parts = list(getattr(event, "event_definitions", None) or [event]) if event is not None else []
            manual = bool(getattr(task_spec, "manual", False))
            if bpmn_id and (
                manual or any(isinstance(e, TimerEventDefinition | MessageEventDefinition) for e in parts)
            ):
                elements.add(str(bpmn_id))
            if bpmn_id and manual:
                tasks.add(
                    (getattr(task_spec, "lane", None), str(getattr(task_spec, "bpmn_name", None) or bpmn_id))
                )
    return _Waits(frozenset(elements), frozenset(tasks), names)


# ------------------------------------------------------------------------------------------ helpers


def _within(offset: int, limit: int, total: int) -> int:
    """The offset of the page to show: ``offset`` rounded down to a page, at most the last page."""
    last = max(0, (total - 1) // limit * limit)
    return min(max(0, offset) // limit * limit, last)


def _match_conditions(match: Match, instance_id: Any, business_key: Any) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for name, value in match.attributes.items():
        found = select(InstanceAttribute.instance_id).where(
            InstanceAttribute.name == name, InstanceAttribute.value == value
        )
        conditions.append(instance_id.in_(found))
    if match.contains is not None:
        name, text = match.contains
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = select(InstanceAttribute.instance_id).where(
            InstanceAttribute.name == name, InstanceAttribute.value.ilike(pattern, escape="\\")
        )
        conditions.append(instance_id.in_(found))
    if match.business_keys is not None:
        keys = list(match.business_keys)
        if business_key is None:  # a list of tasks: their instances with these keys
            found = select(ProcessInstance.id).where(ProcessInstance.business_key.in_(keys))
            conditions.append(instance_id.in_(found))
        else:
            conditions.append(business_key.in_(keys))
    return conditions


def _scope_condition(
    scope: tuple[Match, ...] | None, instance_id: Any, business_key: Any
) -> list[ColumnElement[bool]]:
    """The instances one of ``scope`` finds (none when it is empty; no condition when it is None)."""
    if scope is None:
        return []
    parts = [and_(true(), *_match_conditions(m, instance_id, business_key)) for m in scope]
    return [or_(false(), *parts)]


def _instance_conditions(query: InstanceQuery) -> list[ColumnElement[bool]]:
    conditions = _match_conditions(query.match, ProcessInstance.id, ProcessInstance.business_key)
    conditions += _scope_condition(query.scope, ProcessInstance.id, ProcessInstance.business_key)
    if query.status:
        conditions.append(ProcessInstance.status == query.status)
    if query.process_key:
        conditions.append(ProcessInstance.process_key == query.process_key)
    if query.version is not None:
        versions = select(ProcessVersion.id).where(ProcessVersion.version == query.version)
        conditions.append(ProcessInstance.process_version_id.in_(versions))
    if query.waiting_at and query.waiting_since is None:  # with a since, the stays below say it all
        conditions.append(ProcessInstance.id.in_(queries.waiting_at_element(*query.waiting_at)))
    if query.not_waiting_at:
        conditions.append(ProcessInstance.id.not_in(queries.waiting_at_element(*query.not_waiting_at)))
    if query.overdue_at is not None:
        conditions.append(ProcessInstance.due_at < query.overdue_at)
    if query.started is not None:
        conditions += within(ProcessInstance.created_at, query.started)
    if query.waiting_since is not None:
        since = within(ElementStay.entered_at, query.waiting_since)
        stays = select(ElementStay.instance_id).where(
            ElementStay.left_at.is_(None), ElementStay.top_element_id.in_(query.waiting_at), *since
        )
        conditions.append(ProcessInstance.id.in_(stays))
    if query.timer is not None:
        conditions.append(ProcessInstance.id.in_(queries.timers_due(query.timer)))
    if query.incident_at is not None:
        open_incidents = select(Incident.instance_id).where(
            Incident.status == "open", Incident.element_id == query.incident_at
        )
        conditions.append(ProcessInstance.id.in_(open_incidents))
    if query.has_field is not None:
        fields = select(InstanceAttribute.instance_id).where(InstanceAttribute.name == query.has_field)
        conditions.append(ProcessInstance.id.in_(fields))
    return conditions


def _task_conditions(query: TaskQuery) -> list[ColumnElement[bool]]:
    conditions = [UserTask.status == "ready"]
    conditions += _match_conditions(query.match, UserTask.instance_id, None)
    conditions += _scope_condition(query.scope, UserTask.instance_id, None)
    if query.lane is not None:
        conditions.append(UserTask.lane == query.lane)
    if query.process_key:
        of_process = select(ProcessInstance.id).where(ProcessInstance.process_key == query.process_key)
        conditions.append(UserTask.instance_id.in_(of_process))
    if query.name:
        conditions.append(UserTask.name == query.name)
    if query.overdue_at is not None:
        conditions.append(UserTask.due_at < query.overdue_at)
    return conditions


def _instance_columns() -> dict[str, Any]:
    return {
        "id": ProcessInstance.id,
        "key": ProcessInstance.business_key,
        "process": ProcessInstance.process_key,
        "status": ProcessInstance.status,
        "created": ProcessInstance.created_at,
        "updated": ProcessInstance.updated_at,
        "due": ProcessInstance.due_at,
    }


def _task_columns() -> dict[str, Any]:
    return {
        "due": UserTask.due_at,
        "created": UserTask.created_at,
        "name": UserTask.name,
        "lane": UserTask.lane,
        "key": ProcessInstance.business_key,
        "process": ProcessInstance.process_key,
        "claimed_by": UserTask.claimed_by,
    }


def _order_by(
    statement: Select[Any], columns: dict[str, Any], order: Order, ties: list[Any], instance_id: Any
) -> Any:
    """Sort by the order's column (an unknown key sorts by the first column), then by ``ties``; NULLs last."""
    if order.key.startswith(FIELD):
        value = aliased(InstanceAttribute)
        statement = statement.outerjoin(
            value, (value.instance_id == instance_id) & (value.name == order.key[len(FIELD) :])
        )
        column = value.value
    else:
        column = columns.get(order.key, next(iter(columns.values())))
    keys = [column, *ties]
    if order.descending:
        return statement.order_by(*(k.desc().nulls_first() for k in keys))
    return statement.order_by(*(k.asc().nulls_last() for k in keys))
