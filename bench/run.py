"""Benchmark kmop against raw SpiffWorkflow: throughput, storage, save cost, timer lateness.

Run ``.venv/bin/python -m bench.run`` (about 3-5 minutes on a 2-core machine), ``--quick`` for a smoke run
of a few seconds, ``--pg`` to add PostgreSQL figures (timers drained by two worker processes),
``--json PATH`` to also write the figures, ``--profile`` to print where the kmop start path spends time.

Everything goes through kmop's own code paths (the ``Engine`` facade and ``engine.worker.Worker``). Each
section uses a fresh database: SQLite files in a temporary directory, and on PostgreSQL databases named
``kmop_bench_*``; all are removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import multiprocessing
import os
import platform
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, create_engine, event, func, select, text
from sqlalchemy.orm import Session

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


def deploy(eng: Any, *paths: Path) -> None:
    with eng.transaction() as s:
        eng.deploy(s, list(paths))


# ------------------------------------------------------------------------------- 1. throughput


def raw_spec() -> tuple[Any, dict[str, Any]]:
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(TEN_TASKS)])
    return parser.get_spec("ten_tasks"), parser.get_subprocess_specs("ten_tasks")


def raw_runner(sandboxed: bool) -> Callable[[int], None]:
    """Run ``n`` in-memory instances: ``BpmnWorkflow(spec, subs)`` + ``do_engine_steps()``, nothing saved."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from engine.sandbox import SandboxedEnvironment

    spec, subs = raw_spec()
    script_engine = PythonScriptEngine(environment=SandboxedEnvironment()) if sandboxed else None

    def run(n: int) -> None:
        for i in range(n):
            wf = BpmnWorkflow(spec, subs, script_engine=script_engine)
            wf.get_tasks(state=TaskState.READY)[0].data.update({"n": i})
            wf.do_engine_steps()
            if not wf.completed:
                raise AssertionError("raw ten_tasks instance did not complete")

    return run


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


def measure_rates(runners: dict[str, Callable[[int], None]], sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Warm every runner up, then interleave rounds (so load drift hits all alike); medians of rates."""
    for run in runners.values():
        run(sizes.warmup)
    rates: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(sizes.rounds):
        for label, run in runners.items():
            t0 = time.perf_counter()
            run(sizes.per_round)
            rates[label].append(sizes.per_round / (time.perf_counter() - t0))
    return {
        label: {
            "per_s": median(values),
            "ms_per_instance": 1000 / median(values),
            "rounds": [round(v, 1) for v in values],
        }
        for label, values in rates.items()
    }


def throughput(dbs: Databases, url: str, sizes: Sizes, with_raw: bool = True) -> dict[str, Any]:
    eng = dbs.engine(url)
    deploy(eng, TEN_TASKS)
    runners: dict[str, Callable[[int], None]] = {}
    if with_raw:
        runners["raw_default"] = raw_runner(sandboxed=False)
        runners["raw_sandboxed"] = raw_runner(sandboxed=True)
    runners["kmop_1_per_tx"] = kmop_runner(eng, 1)
    runners[f"kmop_{sizes.batch}_per_tx"] = kmop_runner(eng, sizes.batch)
    result = measure_rates(runners, sizes)
    with eng.transaction() as s:
        from engine.models import ProcessInstance

        done = s.scalar(
            select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "completed")
        )
    kmop_runs = len([k for k in runners if k.startswith("kmop")])
    expected = kmop_runs * (sizes.warmup + sizes.rounds * sizes.per_round)
    if done != expected:
        raise AssertionError(f"expected {expected} completed instances, found {done}")
    return result


def print_throughput(title: str, res: dict[str, Any], raw: dict[str, Any], sizes: Sizes) -> None:
    say(f"\n== 1. Throughput: ten_tasks (10 script tasks + 1 gateway), {title}")
    say(
        f"   {sizes.rounds} interleaved rounds of {sizes.per_round} instances after {sizes.warmup} warm-up; "
        "median of rounds"
    )
    for label, fig in {**raw, **res}.items():
        say(
            f"   {label:<22} {fig['per_s']:8.1f} inst/s  {fig['ms_per_instance']:6.2f} ms/inst  "
            f"rounds {fig['rounds']}"
        )
    sandboxed = raw["raw_sandboxed"]["per_s"]
    for label in res:
        say(
            f"   ratio {label}/raw_sandboxed = {res[label]['per_s'] / sandboxed:.2f}   "
            f"(/raw_default = {res[label]['per_s'] / raw['raw_default']['per_s']:.2f})"
        )


# ---------------------------------------------------------------------------------- 2. storage


def payload_bytes(session: Session, process_key: str) -> dict[str, Any]:
    """Bytes of stored text per instance of ``process_key``, by table (columns that carry content)."""
    from engine.models import HistoryEntry, InstanceTaskState, ProcessInstance, UserTask, WakeUp

    ids = select(ProcessInstance.id).where(ProcessInstance.process_key == process_key)
    n = session.scalar(select(func.count()).where(ProcessInstance.process_key == process_key)) or 0

    def one(stmt: Any) -> int:
        return int(session.scalar(stmt) or 0)

    length = func.length
    of_key = ProcessInstance.process_key == process_key
    in_tasks = InstanceTaskState.instance_id.in_(ids)
    skeleton = one(select(func.sum(length(ProcessInstance.skeleton))).where(of_key))
    task_rows = one(select(func.count()).select_from(InstanceTaskState).where(in_tasks))
    task_bytes = one(select(func.sum(length(InstanceTaskState.body))).where(in_tasks))
    hist_rows = one(select(func.count()).select_from(HistoryEntry).where(HistoryEntry.instance_id.in_(ids)))
    hist_bytes = one(
        select(
            func.sum(
                length(cast(HistoryEntry.detail, Text))
                + length(HistoryEntry.event)
                + func.coalesce(length(HistoryEntry.element_id), 0)
                + func.coalesce(length(HistoryEntry.actor), 0)
            )
        ).where(HistoryEntry.instance_id.in_(ids))
    )
    ut_rows = one(select(func.count()).select_from(UserTask).where(UserTask.instance_id.in_(ids)))
    ut_bytes = one(
        select(
            func.sum(
                length(UserTask.id)
                + length(UserTask.element_id)
                + length(UserTask.name)
                + length(UserTask.status)
                + func.coalesce(length(UserTask.lane), 0)
                + func.coalesce(length(UserTask.form), 0)
            )
        ).where(UserTask.instance_id.in_(ids))
    )
    wk_rows = one(select(func.count()).select_from(WakeUp).where(WakeUp.instance_id.in_(ids)))
    per = max(n, 1)
    total = skeleton + task_bytes + hist_bytes + ut_bytes
    return {
        "instances": n,
        "skeleton_bytes": skeleton / per,
        "task_rows": task_rows / per,
        "task_bytes": task_bytes / per,
        "history_rows": hist_rows / per,
        "history_bytes": hist_bytes / per,
        "projection_rows": (ut_rows + wk_rows) / per,
        "projection_bytes": ut_bytes / per,
        "total_bytes": total / per,
    }


def sqlite_file_size(eng: Any, path: Path) -> int:
    with eng.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def storage(dbs: Databases, sizes: Sizes) -> dict[str, Any]:
    url = dbs.sqlite("storage")
    path = Path(url.split("///", 1)[1])
    eng = dbs.engine(url)
    deploy(eng, TEN_TASKS, USER_WAIT)
    n = sizes.storage_instances
    result: dict[str, Any] = {}
    for key in ("ten_tasks", "user_wait"):
        before = sqlite_file_size(eng, path)
        kmop_runner_for(eng, key, n, batch=1)
        after = sqlite_file_size(eng, path)
        with eng.transaction() as s:
            figures = payload_bytes(s, key)
        figures["sqlite_file_growth_bytes"] = (after - before) / n
        result[key] = figures
    return result


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


def print_storage(res: dict[str, Any]) -> None:
    say("\n== 2. Storage per instance (SQLite; text bytes of the columns that carry content)")
    say(
        "   process     state    skeleton  task rows (bytes)   history rows (bytes)   projections   total"
        "   file growth"
    )
    labels = {"ten_tasks": "completed", "user_wait": "waiting"}
    for key, f in res.items():
        say(
            f"   {key:<11} {labels[key]:<9}{f['skeleton_bytes']:7.0f} B  "
            f"{f['task_rows']:4.1f} ({f['task_bytes']:6.0f} B)"
            f"    {f['history_rows']:4.1f} ({f['history_bytes']:5.0f} B)      "
            f"{f['projection_rows']:3.1f} ({f['projection_bytes']:3.0f} B)  {f['total_bytes']:6.0f} B"
            f"  {f['sqlite_file_growth_bytes']:7.0f} B"
        )
    say(
        "   (file growth = SQLite file size after a WAL checkpoint, per instance: "
        "includes indexes and page slack)"
    )


# -------------------------------------------------------------------- 3. save cost versus change


def long_diagram(n: int) -> str:
    """start -> n script tasks -> user task 'first' -> user task 'second' -> end."""
    key = f"long_{n}"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'id="Definitions_{key}" targetNamespace="http://kmop.example/bench">',
        f'  <bpmn:process id="{key}" name="Benchmark: {n} script tasks, then two user tasks" '
        'isExecutable="true">',
        '    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>',
    ]
    for i in range(1, n + 1):
        parts.append(
            f'    <bpmn:scriptTask id="s{i}"><bpmn:incoming>f{i - 1}</bpmn:incoming>'
            f"<bpmn:outgoing>f{i}</bpmn:outgoing>"
            f"<bpmn:script>x{i % 10} = {i}</bpmn:script></bpmn:scriptTask>"
        )
        parts.append(
            f'    <bpmn:sequenceFlow id="f{i - 1}" sourceRef="{"start" if i == 1 else f"s{i - 1}"}" '
            f'targetRef="s{i}" />'
        )
    last = f"s{n}" if n else "start"
    parts += [
        f'    <bpmn:userTask id="first" name="First"><bpmn:incoming>f{n}</bpmn:incoming>'
        "<bpmn:outgoing>g1</bpmn:outgoing></bpmn:userTask>",
        '    <bpmn:userTask id="second" name="Second"><bpmn:incoming>g1</bpmn:incoming>'
        "<bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>",
        '    <bpmn:endEvent id="end"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>',
        f'    <bpmn:sequenceFlow id="f{n}" sourceRef="{last}" targetRef="first" />',
        '    <bpmn:sequenceFlow id="g1" sourceRef="first" targetRef="second" />',
        '    <bpmn:sequenceFlow id="g2" sourceRef="second" targetRef="end" />',
        "  </bpmn:process>",
        "</bpmn:definitions>",
    ]
    return "\n".join(parts) + "\n"


class StatementCounter:
    """Counts statements, and row writes (parameter sets) on instance_task_state, while ``active``."""

    def __init__(self, db: Any) -> None:
        self.active = False
        self.statements = 0
        self.task_rows = 0
        self.task_bytes = 0
        event.listen(db, "before_cursor_execute", self._on_execute)

    def reset(self) -> None:
        self.statements = self.task_rows = self.task_bytes = 0

    def _on_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not self.active:
            return
        self.statements += 1
        head = statement.lstrip()[:80].upper()
        if "INSTANCE_TASK_STATE" not in statement.upper() or head.startswith("SELECT"):
            return
        sets = list(parameters) if executemany else [parameters]
        self.task_rows += len(sets)
        for params in sets:
            values = params.values() if isinstance(params, dict) else (params or ())
            self.task_bytes += sum(len(v) for v in values if isinstance(v, str))


def save_cost(dbs: Databases, sizes: Sizes) -> dict[str, Any]:
    from engine import state
    from engine.models import InstanceTaskState, ProcessInstance, ProcessVersion

    eng = dbs.engine(dbs.sqlite("save_cost"))
    folder = dbs.tmp / "long"
    folder.mkdir(exist_ok=True)
    for n in sizes.long_lengths:
        (folder / f"long_{n}.bpmn").write_text(long_diagram(n), encoding="utf-8")
    deploy(eng, *sorted(folder.glob("*.bpmn")))
    counter = StatementCounter(eng.db)
    result: dict[str, Any] = {}
    for n in sizes.long_lengths:
        key = f"long_{n}"
        ids = []
        for _ in range(sizes.steps_per_size + 1):  # the first one warms the spec cache and code paths
            with eng.transaction() as s:
                ids.append(eng.start(s, key, {}).id)
        rows, written, nbytes, stmts, step_ms, load_ms = [], [], [], [], [], []
        for k, iid in enumerate(ids):
            with eng.transaction() as s:
                (task,) = eng.tasks(s, instance_id=iid)
                rows.append(
                    s.scalar(
                        select(func.count())
                        .select_from(InstanceTaskState)
                        .where(InstanceTaskState.instance_id == iid)
                    )
                )
                # read side alone: what every step pays to rebuild the workflow (grows with the instance)
                inst = s.get(ProcessInstance, iid)
                version = s.get(ProcessVersion, inst.process_version_id)
                blueprint = eng.runtime.specs.blueprint(s, version)
                t0 = time.perf_counter()
                state.load(s, iid, inst.skeleton, blueprint)
                load = (time.perf_counter() - t0) * 1000
            counter.reset()
            counter.active = True
            t0 = time.perf_counter()
            with eng.transaction() as s:
                summary = eng.complete(s, task.id, {})
            elapsed = (time.perf_counter() - t0) * 1000
            counter.active = False
            if summary.waiting_at != ["second"]:
                raise AssertionError(f"{key}: expected to wait at 'second', got {summary.waiting_at}")
            if k == 0:
                continue
            written.append(counter.task_rows)
            nbytes.append(counter.task_bytes)
            stmts.append(counter.statements)
            step_ms.append(elapsed)
            load_ms.append(load)
        result[key] = {
            "script_tasks": n,
            "task_rows_stored": median([float(r) for r in rows]),
            "task_rows_written": median([float(w) for w in written]),
            "task_bytes_written": median([float(b) for b in nbytes]),
            "statements": median([float(x) for x in stmts]),
            "step_ms": median(step_ms),
            "load_ms": median(load_ms),
        }
    return result


def print_save_cost(res: dict[str, Any]) -> None:
    say("\n== 3. Cost of one small step (complete user task 'first') versus instance size (SQLite)")
    say(
        "   instance                      task rows   rows written   bytes written   statements   step ms"
        "   = load ms + rest ms"
    )
    for _key, f in res.items():
        say(
            f"   {f['script_tasks']:4d} script tasks + 2 user   {f['task_rows_stored']:8.0f}"
            f"   {f['task_rows_written']:12.0f}   {f['task_bytes_written']:13.0f}   {f['statements']:10.0f}"
            f"   {f['step_ms']:7.2f}   {f['load_ms']:9.2f} + {f['step_ms'] - f['load_ms']:7.2f}"
        )
    say(
        "   (rows/bytes written = parameter sets of INSERT/UPDATE/DELETE on instance_task_state in that step;"
        " load = state.load alone)"
    )


# ----------------------------------------------------------------------------- 4. timer lateness


def _pg_worker_main(url: str, ready: Any, stop: Any, results: Any) -> None:
    """One timer worker in a process of its own: its own Engine, kmop's Worker (APScheduler)."""
    from engine.api import Engine
    from engine.config import Settings
    from engine.worker import Worker

    with quiet_logs() as counts:
        eng = Engine(Settings.from_env({}, database_url=url, clock="system"))
        worker = Worker(eng)
        worker.start()
        ready.set()
        stop.wait()
        worker.stop()
        eng.close()
    results.put({"pid": os.getpid(), "fired": worker.fired, "log": dict(counts)})


def timers(dbs: Databases, url: str, sizes: Sizes, workers: int) -> dict[str, Any]:
    """Start ``sizes.timers`` instances whose timers fall due at one moment; drain with real workers."""
    from engine.models import HistoryEntry, ProcessInstance

    eng = dbs.engine(url)
    deploy(eng, TIMER_WAIT)
    n = sizes.timers
    # Pilot: how fast can instances be created here? It sets the common due moment far enough ahead.
    # (Its instances wait for a date in 2099 and are left out of every figure below.)
    pilot = min(200, max(10, n // 10))
    kmop_runner_for(
        eng,
        "timer_wait",
        10,
        batch=10,
        data=lambda i: {"due_at": FAR_FUTURE},
        business_key=lambda i: f"pilot-warm-{i}",
    )
    t0 = time.perf_counter()
    kmop_runner_for(
        eng,
        "timer_wait",
        pilot,
        batch=min(pilot, sizes.timer_batch),
        data=lambda i: {"due_at": FAR_FUTURE},
        business_key=lambda i: f"pilot-{i}",
    )
    rate = pilot / (time.perf_counter() - t0)
    # set-up slows as it grows: give it twice the time the pilot predicts
    lead = n / rate * 2.0 + (2.0 if n <= 1000 else 4.0) + (3.0 if workers > 1 else 0.0)
    due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    due_iso = due.isoformat()
    t0 = time.perf_counter()
    kmop_runner_for(
        eng,
        "timer_wait",
        n,
        batch=sizes.timer_batch,
        data=lambda i: {"due_at": due_iso},
        business_key=lambda i: f"t-{i}",
    )
    setup_s = time.perf_counter() - t0
    with eng.transaction() as s:
        pending = len([t for t in eng.timers(s) if t.due_at == due])
    if pending != n:
        raise AssertionError(f"expected {n} timers due at {due_iso}, found {pending}")

    with quiet_logs() as counts:
        stop_workers: Callable[[], list[dict[str, Any]]]
        if workers == 1:
            from engine.worker import Worker

            worker = Worker(eng)
            worker.start()

            def stop_workers() -> list[dict[str, Any]]:
                worker.stop()
                return [{"pid": os.getpid(), "fired": worker.fired, "log": dict(counts)}]
        else:
            ctx = multiprocessing.get_context("spawn")
            stop = ctx.Event()
            results = ctx.Queue()
            readies = [ctx.Event() for _ in range(workers)]
            procs = [
                ctx.Process(target=_pg_worker_main, args=(url, r, stop, results), daemon=True)
                for r in readies
            ]
            for p in procs:
                p.start()
            for r in readies:
                r.wait(timeout=60)

            def stop_workers() -> list[dict[str, Any]]:
                stop.set()
                out = [results.get(timeout=60) for _ in procs]
                for p in procs:
                    p.join(timeout=30)
                return out

        ready_margin = (due - datetime.now(UTC)).total_seconds()
        query = (
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.business_key.like("t-%"), ProcessInstance.status == "completed")
        )
        timeout = 60.0 if n <= 1000 else 900.0
        done_at: float | None = None
        try:
            # wait for the due moment, then poll (cheaply) until every instance has completed
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            due_perf = time.perf_counter() - max(0.0, (datetime.now(UTC) - due).total_seconds())
            while time.perf_counter() - due_perf < timeout:
                with eng.transaction() as s:
                    completed = s.scalar(query)
                if completed == n:
                    done_at = time.perf_counter()
                    break
                time.sleep(0.1)
        finally:
            worker_reports = stop_workers()

    with eng.transaction() as s:
        ids = s.scalars(select(ProcessInstance.id).where(ProcessInstance.business_key.like("t-%"))).all()
        fired = s.execute(
            select(HistoryEntry.instance_id, HistoryEntry.detail).where(
                HistoryEntry.event == "timer_fired",
                HistoryEntry.instance_id.in_(
                    select(ProcessInstance.id).where(ProcessInstance.business_key.like("t-%"))
                ),
            )
        ).all()
        completed = s.scalar(query)
    per_instance = Counter(iid for iid, _ in fired)
    late = [float(detail["late_seconds"]) for _, detail in fired]
    exactly_once = len(ids) == n and all(per_instance.get(i, 0) == 1 for i in ids)
    drain_s = (done_at - due_perf) if done_at is not None else float("nan")
    log_counts: Counter[str] = Counter()
    for rep in worker_reports:
        log_counts.update(rep["log"])
    return {
        "timers": n,
        "workers": workers,
        "setup_s": setup_s,
        "setup_per_s": n / setup_s,
        "workers_ready_before_due_s": ready_margin,
        "completed": completed,
        "fired_events": len(fired),
        "exactly_once": exactly_once,
        "max_fired_per_instance": max(per_instance.values()) if per_instance else 0,
        "late_p50_s": percentile(late, 50),
        "late_p99_s": percentile(late, 99),
        "late_max_s": max(late) if late else float("nan"),
        "late_min_s": min(late) if late else float("nan"),
        "drain_s": drain_s,
        "timers_per_s": n / drain_s if done_at is not None else float("nan"),
        "woken_per_worker": [rep["fired"] for rep in worker_reports],
        "worker_log": dict(log_counts),
    }


def print_timers(title: str, f: dict[str, Any]) -> None:
    say(f"\n== 4. Timer lateness: {f['timers']:,} timers due at one moment, {title}")
    say(
        f"   set-up: {f['timers']:,} instances in {f['setup_s']:.1f} s "
        f"({f['setup_per_s']:.0f}/s, batches per tx);"
        f" worker(s) ready {f['workers_ready_before_due_s']:.1f} s before the due moment"
    )
    if f["workers_ready_before_due_s"] < 0:
        say(
            f"   WARNING: set-up overran the due moment by {-f['workers_ready_before_due_s']:.1f} s;"
            " the lateness below includes that"
        )
    say(
        f"   lateness (history timer_fired.late_seconds): p50 {f['late_p50_s']:.2f} s"
        f"   p99 {f['late_p99_s']:.2f} s"
        f"   max {f['late_max_s']:.2f} s   (min {f['late_min_s']:.3f} s)"
    )
    say(
        f"   drain: all {f['completed']:,} completed {f['drain_s']:.1f} s after the due moment"
        f" = {f['timers_per_s']:.0f} timers/s; woken per worker {f['woken_per_worker']}"
    )
    say(
        f"   exactly once: {'YES' if f['exactly_once'] else 'NO'} ({f['fired_events']:,} timer_fired events,"
        f" max {f['max_fired_per_instance']} per instance)"
        + (f"; worker log {f['worker_log']}" if f["worker_log"] else "")
    )


def trickle(dbs: Databases, url: str, sizes: Sizes, spacing_s: float = 0.05) -> dict[str, Any]:
    """Normal load: ``sizes.trickle`` timers falling due one after another, ``spacing_s`` apart, drained by
    the real in-process worker; lateness per timer from the history."""
    from engine.models import HistoryEntry, ProcessInstance
    from engine.worker import Worker

    eng = dbs.engine(url)
    deploy(eng, TIMER_WAIT)
    n = sizes.trickle
    first_due = datetime.now(UTC) + timedelta(seconds=3)
    dues = [(first_due + timedelta(seconds=i * spacing_s)).isoformat() for i in range(n)]
    kmop_runner_for(
        eng,
        "timer_wait",
        n,
        batch=50,
        data=lambda i: {"due_at": dues[i]},
        business_key=lambda i: f"trickle-{i}",
    )
    query = (
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.business_key.like("trickle-%"), ProcessInstance.status == "completed")
    )
    with quiet_logs():
        worker = Worker(eng)
        worker.start()
        try:
            deadline = time.perf_counter() + 3 + n * spacing_s + 60
            while time.perf_counter() < deadline:
                with eng.transaction() as s:
                    if s.scalar(query) == n:
                        break
                time.sleep(0.2)
        finally:
            worker.stop()
    with eng.transaction() as s:
        late = [
            float(d["late_seconds"])
            for d in s.scalars(
                select(HistoryEntry.detail).where(
                    HistoryEntry.event == "timer_fired",
                    HistoryEntry.instance_id.in_(
                        select(ProcessInstance.id).where(ProcessInstance.business_key.like("trickle-%"))
                    ),
                )
            )
        ]
    return {
        "timers": n,
        "per_second": 1 / spacing_s,
        "fired": len(late),
        "late_p50_s": percentile(late, 50),
        "late_p99_s": percentile(late, 99),
        "late_max_s": max(late) if late else float("nan"),
    }


def print_trickle(f: dict[str, Any]) -> None:
    say(
        f"\n== 4b. Timer lateness under normal load: {f['timers']} timers due one after another, "
        f"{f['per_second']:.0f} per second, SQLite, one in-process worker (poll 0.25 s)"
    )
    say(
        f"   fired {f['fired']}/{f['timers']}; lateness p50 {f['late_p50_s']:.3f} s"
        f"   p99 {f['late_p99_s']:.3f} s   max {f['late_max_s']:.3f} s"
    )


# ------------------------------------------------------------------------------------ profiling


def profile_start(dbs: Databases, sizes: Sizes, top: int = 15) -> dict[str, list[dict[str, Any]]]:
    """cProfile the kmop start path (one instance per transaction); top entries by cumulative time,
    over kmop + SpiffWorkflow + SQLAlchemy code, and over kmop's own functions only."""
    eng = dbs.engine(dbs.sqlite("profile"))
    deploy(eng, TEN_TASKS)
    run = kmop_runner(eng, 1)
    run(sizes.warmup)
    profiler = cProfile.Profile()
    profiler.enable()
    run(sizes.profile_starts)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent)
    rows = []
    for (filename, line, name), (_cc, ncalls, _tt, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if not any(part in filename for part in ("/engine/", "/tasks/", "SpiffWorkflow", "sqlalchemy")):
            continue
        if "/bench/" in filename:
            continue
        short = filename.replace(root + "/", "")
        short = short.split("site-packages/", 1)[-1]
        rows.append(
            {
                "function": f"{short}:{line}({name})",
                "calls": ncalls,
                "cum_s": cumtime,
                "per_start_ms": cumtime * 1000 / sizes.profile_starts,
                "share": cumtime / total,
            }
        )
    rows.sort(key=lambda r: -r["cum_s"])
    own = [r for r in rows if r["function"].startswith(("engine/", "tasks/"))]
    return {"all": rows[:top], "kmop": own[:top]}


def print_profile(prof: dict[str, list[dict[str, Any]]], starts: int) -> None:
    titles = {"all": "kmop + SpiffWorkflow + SQLAlchemy code", "kmop": "kmop's own functions"}
    for key, rows in prof.items():
        say(
            f"\n== cProfile of {starts} kmop starts (one per transaction): top {len(rows)} by cumulative"
            f" time, {titles[key]}"
        )
        say("   cum ms/start  share  calls   function")
        for r in rows:
            say(f"   {r['per_start_ms']:11.2f}  {r['share'] * 100:4.0f} %  {r['calls']:6d}   {r['function']}")


# ----------------------------------------------------------------------------------------- main


def environment() -> dict[str, Any]:
    import SpiffWorkflow
    import sqlalchemy

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "python": platform.python_version(),
        "spiffworkflow": getattr(SpiffWorkflow, "__version__", "3.2"),
        "sqlalchemy": sqlalchemy.__version__,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def summary_table(fig: dict[str, Any], sizes: Sizes) -> list[str]:
    lines = ["| figure | SQLite | PostgreSQL |", "| --- | --- | --- |"]
    thr = fig["throughput"]["sqlite"]
    pg = fig["throughput"].get("postgres")
    raw = fig["throughput"]["raw"]
    pg_raw = fig["throughput"].get("raw_during_postgres")
    batch = f"kmop_{sizes.batch}_per_tx"

    def rate(d: dict[str, Any] | None, key: str) -> str:
        return f"{d[key]['per_s']:.0f}/s ({d[key]['ms_per_instance']:.2f} ms)" if d and key in d else "-"

    def ratio(d: dict[str, Any] | None, key: str, base: dict[str, Any]) -> str:
        return f"{d[key]['per_s'] / base['raw_sandboxed']['per_s']:.2f}" if d and key in d else "-"

    lines += [
        f"| raw SpiffWorkflow in memory, default script engine | {rate(raw, 'raw_default')} |"
        f" {rate(pg_raw, 'raw_default') if pg_raw else ''} |",
        f"| raw SpiffWorkflow in memory, kmop's sandbox | {rate(raw, 'raw_sandboxed')} |"
        f" {rate(pg_raw, 'raw_sandboxed') if pg_raw else ''} |",
        f"| kmop, 1 instance per transaction | {rate(thr, 'kmop_1_per_tx')} | {rate(pg, 'kmop_1_per_tx')} |",
        f"| kmop, {sizes.batch} instances per transaction | {rate(thr, batch)} | {rate(pg, batch)} |",
        f"| ratio kmop (1/tx) / raw sandboxed (same phase) | {ratio(thr, 'kmop_1_per_tx', raw)} |"
        f" {ratio(pg, 'kmop_1_per_tx', pg_raw or raw)} |",
    ]
    st = fig["storage"]
    labels = (("ten_tasks", "completed ten_tasks"), ("user_wait", "instance waiting at a user task"))
    for key, label in labels:
        f = st[key]
        lines.append(
            f"| stored bytes per {label} (task rows / total / file growth) | "
            f"{f['task_bytes']:.0f} / {f['total_bytes']:.0f} / "
            f"{f['sqlite_file_growth_bytes']:.0f} B | |"
        )
    for f in fig["save_cost"].values():
        lines.append(
            f"| complete 1 user task after {f['script_tasks']} script tasks: "
            f"task rows written, step time | {f['task_rows_written']:.0f} rows "
            f"({f['task_bytes_written']:.0f} B), {f['step_ms']:.1f} ms"
            f" (load {f['load_ms']:.1f} ms) | |"
        )
    tm = fig["timers"]

    def timer_cell(d: dict[str, Any] | None) -> str:
        if not d:
            return "-"
        return (
            f"p50 {d['late_p50_s']:.2f} s, p99 {d['late_p99_s']:.2f} s, max {d['late_max_s']:.2f} s; "
            f"{d['timers_per_s']:.0f} timers/s; exactly once: {'yes' if d['exactly_once'] else 'NO'}"
        )

    sq, pgt = tm.get("sqlite"), tm.get("postgres")
    n = (sq or pgt or {}).get("timers", 0)
    workers = f"1 worker / {pgt['workers']} worker processes" if pgt else "1 worker"
    lines.append(
        f"| {n:,} timers due at once ({workers}): lateness, drain rate | {timer_cell(sq)} |"
        f" {timer_cell(pgt)} |"
    )
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    ap.add_argument("--pg", action="store_true", help="add PostgreSQL figures (throughput, 2-worker timers)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the kmop start path and print the top 15"
    )
    ap.add_argument("--timers", type=int, help="number of timers (default 10,000; --quick 150)")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULT
    if args.timers:
        sizes = Sizes(**{**sizes.__dict__, "timers": args.timers})
    if args.pg:
        why = pg_available()
        if why:
            raise SystemExit(f"--pg: PostgreSQL not reachable at {PG_ADMIN_URL}: {why}")

    started = time.perf_counter()
    fig: dict[str, Any] = {"mode": "quick" if args.quick else "default", "environment": environment()}
    say(
        f"kmop benchmark ({fig['mode']}) — python {fig['environment']['python']}, "
        f"SQLAlchemy {fig['environment']['sqlalchemy']}, {fig['environment']['cpus']} CPUs, "
        f"load average at start {fig['environment']['loadavg_at_start']}"
    )
    dbs = Databases()
    try:
        thr = throughput(dbs, dbs.sqlite("throughput"), sizes)
        raw = {k: v for k, v in thr.items() if k.startswith("raw")}
        kmop = {k: v for k, v in thr.items() if k.startswith("kmop")}
        fig["throughput"] = {"raw": raw, "sqlite": kmop}
        print_throughput("SQLite (file, WAL)", kmop, raw, sizes)
        if args.pg:
            pg_thr = throughput(dbs, dbs.postgres("throughput"), sizes)
            pg_raw = {k: v for k, v in pg_thr.items() if k.startswith("raw")}
            fig["throughput"]["postgres"] = {k: v for k, v in pg_thr.items() if k.startswith("kmop")}
            fig["throughput"]["raw_during_postgres"] = pg_raw
            print_throughput("PostgreSQL (localhost)", fig["throughput"]["postgres"], pg_raw, sizes)

        fig["storage"] = storage(dbs, sizes)
        print_storage(fig["storage"])

        fig["save_cost"] = save_cost(dbs, sizes)
        print_save_cost(fig["save_cost"])

        fig["trickle"] = trickle(dbs, dbs.sqlite("trickle"), sizes)
        print_trickle(fig["trickle"])
        fig["timers"] = {"sqlite": timers(dbs, dbs.sqlite("timers"), sizes, workers=1)}
        print_timers("SQLite, one in-process worker", fig["timers"]["sqlite"])
        if args.pg:
            fig["timers"]["postgres"] = timers(dbs, dbs.postgres("timers"), sizes, workers=2)
            print_timers("PostgreSQL, two worker processes (SKIP LOCKED)", fig["timers"]["postgres"])

        if args.profile:
            fig["profile"] = profile_start(dbs, sizes)
            print_profile(fig["profile"], sizes.profile_starts)
    finally:
        dbs.cleanup()

    fig["environment"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    fig["elapsed_s"] = time.perf_counter() - started
    fig["summary_table"] = summary_table(fig, sizes)
    say(
        f"\n== Summary ({fig['mode']} mode, {fig['elapsed_s']:.0f} s, load average "
        f"{fig['environment']['loadavg_at_start']} -> {fig['environment']['loadavg_at_end']})"
    )
    for line in fig["summary_table"]:
        say(line)
    failures = []
    for backend, t in fig["timers"].items():
        if not t["exactly_once"] or t["completed"] != t["timers"]:
            failures.append(
                f"timers on {backend}: exactly_once={t['exactly_once']}, completed={t['completed']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2, default=str) + "\n", encoding="utf-8")
        say(f"figures written to {args.json}")
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))
    return fig


if __name__ == "__main__":
    main(sys.argv[1:])
