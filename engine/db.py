"""Open the database: an SQLAlchemy engine and session factory, and the Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine as DbEngine
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .errors import InvalidInput

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_db(url: str, **kwargs: Any) -> DbEngine:
    """Create the engine; SQLite gets WAL, a busy timeout and foreign keys; no database gets a NUL."""
    db = _make_db(url, **kwargs)
    event.listen(db, "before_cursor_execute", _refuse_nul)
    return db


def _refuse_nul(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """Refuse text with a NUL character before it reaches the database, as bad input: PostgreSQL cannot
    store or even compare it (a business key, a message name, a username, a search), and would answer
    with an error that is no one's fault but the input's."""
    rows = parameters if executemany and isinstance(parameters, list | tuple) else [parameters]
    for row in rows:
        if isinstance(row, dict):
            values: Any = row.values()
        elif isinstance(row, list | tuple):
            values = row
        else:
            values = (row,)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise InvalidInput("text with a NUL character (\\0) cannot be stored or searched for")


def _make_db(url: str, **kwargs: Any) -> DbEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(db, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; take it over so a write transaction starts
        # at BEGIN IMMEDIATE when we ask for a write lock (see runner.lock_instance).
        @event.listens_for(db, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(db, "begin")
        def _begin(conn: Any) -> None:
            # An engine run asks for the write lock up front (execution option ``kmop_write``): two runs
            # then queue behind each other instead of failing when both try to upgrade a read lock.
            immediate = conn.get_execution_options().get("kmop_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return db
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(db: DbEngine) -> sessionmaker[Session]:
    return sessionmaker(db, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration (``kmop init``); running it again changes nothing."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
