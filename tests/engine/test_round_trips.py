"""How many statements a run sends the database, and that pooled connections are checked only when in doubt.

Counts, never times: a statement that creeps back into every run shows here as a changed count.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text

from engine import clock
from engine import db as engine_db
from engine.api import Engine
from engine.config import Settings
from engine.models import ElementStay, MessageSubscription, ProcessInstance, WakeUp
from tests.conftest import REPLAY, make_engine

TEN_TASKS = Path(__file__).resolve().parents[2] / "bench" / "data" / "ten_tasks.bpmn"
TIMER_WAIT = TEN_TASKS.with_name("timer_wait.bpmn")


class At:
    """A clock standing at one moment."""

    simulated = False

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class Statements:
    """The statements an engine's connections execute, in order (the first words of each)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        self.pings = 0
        event.listen(engine.db, "before_cursor_execute", self._statement)
        dialect = engine.db.dialect
        ping = dialect.do_ping

        def counted_ping(dbapi_conn: Any) -> bool:
            self.pings += 1
            return bool(ping(dbapi_conn))

        setattr(dialect, "do_ping", counted_ping)  # noqa: B010 (a method of the instance, counted)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.replace("(", " ").split()
        verbs = [
            " ".join(words[i : i + (3 if w in ("INSERT", "DELETE") else 2)])
            for i, w in enumerate(words)
            if (w in ("INSERT", "UPDATE", "DELETE") and words[i - 1] != "FOR")
            or (w == "SELECT" and words[0] != "WITH")
        ]
        self.seen.append(" + ".join(verbs) if verbs else words[0])

    def clear(self) -> None:
        self.seen.clear()
        self.pings = 0


@pytest.fixture
def system_engine(db_url: str) -> Iterator[Engine]:
    """An engine on the system clock, as in production (the simulated clock reads "now" from the database)."""
    if REPLAY["on"]:
        pytest.skip("replay mode forgets what a process keeps in memory, and reads it again on every step")
    eng = Engine(Settings.from_env({}, database_url=db_url, clock="system"))
    eng.init_db()
    yield eng
    eng.close()


@pytest.fixture
def counted(system_engine: Engine) -> Iterator[Statements]:
    engine = system_engine
    with engine.transaction() as session:
        engine.deploy(session, [TEN_TASKS])
    with engine.transaction() as session:  # the first start reads and parses the version: not counted
        engine.start(session, "ten_tasks", {"n": 0})
    yield Statements(engine)


def test_a_start_of_the_ten_task_process_sends_three_statements(
    system_engine: Engine, counted: Statements
) -> None:
    engine = system_engine
    for n in range(1, 4):
        counted.clear()
        with engine.transaction() as session:
            summary = engine.start(session, "ten_tasks", {"n": n})
        assert summary.status == "completed"
        expected = [
            "SELECT process_version.id",  # the latest version of the key
            "INSERT INTO process_instance",
            # state, status and search fields, guarded by the version, with every entry of the history
            "INSERT INTO history + UPDATE process_instance",
        ]
        if engine.db.dialect.name == "sqlite":  # no round trips to save: the history goes on its own
            expected[2:] = ["INSERT INTO history", "UPDATE process_instance"]
            expected.insert(0, "BEGIN")  # BEGIN IMMEDIATE: the write lock up front
        assert counted.seen == expected
        assert counted.pings == 0  # a connection handed back a moment ago is not pinged


def test_a_connection_idle_for_a_while_is_pinged_first(
    system_engine: Engine, counted: Statements, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = system_engine
    monkeypatch.setattr(engine_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.transaction() as session:
        engine.start(session, "ten_tasks", {"n": 1})
    assert counted.pings == (0 if engine.db.dialect.name == "sqlite" else 1)


@pytest.mark.postgres
def test_a_pooled_connection_the_server_ended_is_replaced(pg_url: str) -> None:
    eng = make_engine(pg_url)
    try:
        with eng.transaction() as session:
            before = session.scalar(text("SELECT pg_backend_pid()"))
        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
                gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
                while not conn.scalar(gone, {"pid": before}):  # until the backend has exited
                    time.sleep(0.01)
        finally:
            admin.dispose()
        with eng.transaction() as session:  # no error: the dead connection is swapped for a new one
            after = session.scalar(text("SELECT pg_backend_pid()"))
        assert after != before
    finally:
        eng.close()


def test_a_lot_of_due_timers_that_end_their_instances_costs_two_statements_each(
    system_engine: Engine,
) -> None:
    """The worker locks and reads due instances a lot at a time, in one statement; then each one woken has
    its open tasks looked up, and is saved. On PostgreSQL the save carries its history, the deletes of its
    wake-up, subscriptions and task rows and the closing of its stays; on SQLite those run on their own.
    Nothing is left behind."""
    engine = system_engine
    due = datetime(2030, 1, 1, tzinfo=UTC)
    with engine.transaction() as session:
        engine.deploy(session, [TIMER_WAIT])
    with clock.using(At(due - timedelta(hours=1))), engine.transaction() as session:
        ids = [engine.start(session, "timer_wait", {"due_at": due.isoformat()}).id for _ in range(5)]
    counted = Statements(engine)
    with clock.using(At(due + timedelta(seconds=1))):
        assert engine.fire_due() == 5
    # the lot: those of the due instances still due and free, locked in one statement
    claim = counted.seen.index("SELECT process_instance.id, + SELECT wake_up.id")
    per_instance = counted.seen[claim + 1 :]
    if engine.db.dialect.name == "postgresql":
        one = [
            "SELECT user_task.id,",
            "INSERT INTO history + DELETE FROM instance_task_state + UPDATE element_stay"
            " + DELETE FROM wake_up + DELETE FROM message_subscription + UPDATE process_instance",
        ]
    else:
        one = [  # the same riders, run one by one just before the save (no round trips on SQLite)
            "SELECT user_task.id,",
            "INSERT INTO history",
            "DELETE FROM instance_task_state",
            "UPDATE element_stay",
            "DELETE FROM wake_up",
            "DELETE FROM message_subscription",
            "UPDATE process_instance",
        ]
    assert per_instance[: len(one) * 5] == one * 5
    with engine.transaction(write=False) as session:
        statuses = session.scalars(select(ProcessInstance.status).where(ProcessInstance.id.in_(ids))).all()
        assert statuses == ["completed"] * 5
        assert session.scalar(select(func.count()).select_from(WakeUp)) == 0
        assert session.scalar(select(func.count()).select_from(MessageSubscription)) == 0
        open_stays = select(func.count()).select_from(ElementStay).where(ElementStay.left_at.is_(None))
        assert session.scalar(open_stays) == 0
        closed = session.scalars(select(ElementStay.seconds).where(ElementStay.instance_id.in_(ids))).all()
        assert len(closed) == 5 and all(s is not None and s >= 3600 for s in closed)
