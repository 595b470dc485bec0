"""What one run of an instance works with: the process-wide runtime, the run itself, the script engine
that routes service calls to the registry, and taking an instance's lock and loading its workflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, metrics, projections, state
from .blueprint import Blueprint
from .config import Settings
from .errors import KmopError
from .models import ProcessInstance, ServiceAttempt
from .sandbox import SandboxedEnvironment
from .services import ServiceContext, ServiceRegistry
from .specs import SpecCache
from .workflow_cache import WorkflowCache

MessageSender = Callable[..., Any]
"""``messages.send``, handed to the runtime by the engine (the runner cannot import what drives it)."""

ENDED = ("completed", "cancelled")


@dataclass
class Runtime:
    """What lives as long as the process: settings, services, and the parsed-spec cache."""

    settings: Settings
    registry: ServiceRegistry
    send_message: MessageSender  # how a message one instance throws reaches another
    specs: SpecCache = field(init=False)
    workflows: WorkflowCache = field(init=False)

    def __post_init__(self) -> None:
        self.specs = SpecCache(replay=self.settings.replay)
        self.workflows = WorkflowCache(self.settings.workflow_cache)

    def forget(self) -> None:
        """Empty every in-process cache but the parse caches, as a new process starts (replay mode).

        Kept: the parse results (blueprints are built from them anew) and the compiled diagram code (the
        sandbox's compile cache): both are pure functions of the deployed files and no run touches them.
        """
        self.specs.forget()
        self.workflows.clear()
        WAITING.clear()


@dataclass
class Run:
    """One engine run of one instance, inside the caller's transaction."""

    runtime: Runtime
    session: Session
    inst: ProcessInstance
    wf: BpmnWorkflow
    blueprint: Blueprint  # the version's specs: what the run's own spec copies are compared with
    now: datetime
    actor: str | None
    manual_retry: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    before: dict[Any, int] = field(default_factory=dict)  # task states when the run began
    recorded: set[Any] = field(default_factory=set)  # completed tasks already in the history
    thrown: list[Any] = field(default_factory=list)  # messages thrown for other instances
    fresh: bool = False  # the instance was created in this run: nothing is stored for it yet
    incident_opened: bool = False
    retry_scheduled: bool = False

    def log_fields(self, **more: Any) -> dict[str, Any]:
        """What a log line about this run may say (``extra=``): ids and keys, never the case's data."""
        inst = self.inst
        return {
            "instance_id": inst.id,
            "business_key": inst.business_key,
            "process_key": inst.process_key,
            **more,
        }

    def record(self, event: str, element: str | None = None, **detail: Any) -> None:
        entry = {"at": self.now, "event": event, "element_id": element, "actor": self.actor, "detail": detail}
        self.history.append(entry)


Action = Callable[[Run], None]


class KmopScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """The sandboxed script engine, with service calls routed to kmop's registry."""

    def __init__(self, run: Run) -> None:
        helpers: dict[str, object] = {"now": clock.now}
        super().__init__(
            environment=SandboxedEnvironment(
                helpers,
                run.runtime.settings.script_timeout_seconds,
                memory_mb=run.runtime.settings.script_memory_mb,
            )
        )
        self.run = run

    def call_service(self, task: Any, operation_name: str, operation_params: dict[str, Any], **_: Any) -> str:
        # Overridden because the library's own error path raises NameError and hides the real error.
        run = self.run
        op = run.runtime.registry.get(operation_name)
        if op is None:
            raise KmopError(f"service operator '{operation_name}' is not registered")
        key = idempotency_key(run.inst.id, task)
        attempt = run.session.get(ServiceAttempt, key)
        ctx = ServiceContext(
            idempotency_key=key,
            instance_id=run.inst.id,
            business_key=run.inst.business_key,
            operator=operation_name,
            attempt=(attempt.failures if attempt else 0) + 1,
            now=run.now,
            session=run.session,
        )
        params = {name: p["value"] for name, p in operation_params.items()}
        # A failed attempt must leave nothing behind: its writes roll back with the savepoint.
        with run.session.begin_nested(), metrics.service_call(operation_name):
            result = op.function(ctx, **params)
        return json.dumps(state.to_plain(result))


def idempotency_key(instance_id: int, task: Any) -> str:
    return f"{instance_id}:{task.id}"


READ_ONLY = "kmop_read_only"  # session.info flag: the transaction was opened to read only


def begin_write(session: Session) -> None:
    """On SQLite, open the transaction with the write lock, so that racing writers queue instead of
    failing when both try to upgrade a read lock. A no-op once the transaction has a connection.

    Refuses a transaction opened to read (``Engine.transaction(write=False)``): its writes would fail, or
    on SQLite race other writers.
    """
    if session.info.get(READ_ONLY):
        raise RuntimeError("a change was asked in a transaction opened to read: open it with write=True")
    if session.get_bind().dialect.name != "sqlite":
        return
    tx = session.get_transaction()
    if tx is None or not tx._connections:
        session.connection(execution_options={"kmop_write": True})


CLAIMED = "kmop_claimed"  # session.info: instances this transaction locked and read already, by id


def lock_instance(session: Session, instance_id: int, skip_locked: bool = False) -> ProcessInstance | None:
    """Take the instance's write lock; with ``skip_locked``, return None when another run holds it.

    An instance this transaction has just locked and read with others (a worker's lot of due instances,
    see ``timers.claim_many``) is taken from there once, without asking again."""
    claimed = session.info.get(CLAIMED)
    if claimed:
        inst: ProcessInstance | None = claimed.pop(instance_id, None)
        if inst is not None:
            return inst
    begin_write(session)
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    stmt = stmt.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def load(rt: Runtime, session: Session, inst: ProcessInstance) -> tuple[BpmnWorkflow, state.LoadedState]:
    """The instance's workflow, restored on its own copy of its version's spec."""
    version = rt.specs.version(session, inst.process_version_id)
    return state.load(session, inst.id, inst.skeleton, rt.specs.blueprint(session, version))


# What the last run of an instance left waiting, for the caller's summary without asking the database again.
WAITING: WeakKeyDictionary[ProcessInstance, tuple[int, projections.Waiting]] = WeakKeyDictionary()


def waiting_of(inst: ProcessInstance) -> projections.Waiting | None:
    """Where the instance waits, as its last run in this process saw it (None when unknown)."""
    seen = WAITING.get(inst)
    return seen[1] if seen is not None and seen[0] == inst.lock_version else None
