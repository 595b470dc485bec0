"""Random walks: every diagram driven by random legal steps, once in memory and once reloaded at every step.

For each diagram of ``bpmn/`` (walks start a registration; the starter, conditional and renewal
procedures are the processes it calls) and each runnable public conformance diagram, Hypothesis draws
walks of legal actions: complete a ready user task with data its form accepts, deliver a message a case
waits for (its payload drawn too, so some are refused), move the clock just past the next timer, retry
an incident. Each walk runs on two databases in lockstep: one engine in the normal mode (workflows kept
in memory between steps) and one in the replay mode (every step as in a new process). At every step both
must offer the same actions and answer alike; at the end, statuses, data, the path of completed
elements, timers, subscriptions, incidents, the register and the outbox must be equal.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import MetaData, create_engine, select, text, update

from engine import clock
from engine.api import Engine
from engine.config import PROJECT_ROOT, Settings
from engine.errors import KmopError
from engine.models import ClockState, Incident, MessageSubscription, UserTask, WakeUp
from engine.services import ServiceContext, ServiceRegistry
from engine.specs import SpecCache
from tasks import register
from tasks.models import OutboxMessage
from tasks.registry import default_registry
from tests.conftest import PG_ADMIN_URL, VENDORED
from tests.procedures.conftest import EXEMPT, MODULES, START, application

MAX_STEPS = 16
WALKS: list[tuple[str, str, int]] = []  # (subject, database, steps) of every walk run in this process
UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LETTERS = st.characters(min_codepoint=32, max_codepoint=0x24F, exclude_characters="\x7f")
TEXT = st.text(LETTERS, max_size=12)

# ------------------------------------------------------------------------------------- what to walk


@dataclass(frozen=True)
class Subject:
    """A diagram to walk: its files, the process started, and how to draw its inputs."""

    name: str
    files: tuple[Path, ...]
    process: str
    walks: int
    start: st.SearchStrategy[dict[str, Any]] = st.just({})
    task_data: Callable[[str, dict[str, Any] | None], st.SearchStrategy[dict[str, Any]]] = (
        lambda element, form: st.just({})
    )
    payload: Callable[[str, str], st.SearchStrategy[dict[str, Any]]] = lambda name, key: st.just({})
    services: Callable[[ServiceRegistry], None] = lambda registry: None


def from_form(form: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any]]:
    """Data a JSON Schema form accepts (the kinds of field kmop's forms use); optional fields come and go."""
    if not form:
        return st.just({})
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, spec in form.get("properties", {}).items():
        if "const" in spec:
            fields[name] = st.just(spec["const"])
        elif "enum" in spec:  # the first choice (approve, say) more often, so walks get further
            fields[name] = st.sampled_from(spec["enum"][:1] * 3 + spec["enum"])
        elif spec.get("type") == "boolean":
            fields[name] = st.booleans()
        elif spec.get("type") == "integer":
            fields[name] = st.integers(spec.get("minimum", 0), spec.get("maximum", 100))
        else:
            low, high = spec.get("minLength", 0), min(spec.get("maxLength", 30), 30)
            fields[name] = st.text(LETTERS, min_size=low, max_size=max(low, high))
    required = set(form.get("required", []))
    optional = [n for n in fields if n not in required]
    drawn = st.fixed_dictionaries(
        {n: s for n, s in fields.items() if n in required},
        optional={n: fields[n] for n in optional},
    )
    if "allOf" not in form:
        return drawn
    validator = Draft202012Validator(form)  # conditions between fields (a refusal needs its reason)
    return drawn.filter(validator.is_valid)


def registration_start() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda services, kind, starter: application(services=services, provider_type=kind, starter=starter),
        st.sampled_from([["training"], ["advice"], ["training", "advice"]]),
        st.sampled_from(["private", "private", "public"]),
        st.booleans(),
    )


def registration_payload(name: str, key: str) -> st.SearchStrategy[dict[str, Any]]:
    if name == "renewal_requested":
        return st.fixed_dictionaries(
            {
                "application_id": st.just(key),
                "audit_bureau": st.sampled_from(["dnv", "kiwa", "lrqa", "nope"]),
                "audit_hours": st.integers(0, 40),
                "requested_by": st.just("walker"),
            }
        )
    letters = st.sampled_from("TTTTTTTTVVVVVVVVGGB")  # a B (negative) now and then, a G (conditional) more
    module = st.fixed_dictionaries({"conformity": letters, "demonstrability": letters})
    expected = {"full": MODULES, "limited": tuple(m for m in MODULES if m not in EXEMPT)}

    def scored(audit_type: str) -> st.SearchStrategy[dict[str, Any]]:
        valid = expected.get(audit_type)
        modules = st.just(valid) if valid else st.lists(st.sampled_from(MODULES), min_size=1, unique=True)
        modules = st.one_of(
            modules, modules, modules, st.lists(st.sampled_from(MODULES), min_size=1, unique=True)
        )
        return modules.flatmap(lambda chosen: st.fixed_dictionaries({m: module for m in chosen}))

    return st.sampled_from(["full", "full", "full", "limited", "follow_up"]).flatmap(
        lambda audit_type: st.fixed_dictionaries(
            {
                "application_id": st.just(key),
                "report_id": st.sampled_from(["R-1", "R-2", "R-3", "R-4"]),
                "audit_type": st.just(audit_type),
                "scores": scored(audit_type),
            },
            optional={
                "follow_up_deadline": st.dates(START.date(), START.date() + timedelta(days=900)).map(str)
            },
        )
    )


def stand_in_services(registry: ServiceRegistry) -> None:
    def pay_rate(ctx: ServiceContext, api_key: str, employee_id: int, subdomain: str) -> dict[str, Any]:
        """Stand-in for BambooHR."""
        return {"amount": "65000.00", "employee_id": employee_id}

    def temperature(ctx: ServiceContext, zipcode: int) -> dict[str, Any]:
        """Stand-in for a weather service."""
        return {"zipcode": zipcode, "temperature_f": 71}

    registry.register("bamboohr/GetPayRate", pay_rate)
    registry.register("weather/CurrentTemp", temperature)


def conformance(name: str, process: str, walks: int = 24, **inputs: Any) -> Subject:
    files = tuple(VENDORED / f for f in name.split("+"))
    return Subject(name.split("+")[0].split(".")[0], files, process, walks, **inputs)


def _task_data(fixed: dict[str, st.SearchStrategy[dict[str, Any]]]) -> Any:
    return lambda element, form: fixed.get(element, st.just({}))


BPMN = tuple(sorted((PROJECT_ROOT / "bpmn").glob("*")))
SUBJECTS = [
    Subject(
        "registration",
        BPMN,
        "registration",
        walks=20,
        start=registration_start(),
        task_data=lambda element, form: from_form(form),
        payload=registration_payload,
    ),
    conformance("Timer-Intermediate.bpmn20.xml", "sid-909dfba4-15dd-47b3-b7d4-88330891429a", walks=6),
    conformance("boundary_timer_on_task.bpmn", "test_timer"),
    conformance(
        "Messages.bpmn20.xml",
        "sid-4a1f10ab-316f-4cd8-836d-65aa3d178fff",
        payload=lambda name, key: st.fixed_dictionaries({"note": TEXT}),
    ),
    conformance(
        "Message-Interrupts.bpmn20.xml",
        "sid-db1e1749-03ee-46aa-8674-bba07b1bd167",
    ),
    conformance(
        "event-gateway.bpmn",
        "Process_0pvx19v",
        payload=lambda name, key: st.fixed_dictionaries({"via": st.just(name)}),
    ),
    conformance(
        "human_task_metadata.bpmn",
        "Process_human_task_metadata",
        task_data=lambda element, form: st.fixed_dictionaries({"remark": TEXT}),
    ),
    conformance(
        "parallel_multiinstance_cardinality.bpmn",
        "main",
        walks=20,
        task_data=lambda element, form: st.one_of(
            st.fixed_dictionaries({"output_item": st.integers(0, 9) | TEXT}), st.just({})
        ),
    ),
    conformance("event-subprocess.bpmn", "main"),
    conformance(
        "inclusive_gateway.bpmn",
        "main",
        task_data=lambda element, form: st.fixed_dictionaries(
            {"u": st.integers(0, 2), "v": st.integers(0, 2), "w": st.integers(0, 2)}
        ),
    ),
    conformance("business_rule_task.bpmn+business_rules.dmn", "Process_bd2e724", walks=4),
    conformance("service_task.bpmn", "service_task_example1", walks=4, services=stand_in_services),
    conformance(
        "correlation.bpmn",
        "proc_1",
        walks=20,
        task_data=lambda element, form: st.fixed_dictionaries(
            {"task_num": st.integers(1, 3), "task_name": TEXT}
        ),
        payload=lambda name, key: st.fixed_dictionaries(
            {"init_id": st.integers(1, 3), "response": st.sampled_from(["accepted", "refused"])}
        ),
    ),
]

# ---------------------------------------------------------------------------------------- databases


@dataclass
class Templates:
    """One migrated database per subject with its files deployed and the clock at START, copied per walk."""

    folder: Path
    made: dict[tuple[str, str], str] = field(default_factory=dict)
    pg_names: list[str] = field(default_factory=list)
    pg_pairs: dict[str, tuple[str, str]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def url(self, db: str, subject: Subject) -> str:
        found = self.made.get((db, subject.name))
        if found is None:
            found = self.made[(db, subject.name)] = self._make(db, subject)
        return found

    def _make(self, db: str, subject: Subject) -> str:
        if db == "sqlite":
            url = f"sqlite:///{self.folder / f'{subject.name}.sqlite3'}"
        else:
            name = f"kmop_walk_{uuid.uuid4().hex[:10]}"
            _admin(f'CREATE DATABASE "{name}"')
            self.pg_names.append(name)
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        engine = Engine(
            Settings.from_env({}, database_url=url, clock="simulated"), registry=_registry(subject)
        )
        engine.init_db()  # migrates, and fixes the simulated clock's row
        with engine.db.begin() as conn:
            conn.execute(update(ClockState).values(now=START))
        with engine.transaction() as session:
            engine.deploy(session, list(subject.files))
        engine.close()
        return url

    def pair(self, db: str, subject: Subject) -> tuple[str, str]:
        """Two databases as the template is, for the two sides of one walk."""
        source = self.url(db, subject)
        if db == "sqlite":
            copies = []
            for _ in range(2):
                target = self.folder / f"walk-{uuid.uuid4().hex[:8]}.sqlite3"
                shutil.copyfile(source.split("///", 1)[1], target)
                copies.append(f"sqlite:///{target}")
            return copies[0], copies[1]
        # On PostgreSQL a database made per walk costs seconds: two per subject, emptied between walks.
        found = self.pg_pairs.get(subject.name)
        if found is None:
            names = [f"kmop_w_{uuid.uuid4().hex[:12]}" for _ in range(2)]
            for name in names:
                _admin(f'CREATE DATABASE "{name}" TEMPLATE "{source.rsplit("/", 1)[1]}"')
                self.pg_names.append(name)
            base = PG_ADMIN_URL.rsplit("/", 1)[0] + "/"
            found = self.pg_pairs[subject.name] = (base + names[0], base + names[1])
            self.snapshots[subject.name] = _snapshot(source)
        else:
            for url in found:
                _restore(url, self.snapshots[subject.name])
        return found

    def release(self, db: str, urls: tuple[str, str]) -> None:
        if db == "sqlite":
            for url in urls:
                Path(url.split("///", 1)[1]).unlink(missing_ok=True)


STATIC = {"alembic_version", "deployment", "definition_file", "process_version", "audit_bureau"}


def _snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of every table a walk may change (most are empty), as the template has them."""
    db = create_engine(url)
    meta = MetaData()
    meta.reflect(db)
    with db.connect() as conn:
        rows = {
            name: [dict(r._mapping) for r in conn.execute(table.select())]
            for name, table in meta.tables.items()
            if name not in STATIC
        }
    db.dispose()
    return rows


_REFLECTED: dict[str, tuple[Any, MetaData, list[str]]] = {}


def _restore(url: str, snapshot: dict[str, list[dict[str, Any]]]) -> None:
    """Put a database back as the snapshot has it: rows deleted child tables first (on tables this small
    much faster than TRUNCATE), id sequences restarted, the snapshot's rows inserted again."""
    if url not in _REFLECTED:
        db = create_engine(url)
        meta = MetaData()
        meta.reflect(db)
        with db.connect() as conn:
            sequences = [
                name
                for table in snapshot
                for column in ("id",)
                if column in meta.tables[table].c
                and (name := conn.scalar(text(f"SELECT pg_get_serial_sequence('\"{table}\"', '{column}')")))
            ]
        _REFLECTED[url] = (db, meta, sequences)
    db, meta, sequences = _REFLECTED[url]
    with db.begin() as conn:
        for table in reversed(meta.sorted_tables):
            if table.name in snapshot:
                conn.execute(table.delete())
        for sequence in sequences:
            conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        for table in meta.sorted_tables:
            if snapshot.get(table.name):
                conn.execute(table.insert(), snapshot[table.name])


def _admin(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def _registry(subject: Subject) -> ServiceRegistry:
    registry = default_registry()
    subject.services(registry)
    return registry


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    found = Templates(tmp_path_factory.mktemp("walks"))
    yield found
    for db, _, _ in _REFLECTED.values():
        db.dispose()
    _REFLECTED.clear()
    for name in found.pg_names:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------- a side


@dataclass(frozen=True, order=True)
class Action:
    kind: str  # complete | message | timer | retry
    target: str  # element id or message name
    detail: str = ""  # which of several equal tasks (their data), the key of a message


class Side:
    """One engine on one database, driven like its users would."""

    def __init__(self, url: str, subject: Subject, replay: bool, specs: SpecCache) -> None:
        settings_ = Settings.from_env({}, database_url=url, clock="simulated", replay=replay)
        self.engine = Engine(settings_, registry=_registry(subject))
        self.engine.runtime.specs = specs  # parsed once per side for every walk of the subject
        self.subject = subject

    def close(self) -> None:
        self.engine.close()

    def start(self, data: dict[str, Any]) -> str:
        return self._answer(lambda s: self.engine.start(s, self.subject.process, data, business_key="WALK-1"))

    def actions(self) -> list[tuple[Action, Any]]:
        """The legal actions now, in an order both sides agree on, each with what it acts on (read from
        kmop's own tables, as its inbox and worker do)."""
        found: list[tuple[Action, Any]] = []
        with self.engine.transaction(write=False) as session:
            ready = session.scalars(select(UserTask).where(UserTask.status == "ready")).all()
            shared = Counter(t.element_id for t in ready)
            for task in ready:
                # Equal tasks of one element (a multi-instance's) are told apart by their data.
                data = self.engine.task_data(session, task.id) if shared[task.element_id] > 1 else {}
                found.append((Action("complete", task.element_id, json.dumps(data, sort_keys=True)), task.id))
            for sub in session.scalars(select(MessageSubscription)):
                found.append((Action("message", sub.message_name, sub.correlation_key or ""), None))
            for incident in session.scalars(select(Incident).where(Incident.status == "open")):
                found.append((Action("retry", incident.element_id), incident.id))
            timers = [w.due_at for w in session.scalars(select(WakeUp).where(WakeUp.kind == "timer"))]
            if timers:
                found.append((Action("timer", "next"), min(timers)))
        unique: dict[Action, Any] = {}
        for action, target in sorted(found, key=lambda pair: pair[0]):
            unique.setdefault(action, target)
        return list(unique.items())

    def form(self, task_id: str) -> dict[str, Any] | None:
        with self.engine.transaction(write=False) as session:
            return self.engine.task_form(session, task_id)[1]

    def apply(self, action: Action, target: Any, payload: dict[str, Any], step: int) -> str:
        if action.kind == "complete":
            return self._answer(lambda s: self.engine.complete(s, target, payload, actor="walker"))
        if action.kind == "message":
            message_id = payload.pop("_id", f"walk-{step}")
            return self._answer(
                lambda s: self.engine.message(s, action.target, action.detail, payload, message_id, "walker")
            )
        if action.kind == "retry":
            return self._answer(lambda s: self.engine.retry(s, target, actor="walker"))
        # To the next due moment exactly (a timer fires at its due time): the clock is one for the whole
        # process, so the side that moves second finds it there already and fires the same timers.
        self.engine.advance_clock(max(target, clock.now()))
        return "ok"

    def _answer(self, call: Callable[[Any], Any]) -> str:
        try:
            with self.engine.transaction() as session:
                call(session)
        except KmopError as exc:
            return f"{type(exc).__name__}: {UUIDS.sub('<id>', exc.message)}"
        return "ok"

    def observe(self) -> dict[str, Any]:
        """What a person could see of the walk's outcome, without the ids that differ per database."""
        seen: dict[str, Any] = {"now": clock.now().isoformat()}
        with self.engine.transaction(write=False) as session:
            for summary in sorted(self.engine.instances(session, limit=50), key=lambda i: i.id):
                d = self.engine.show(session, summary.id)
                seen[f"{d.process_key}/{d.business_key}/{d.id}"] = {
                    "status": d.status,
                    "data": d.data,
                    "path": [(h.event, h.element_id, h.at.isoformat(), _plain(h.detail)) for h in d.history],
                    "waiting": d.active_elements,
                    "tasks": sorted(
                        (t.element_id, t.name, t.lane, t.form, str(t.due_at)) for t in d.ready_tasks
                    ),
                    "timers": sorted((t.element_id, t.kind, t.due_at.isoformat()) for t in d.timers),
                    "subscriptions": sorted(
                        (s.element_id, s.message_name, s.correlation_key) for s in d.subscriptions
                    ),
                    "incidents": [(i.element_id, i.error_type, i.status) for i in d.incidents],
                }
            seen["register"] = [
                register.as_record(session, r) for r in register.all_registrations(session, None)
            ]
            seen["outbox"] = [
                (m.application_id, m.template, m.to_address, m.subject, m.body)
                for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            ]
        return seen


def _plain(detail: dict[str, Any]) -> Any:
    return json.loads(UUIDS.sub("<id>", json.dumps(detail, sort_keys=True, default=str)))


# ------------------------------------------------------------------------------------------ the walk


def walk(data: st.DataObject, subject: Subject, memory: Side, reloaded: Side) -> list[str]:
    """Drive both sides in lockstep with the same drawn actions; return the steps taken."""
    steps: list[str] = []
    start = data.draw(subject.start, label="start data")
    answers = (memory.start(start), reloaded.start(start))
    assert answers[0] == answers[1], answers
    steps.append(f"start: {answers[0]}")
    retried: Counter[str] = Counter()
    for step in range(MAX_STEPS):
        offered, mirrored = memory.actions(), reloaded.actions()
        assert [a for a, _ in offered] == [a for a, _ in mirrored], steps
        # An incident that fails again on every retry would fill the walk: two retries of one element.
        keep = [i for i, (a, _) in enumerate(offered) if a.kind != "retry" or retried[a.target] < 2]
        offered, mirrored = [offered[i] for i in keep], [mirrored[i] for i in keep]
        if not offered:
            break
        index = data.draw(st.integers(0, len(offered) - 1), label="action")
        action = offered[index][0]
        targets = (offered[index][1], mirrored[index][1])
        if action.kind == "complete":
            payload = data.draw(subject.task_data(action.target, memory.form(targets[0])), label="task data")
        elif action.kind == "message":
            payload = data.draw(subject.payload(action.target, action.detail), label="payload")
        else:
            payload = {}
        answers = (
            memory.apply(action, targets[0], dict(payload), step),
            reloaded.apply(action, targets[1], dict(payload), step),
        )
        steps.append(f"{action.kind} {action.target}: {answers[0]}")
        if action.kind == "retry":
            retried[action.target] += 1
        assert answers[0] == answers[1], steps
    return steps


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db", DATABASES)
@pytest.mark.parametrize("subject", SUBJECTS, ids=[s.name for s in SUBJECTS])
def test_walks_end_alike_in_memory_and_reloaded_at_every_step(
    subject: Subject, db: str, templates: Templates, record_property: Any
) -> None:
    if db == "postgres":
        try:
            _admin("SELECT 1")
        except Exception as exc:  # same rule as the other PostgreSQL tests: only CI insists
            if __import__("os").environ.get("CI"):
                raise
            pytest.skip(f"PostgreSQL not reachable: {exc}")
    specs = (SpecCache(), SpecCache(replay=True))  # nothing built from a parse is shared by the sides

    @settings(
        max_examples=subject.walks,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def one_walk(data: st.DataObject) -> None:
        urls = templates.pair(db, subject)
        if db == "sqlite" or not sides:
            sides[:] = [Side(urls[0], subject, replay=False, specs=specs[0])]
            sides.append(Side(urls[1], subject, replay=True, specs=specs[1]))
        memory, reloaded = sides
        for side in sides:
            side.engine.runtime.forget()  # the databases were put back: as if both restarted
        clock.install(reloaded.engine.clock)  # one clock for both sides: the one of this walk's databases
        try:
            steps = walk(data, subject, memory, reloaded)
            assert memory.observe() == reloaded.observe(), steps
            WALKS.append((subject.name, db, len(steps)))
        finally:
            if db == "sqlite":
                for side in sides:
                    side.close()
            templates.release(db, urls)

    sides: list[Side] = []  # on PostgreSQL both sides' engines serve every walk of the subject
    before = len(WALKS)
    try:
        one_walk()
    finally:
        for side in sides:
            side.close()
    ran = WALKS[before:]
    record_property("figures", f"{len(ran)} walks, {sum(steps for *_, steps in ran)} steps")
