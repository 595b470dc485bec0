"""Shared pieces of the benchmark: sizes, output and statistics helpers, the databases, starting instances.

Imports none of the section modules (``bench.throughput``, ``bench.storage``, ``bench.save_cost``,
``bench.timers``, ``bench.profiling``) nor ``bench.run``; they all import from here."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import statistics
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

DATA = Path(__file__).resolve().parent / "data"
TEN_TASKS = DATA / "ten_tasks.bpmn"
USER_WAIT = DATA / "user_wait.bpmn"
TIMER_WAIT = DATA / "timer_wait.bpmn"
PG_ADMIN_URL = os.environ.get("KMOP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FAR_FUTURE = "2099-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Sizes:
    """How much work each section does (default mode versus ``--quick``)."""

    rounds: int
    per_round: int
    warmup: int
    batch: int
    storage_instances: int
    long_lengths: tuple[int, ...]
    steps_per_size: int
    timers: int
    timer_batch: int
    profile_starts: int
    trickle: int = 200


DEFAULT = Sizes(
    rounds=5,
    per_round=300,
    warmup=50,
    batch=100,
    storage_instances=300,
    long_lengths=(2, 50, 200),
    steps_per_size=10,
    timers=10_000,
    timer_batch=500,
    profile_starts=300,
)
QUICK = Sizes(
    rounds=3,
    per_round=20,
    warmup=5,
    batch=10,
    storage_instances=20,
    long_lengths=(2, 40),
    steps_per_size=3,
    timers=150,
    timer_batch=50,
    profile_starts=30,
    trickle=40,
)


# ------------------------------------------------------------------------------------------- output


def say(message: str = "") -> None:
    print(message, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


# ---------------------------------------------------------------------------------------- databases


class Databases:
    """Hands out fresh SQLite files and PostgreSQL databases, and removes them all at the end."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="kmop_bench_"))
        self.pg_names: list[str] = []
        self.engines: list[Any] = []

    def sqlite(self, name: str) -> str:
        return f"sqlite:///{self.tmp / (name + '.sqlite3')}"

    def postgres(self, name: str) -> str:
        db = f"kmop_bench_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db}"'))
        finally:
            admin.dispose()
        self.pg_names.append(db)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db

    def engine(self, url: str) -> Any:
        """A kmop Engine on ``url`` with the system clock, migrated; closed at cleanup."""
        from engine.api import Engine
        from engine.config import Settings

        eng = Engine(Settings.from_env({}, database_url=url, clock="system"))
        eng.init_db()
        self.engines.append(eng)
        return eng

    def cleanup(self) -> None:
        for eng in self.engines:
            with contextlib.suppress(Exception):
                eng.close()
        self.engines.clear()
        if self.pg_names:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    for db in self.pg_names:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            finally:
                admin.dispose()
            self.pg_names.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
        admin.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@contextlib.contextmanager
def quiet_logs() -> Iterator[Counter[str]]:
    """Count (rather than print) kmop's per-instance warnings; silence APScheduler's skipped-run notes."""
    counts: Counter[str] = Counter()

    class _Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reason = ""
            if isinstance(record.args, tuple) and len(record.args) > 1:
                reason = ": " + re.sub(r"\d+", "#", str(record.args[-1]))
            counts[f"{record.levelname} {record.name}{reason}"] += 1

    handler = _Count(logging.WARNING)
    saved = []
    for name in ("kmop.timers", "kmop.engine", "kmop.worker"):
        lg = logging.getLogger(name)
        saved.append((lg, lg.propagate))
        lg.addHandler(handler)
        lg.propagate = False
    aps = logging.getLogger("apscheduler")
    aps_level = aps.level
    aps.setLevel(logging.ERROR)
    try:
        yield counts
    finally:
        for lg, propagate in saved:
            lg.removeHandler(handler)
            lg.propagate = propagate
        aps.setLevel(aps_level)


@contextlib.contextmanager
def raw_library() -> Iterator[None]:
    """The library as it comes, for a raw-SpiffWorkflow baseline: kmop's faster READY-task lookup
    (``engine.readywalk``) and data copy (``engine.datacopy``), installed in this process once the
    engine is imported, are set aside while a raw runner runs."""
    from engine.datacopy import library_copy
    from engine.readywalk import library_walk

    with library_walk(), library_copy():
        yield


def deploy(eng: Any, *paths: Path) -> None:
    with eng.transaction() as s:
        eng.deploy(s, list(paths))


# --------------------------------------------------------------------------------- starting instances


def kmop_runner(eng: Any, batch: int) -> Callable[[int], None]:
    """Start ``n`` ten_tasks instances through the facade, ``batch`` per transaction (1 = one each)."""

    def run(n: int) -> None:
        for first in range(0, n, batch):
            with eng.transaction() as s:
                for i in range(first, min(n, first + batch)):
                    summary = eng.start(s, "ten_tasks", {"n": i})
                    if summary.status != "completed":
                        raise AssertionError(f"kmop ten_tasks instance ended {summary.status}")

    return run


def kmop_runner_for(
    eng: Any,
    key: str,
    n: int,
    batch: int,
    data: Callable[[int], dict[str, Any]] | None = None,
    business_key: Callable[[int], str] | None = None,
) -> None:
    """Start ``n`` instances of ``key``, ``batch`` per transaction."""
    for first in range(0, n, batch):
        with eng.transaction() as s:
            for i in range(first, min(n, first + batch)):
                eng.start(
                    s,
                    key,
                    data(i) if data else {"n": i},
                    business_key=business_key(i) if business_key else None,
                )
