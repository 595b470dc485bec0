"""Open the database: an SQLAlchemy engine and session factory, and the Alembic migrations."""

from __future__ import annotations

import select
from pathlib import Path
from time import monotonic
from typing import Any

from sqlalchemy import Engine as DbEngine
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DisconnectionError
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
    db = create_engine(url, **kwargs)
    _ping_when_in_doubt(db)
    return db


# A connection back in the pool for longer than this is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "kmop_idle_since"


def _ping_when_in_doubt(db: DbEngine) -> None:
    """Check a pooled connection before use only when it may be dead: it sat idle for a while, or the
    server has sent something since it was last used (a server that shuts down or ends the session says
    so, and the socket turns readable). A connection handed back a moment ago goes out unpinged: the
    ping of every checkout (``pool_pre_ping``) cost a round trip, and two autocommit switches, on every
    transaction. A dead connection is replaced by a fresh one, as with ``pool_pre_ping``."""

    @event.listens_for(db, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(db, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # a connection just made
            return
        if monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _server_spoke(dbapi_conn):
            return
        try:
            db.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


def _server_spoke(dbapi_conn: Any) -> bool:
    """True when the server sent something to an idle connection (a notice that it shuts down, an
    error that ended the session, a closed socket), without a round trip."""
    try:
        readable, _, _ = select.select([dbapi_conn.fileno()], [], [], 0)
    except Exception:  # no usable socket: let the ping tell
        return True
    return bool(readable)


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
