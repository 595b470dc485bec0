"""The base of the engine facade: settings, database, runtime, transactions and the shared view helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import Engine as DbEngine
from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import clock, messages, queries, runner, wakeups
from ..config import Settings
from ..db import make_db, session_factory, upgrade
from ..errors import NotFound
from ..models import ProcessInstance, UserTask, is_id
from ..services import ServiceRegistry
from ..views import InstanceSummary, TaskView

_WRITE_INTENT: ContextVar[bool | None] = ContextVar("kmop_write_intent", default=None)


class EngineBase:
    """What every part of the facade stands on; ``engine.api.Engine`` adds the mixins."""

    def __init__(
        self,
        settings: Settings | None = None,
        registry: ServiceRegistry | None = None,
        *,
        install_clock: bool = True,
    ) -> None:
        """``install_clock=False``: leave the process-wide clock alone; the caller runs every call inside
        ``clock.using(engine.clock)`` (a try-out's scratch engine, next to the live one)."""
        self.settings = settings or Settings.from_env()
        self.db: DbEngine = make_db(self.settings.database_url)
        self._sessions = session_factory(self.db)
        self.runtime = runner.Runtime(
            self.settings, registry or ServiceRegistry(), send_message=messages.send
        )
        self.runtime.workflows.attach(self._sessions)
        self.wakeups = wakeups.Announcer(self._sessions)  # tells timer workers of near wake-ups written
        self.clock: clock.Clock = (
            clock.SimulatedClock(self.db) if self.settings.clock == "simulated" else clock.SystemClock()
        )
        if install_clock:
            clock.install(self.clock)

    # ------------------------------------------------------------------------------- lifecycle

    def init_db(self) -> None:
        """Create or upgrade the schema (Alembic)."""
        upgrade(self.settings.database_url)
        if isinstance(self.clock, clock.SimulatedClock):
            self.clock.now()  # fixes the simulated "now" at first use, outside any other transaction

    @contextlib.contextmanager
    def transaction(self, write: bool | None = None) -> Iterator[Session]:
        """Open a session in a transaction: committed at the end, rolled back on any error.

        ``write`` (default: the intent set with ``intent``, if any) says what it is for:

        - ``True``: it reads and then writes (a web form handler that checks before it acts). It takes
          SQLite's write lock at once (``BEGIN IMMEDIATE``): a transaction that read first and asked for
          the lock later would be refused at once, whatever the busy timeout, when another writer got
          in between.
        - ``False``: it only reads. It takes no lock and may not write: PostgreSQL refuses its writes, and
          the engine refuses to start a run in it.
        - ``None``: the engine's own calls take the write lock when they start, as long as nothing was
          read before them in the transaction (every facade call that writes does so first).
        """
        if self.settings.replay:
            self.runtime.forget()  # every step as in a new process
        writes = _WRITE_INTENT.get() if write is None else write
        with self._sessions() as session, session.begin():
            session.info[runner.READ_ONLY] = writes is False
            if writes:
                runner.begin_write(session)
            elif writes is False and session.get_bind().dialect.name == "postgresql":
                session.execute(text("SET TRANSACTION READ ONLY"))
            yield session

    @staticmethod
    @contextlib.contextmanager
    def intent(write: bool | None) -> Iterator[None]:
        """Make ``write`` the default of every ``transaction()`` opened in this context (a web request
        that only reads opens read transactions)."""
        token = _WRITE_INTENT.set(write)
        try:
            yield
        finally:
            _WRITE_INTENT.reset(token)

    def close(self) -> None:
        self.db.dispose()

    @property
    def registry(self) -> ServiceRegistry:
        return self.runtime.registry

    # --------------------------------------------------------------------------------- helpers

    def _instance(self, session: Session, instance_id: int) -> ProcessInstance:
        inst = session.get(ProcessInstance, instance_id) if is_id(instance_id) else None
        if inst is None:
            raise NotFound(f"no process instance {instance_id}")
        return inst

    def _summary(self, session: Session, inst: ProcessInstance) -> InstanceSummary:
        return queries.summaries(session, self.runtime.specs, [inst])[0]

    def _task_view(self, session: Session, row: UserTask, now: datetime | None = None) -> TaskView:
        inst = session.get(ProcessInstance, row.instance_id)
        assert inst is not None
        now = now or clock.now()
        return TaskView(
            row.id,
            row.instance_id,
            inst.process_key,
            inst.business_key,
            row.element_id,
            row.name,
            row.lane,
            row.form,
            row.status,
            row.created_at,
            row.due_at,
            bool(row.due_at and row.status == "ready" and row.due_at < now),
            row.claimed_by,
            row.completed_by,
            row.completed_at,
        )
