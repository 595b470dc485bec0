"""Say whether kmop is ready to serve: the database answers, its schema is current, and a worker lives.

``/readyz`` answers with these checks. Each says only ok or not and why in a few words (an error's class
name, two revisions, an age): nothing about cases or people, nothing about the connection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from . import clock
from .db import alembic_config

if TYPE_CHECKING:
    from .api import Engine


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def readiness(engine: Engine) -> Readiness:
    """Check the database, then (when it answers) the migrations and the youngest worker heartbeat."""
    try:
        with engine.db.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = f"unreachable ({type(exc).__name__})"
        return Readiness(
            (
                Check("database", False, reason),
                Check("migrations", False, "not checked: the database is unreachable"),
                Check("worker", False, "not checked: the database is unreachable"),
            )
        )
    return Readiness((Check("database", True, "answers"), _migrations(engine), _worker(engine)))


def _migrations(engine: Engine) -> Check:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.db.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        return Check("migrations", False, f"the schema's version cannot be read ({type(exc).__name__})")
    head = _heads(engine.settings.database_url)
    if current == head:
        return Check("migrations", True, f"at {', '.join(sorted(head))}")
    found = ", ".join(sorted(current)) or "none"
    return Check(
        "migrations",
        False,
        f"the database is at {found}, kmop needs {', '.join(sorted(head))}: run 'kmop init'",
    )


@functools.cache
def _heads(url: str) -> frozenset[str]:
    """The newest revisions of kmop's migrations (read once per process: they change with the code)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _worker(engine: Engine) -> Check:
    limit = engine.settings.heartbeat_max_seconds
    try:
        with engine.transaction(write=False) as session:
            beat: datetime | None = engine.last_beat(session)
        now = clock.now()
    except Exception as exc:
        return Check("worker", False, f"the heartbeat cannot be read ({type(exc).__name__})")
    if beat is None:
        return Check("worker", False, "no worker ever wrote a heartbeat: start 'kmop worker'")
    age = (now - beat).total_seconds()
    if age > limit:
        return Check("worker", False, f"the youngest heartbeat is {age:.0f} s old (more than {limit:g} s)")
    return Check("worker", True, f"heartbeat {max(age, 0):.0f} s ago")
