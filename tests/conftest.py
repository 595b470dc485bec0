"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL, and a kmop Engine on it.

With ``--replay`` every engine forgets its in-process state at each transaction and checks after each run
that a load rebuilds what ran (the replay mode: every step as if in a new process).

Each test gets a database of its own, cloned from one migrated template per test run (a file copy on
SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL). Without a reachable PostgreSQL the PostgreSQL
variants are skipped locally, and fail under CI (``CI=true``), where the database is part of the deal.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Every READY-task lookup is compared with SpiffWorkflow's own iterator (engine.readywalk), in this
# process and in the kmop processes tests start; set before the engine is imported.
os.environ.setdefault("KMOP_CHECK_WALK", "1")

from engine.api import Engine  # noqa: E402
from engine.config import Settings
from engine.db import upgrade
from engine.services import ServiceRegistry
from tasks.registry import default_registry

REPLAY = {"on": False}  # set by --replay


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--replay",
        action="store_true",
        help="run every engine with a fresh in-process state at each transaction (KMOP_REPLAY)",
    )


def pytest_configure(config: pytest.Config) -> None:
    REPLAY["on"] = bool(config.getoption("--replay"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures tests recorded (``record_property("figures", ...)``), also from xdist workers."""
    figures = [
        (report.nodeid, value)
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == "figures"
    ]
    if figures:
        terminalreporter.section("figures")
        for nodeid, value in figures:
            terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {value}")


SHARED = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "spiffworkflow"
# A copy kept in the repository, so that a clean clone on a fresh machine runs these tests too.
VENDORED = Path(__file__).resolve().parent / "engine" / "data" / "conformance" / "spiffworkflow"


def _candidate_dirs() -> list[Path]:
    found = [Path(os.environ["KMOP_CONFORMANCE_DIR"])] if os.environ.get("KMOP_CONFORMANCE_DIR") else []
    return [*found, SHARED, VENDORED]


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The folder with SpiffWorkflow's diagrams; its absence is a failure, never a skip."""
    for candidate in _candidate_dirs():
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in _candidate_dirs())
    pytest.fail(
        f"the conformance diagrams are missing (looked in: {looked}); put SpiffWorkflow's test diagrams "
        "there or set KMOP_CONFORMANCE_DIR to the folder that holds them",
        pytrace=False,
    )


PG_ADMIN_URL = os.environ.get("KMOP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATA = Path(__file__).parent / "engine" / "data"


def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    from sqlalchemy import text

    try:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but cannot be reached at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"kmop_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(_pg_url(name))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "kmop.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    yield from _pg_database(request.getfixturevalue("pg_template"))


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database URL (for tests that only make sense there)."""
    yield from _pg_database(pg_template)


def _pg_database(template: str) -> Iterator[str]:
    from sqlalchemy import text

    name = f"kmop_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def registry() -> ServiceRegistry:
    """The shipped services; a test may register stand-ins under the same names."""
    return default_registry()


def make_engine(url: str, registry: ServiceRegistry | None = None, **overrides: Any) -> Engine:
    overrides.setdefault("replay", REPLAY["on"])
    settings = Settings.from_env({}, database_url=url, clock="simulated", **overrides)
    engine = Engine(settings, registry=registry or default_registry())  # kmop's services unless given
    engine.init_db()
    return engine


def plant_state(session: Any, instance_id: int, saved: dict[str, Any]) -> None:
    """Replace an instance's stored state with ``saved`` (a skeleton and task rows kept as a file by an
    earlier kmop), as an upgrade finds it."""
    from engine.models import InstanceTaskState, ProcessInstance

    row = session.get(ProcessInstance, instance_id)
    assert row is not None
    session.execute(InstanceTaskState.__table__.delete().where(InstanceTaskState.instance_id == instance_id))
    row.skeleton = saved["skeleton"]
    row.lock_version += 1  # state changed outside a run: no process may keep using what it had
    session.execute(
        InstanceTaskState.__table__.insert(), [{**t, "instance_id": instance_id} for t in saved["tasks"]]
    )


@pytest.fixture
def engine(db_url: str, registry: ServiceRegistry) -> Iterator[Engine]:
    """An Engine on a fresh database with the simulated clock, on SQLite and PostgreSQL."""
    eng = make_engine(db_url, registry)
    yield eng
    eng.close()


@pytest.fixture
def deploy(engine: Engine) -> Any:
    """Deploy files by name from tests/engine/data (or absolute paths) in one transaction."""

    def _deploy(*names: str) -> Any:
        paths = [n if os.path.isabs(n) else DATA / n for n in names]
        with engine.transaction() as session:
            return engine.deploy(session, paths)

    return _deploy
