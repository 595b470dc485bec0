"""Section 4 of the benchmark: timers. A burst of timers due at one moment (4) and a steady trickle (4b).

Set-up time can never spoil a figure: the instances are made on a clock that stands still (none of their
timers can fall due while the set-up runs, however long it takes on a busy machine), and the workers then
run on kmop's clock shifted so that it starts at the due moment of the burst, or just before the first
timer of the trickle. Lateness (``timer_fired.late_seconds`` in the history, on that clock) is therefore
measured from the moment the workers start; the drain rate is compared with raw SpiffWorkflow firing the
same timers in memory, measured in the same run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    TIMER_WAIT,
    Databases,
    Sizes,
    deploy,
    kmop_runner_for,
    percentile,
    quiet_logs,
    raw_library,
    say,
)


class StillClock:
    """kmop's clock for the set-up: it stands at one moment."""

    simulated = False

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class ShiftedClock:
    """The real time moved back by ``shift``: it runs at the real pace from where the bench needs it."""

    simulated = False

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return datetime.now(UTC) - self.shift


def _set_up(eng: Any, n: int, due: datetime, prefix: str, batch: int, spacing_s: float = 0.0) -> float:
    """Start ``n`` timer_wait instances on a still clock (before ``due``); return the seconds it took."""
    from engine import clock

    dues = [(due + timedelta(seconds=i * spacing_s)).isoformat() for i in range(n)]
    started = time.perf_counter()
    with clock.using(StillClock(due - timedelta(hours=1))):
        kmop_runner_for(
            eng,
            "timer_wait",
            n,
            batch=batch,
            data=lambda i: {"due_at": dues[i]},
            business_key=lambda i: f"{prefix}-{i}",
        )
    took = time.perf_counter() - started
    with eng.transaction() as s:
        pending = sum(1 for t in eng.timers(s) if t.due_at >= due)
    if pending != n:
        raise AssertionError(f"expected {n} waiting timers after the set-up, found {pending}")
    return took


def _raw_waiting(n: int) -> tuple[Any, Any, list[Any], datetime]:
    """``n`` raw timer_wait workflows (kmop's sandbox) waiting at their timer, due at one moment: the
    serializer, the script engine, the workflows and that moment."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    from engine import clock
    from engine.sandbox import SandboxedEnvironment

    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(TIMER_WAIT)])
    spec, subs = parser.get_spec("timer_wait"), parser.get_subprocess_specs("timer_wait")
    script_engine = PythonScriptEngine(environment=SandboxedEnvironment())
    due = datetime(2030, 1, 1, tzinfo=UTC)
    workflows = []
    with raw_library(), clock.using(StillClock(due - timedelta(hours=1))):
        for _ in range(n):
            wf = BpmnWorkflow(spec, subs, script_engine=script_engine)
            wf.get_tasks(state=TaskState.READY)[0].data.update({"due_at": due.isoformat()})
            wf.do_engine_steps()
            workflows.append(wf)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    return serializer, script_engine, workflows, due


def raw_fire_rate(n: int) -> dict[str, Any]:
    """Raw SpiffWorkflow, kmop's sandbox: ``n`` timer_wait workflows waiting at their timer are fired after
    it fell due (``refresh_waiting_tasks`` + ``do_engine_steps``), in memory, and durably: restored with
    the library's own serializer, fired and serialized again (what any engine that keeps its instances
    must at least do, here without a database)."""
    from engine import clock

    serializer, script_engine, workflows, due = _raw_waiting(n)
    stored = [serializer.serialize_json(wf) for wf in workflows]
    with raw_library(), clock.using(StillClock(due + timedelta(seconds=1))):
        started = time.perf_counter()
        for wf in workflows:
            wf.refresh_waiting_tasks()
            wf.do_engine_steps()
        took = time.perf_counter() - started
        started = time.perf_counter()
        for text in stored:  # the durable step: restore, fire, store again (no database)
            wf = serializer.deserialize_json(text)
            wf.script_engine = script_engine
            wf.refresh_waiting_tasks()
            wf.do_engine_steps()
            if not wf.completed:
                raise AssertionError("a restored raw timer_wait workflow did not complete")
            serializer.serialize_json(wf)
        durable = time.perf_counter() - started
    if not all(wf.completed for wf in workflows):
        raise AssertionError("a raw timer_wait workflow did not complete")
    return {
        "timers": n,
        "per_s": n / took,
        "ms_per_timer": took / n * 1000,
        "durable_per_s": n / durable,
        "durable_ms_per_timer": durable / n * 1000,
    }


def raw_db_fire_rate(url: str, n: int, lot: int = 20) -> dict[str, Any]:
    """The least any engine keeping its instances in a database must do for the same step, with raw
    SpiffWorkflow: ``n`` serialized timer_wait workflows in one table (id, state); per ``lot`` of them in
    one transaction: read and lock their rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), restore each,
    fire its timer, serialize it, write the rows back, commit. No history, no task list, no wake-up
    table, no monitor: the floor under kmop's figure on the same database."""
    from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, create_engine

    from engine import clock

    serializer, script_engine, workflows, due = _raw_waiting(n)
    table = Table("raw_state", MetaData(), Column("id", Integer, primary_key=True), Column("state", Text))
    db = create_engine(url)
    try:
        table.create(db)
        with db.begin() as conn:
            rows = [{"id": i, "state": serializer.serialize_json(w)} for i, w in enumerate(workflows)]
            conn.execute(table.insert(), rows)
        read = select(table.c.id, table.c.state).where(table.c.id.in_(bindparam("ids", expanding=True)))
        if db.dialect.name == "postgresql":
            read = read.with_for_update(skip_locked=True)
        write = table.update().where(table.c.id == bindparam("b_id")).values(state=bindparam("b_state"))
        with raw_library(), clock.using(StillClock(due + timedelta(seconds=1))):
            started = time.perf_counter()
            for first in range(0, n, lot):
                with db.begin() as conn:
                    rows = conn.execute(read, {"ids": list(range(first, min(n, first + lot)))}).all()
                    out = []
                    for row_id, text in rows:
                        wf = serializer.deserialize_json(text)
                        wf.script_engine = script_engine
                        wf.refresh_waiting_tasks()
                        wf.do_engine_steps()
                        if not wf.completed:
                            raise AssertionError("a raw timer_wait workflow (database) did not complete")
                        out.append({"b_id": row_id, "b_state": serializer.serialize_json(wf)})
                    conn.execute(write, out)
            took = time.perf_counter() - started
    finally:
        db.dispose()
    return {"timers": n, "lot": lot, "per_s": n / took, "ms_per_timer": took / n * 1000}


# ----------------------------------------------------------------------------- 4. a burst


def _worker_process(url: str, shift: Any, go: Any, ready: Any, stop: Any, results: Any) -> None:
    """One timer worker in a process of its own: its own Engine, kmop's Worker, on the shifted clock."""
    from engine import clock
    from engine.api import Engine
    from engine.config import Settings
    from engine.worker import Worker

    with quiet_logs() as counts:
        eng = Engine(Settings.from_env({}, database_url=url, clock="system"))
        ready.set()
        go.wait()
        clock.install(ShiftedClock(timedelta(seconds=shift.value)))
        worker = Worker(eng)
        worker.start()
        stop.wait()
        worker.stop()
        eng.close()
    results.put({"pid": os.getpid(), "fired": worker.fired, "log": dict(counts)})


def burst(dbs: Databases, url: str, sizes: Sizes, workers: int, processes: bool) -> dict[str, Any]:
    """``sizes.timers`` instances whose timers fall due at one moment, drained by ``workers`` kmop workers
    (in this process, or processes of their own) starting at that moment."""
    from engine import clock
    from engine.models import ProcessInstance
    from engine.worker import Worker

    eng = dbs.engine(url)
    deploy(eng, TIMER_WAIT)
    n = sizes.timers
    due = datetime(2030, 1, 1, tzinfo=UTC)
    setup_s = _set_up(eng, n, due, "t", sizes.timer_batch)
    query = (
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.business_key.like("t-%"), ProcessInstance.status == "completed")
    )
    with quiet_logs() as counts:
        if processes:
            ctx = multiprocessing.get_context("spawn")
            shift_value, go, stop, results = ctx.Value("d", 0.0), ctx.Event(), ctx.Event(), ctx.Queue()
            readies = [ctx.Event() for _ in range(workers)]
            procs = [
                ctx.Process(
                    target=_worker_process, args=(url, shift_value, go, r, stop, results), daemon=True
                )
                for r in readies
            ]
            for p in procs:
                p.start()
            for r in readies:
                r.wait(timeout=120)
            shift_value.value = (datetime.now(UTC) - due).total_seconds()
            began = time.perf_counter()
            go.set()
        else:
            shift = datetime.now(UTC) - due
            clock.install(ShiftedClock(shift))
            local = [Worker(eng) for _ in range(workers)]
            began = time.perf_counter()
            starting = [threading_start(w) for w in local]
        timeout = 60.0 if n <= 1000 else 1800.0
        done_at: float | None = None
        try:
            while time.perf_counter() - began < timeout:
                with eng.transaction() as s:
                    if s.scalar(query) == n:
                        done_at = time.perf_counter()
                        break
                time.sleep(0.05)
        finally:
            if processes:
                stop.set()
                reports = [results.get(timeout=120) for _ in procs]
                for p in procs:
                    p.join(timeout=30)
            else:
                for thread in starting:
                    thread.join()  # start() runs the first sweep: let it finish before stopping
                for w in local:
                    w.stop()
                clock.install(eng.clock)
                reports = [{"pid": os.getpid(), "fired": w.fired, "log": dict(counts)} for w in local]
    late, exactly_once, completed = _fired(eng, "t", n, query)
    log_counts: Counter[str] = Counter()
    for rep in reports:
        log_counts.update(rep["log"])
    drain_s = (done_at - began) if done_at is not None else float("nan")
    return {
        "timers": n,
        "workers": workers,
        "processes": processes,
        "setup_s": setup_s,
        "completed": completed,
        "exactly_once": exactly_once,
        "late_p50_s": percentile(late, 50),
        "late_p99_s": percentile(late, 99),
        "late_max_s": max(late) if late else float("nan"),
        "drain_s": drain_s,
        "timers_per_s": n / drain_s if done_at is not None else float("nan"),
        "woken_per_worker": [rep["fired"] for rep in reports],
        "worker_log": dict(log_counts),
    }


def threading_start(worker: Any) -> Any:
    """Start an in-process worker in a thread (its first sweep runs there, so several start at once)."""
    import threading

    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    return thread


def _fired(eng: Any, prefix: str, n: int, completed_query: Any) -> tuple[list[float], bool, int]:
    """Lateness of every timer_fired of the ``prefix`` instances; whether each fired once; how many ended."""
    from engine.models import HistoryEntry, ProcessInstance

    mine = select(ProcessInstance.id).where(ProcessInstance.business_key.like(f"{prefix}-%"))
    with eng.transaction() as s:
        ids = s.scalars(mine).all()
        fired = s.execute(
            select(HistoryEntry.instance_id, HistoryEntry.detail).where(
                HistoryEntry.event == "timer_fired", HistoryEntry.instance_id.in_(mine)
            )
        ).all()
        completed = s.scalar(completed_query)
    per_instance = Counter(iid for iid, _ in fired)
    exactly_once = len(ids) == n and all(per_instance.get(i, 0) == 1 for i in ids)
    return [float(detail["late_seconds"]) for _, detail in fired], exactly_once, int(completed or 0)


def timers(dbs: Databases, sizes: Sizes, pg: bool) -> dict[str, Any]:
    """The burst on SQLite (one worker) and, with ``pg``, on PostgreSQL with one and two worker
    processes; raw SpiffWorkflow's rate for the same step, and the ratios."""
    raw_n = min(sizes.timers, 2000)
    out: dict[str, Any] = {"raw": raw_fire_rate(raw_n)}
    out["raw_db"] = {"sqlite": raw_db_fire_rate(dbs.sqlite("timers_raw"), raw_n)}
    out["sqlite"] = burst(dbs, dbs.sqlite("timers"), sizes, workers=1, processes=False)
    if pg:
        out["raw_db"]["postgres"] = raw_db_fire_rate(dbs.postgres("timers_raw"), raw_n)
        out["postgres"] = burst(dbs, dbs.postgres("timers1"), sizes, workers=1, processes=True)
        out["postgres_2"] = burst(dbs, dbs.postgres("timers2"), sizes, workers=2, processes=True)
    raw = out["raw"]["per_s"]
    durable = out["raw"]["durable_per_s"]
    for key in ("sqlite", "postgres", "postgres_2"):
        if key in out:
            out[key]["ratio_to_raw"] = out[key]["timers_per_s"] / raw
            out[key]["ratio_to_durable"] = out[key]["timers_per_s"] / durable
            floor = out["raw_db"]["sqlite" if key == "sqlite" else "postgres"]["per_s"]
            out[key]["ratio_to_raw_db"] = out[key]["timers_per_s"] / floor
    if pg:
        out["two_to_one"] = out["postgres_2"]["timers_per_s"] / out["postgres"]["timers_per_s"]
    return out


def print_timers(f: dict[str, Any]) -> None:
    raw = f["raw"]
    say(
        f"\n== 4. A burst: {f['sqlite']['timers']:,} timers due at one moment, workers started at that moment"
    )
    say(
        f"   raw SpiffWorkflow firing the same timers in memory (kmop's sandbox): {raw['per_s']:.0f}/s"
        f" ({raw['ms_per_timer']:.2f} ms each, {raw['timers']:,} timers); restored with the library's"
        f" serializer, fired and serialized again: {raw['durable_per_s']:.0f}/s"
        f" ({raw['durable_ms_per_timer']:.2f} ms each)"
    )
    for backend, d in f.get("raw_db", {}).items():
        say(
            f"   raw SpiffWorkflow kept in a one-table {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}"
            f" database (read and lock {d['lot']} rows, restore, fire, serialize, write back, commit):"
            f" {d['per_s']:.0f}/s ({d['ms_per_timer']:.2f} ms each)"
        )
    titles = {
        "sqlite": "SQLite, one in-process worker",
        "postgres": "PostgreSQL, one worker process",
        "postgres_2": "PostgreSQL, two worker processes",
    }
    for key, title in titles.items():
        d = f.get(key)
        if not d:
            continue
        say(
            f"   {title}: {d['timers_per_s']:.0f} timers/s = {d['ratio_to_raw']:.2f} of raw in memory,"
            f" {d['ratio_to_durable']:.2f} of raw restored and stored,"
            f" {d['ratio_to_raw_db']:.2f} of raw kept in the same database; drained in"
            f" {d['drain_s']:.1f} s; lateness p50 {d['late_p50_s']:.2f} s, p99 {d['late_p99_s']:.2f} s;"
            f" woken per worker {d['woken_per_worker']}; exactly once: {'YES' if d['exactly_once'] else 'NO'}"
            f" (set-up {d['setup_s']:.0f} s, on a still clock)"
            + (f"; worker log {d['worker_log']}" if d["worker_log"] else "")
        )
    if "two_to_one" in f:
        say(f"   two workers / one worker on PostgreSQL: {f['two_to_one']:.2f}x")


# ----------------------------------------------------------------------------- 4b. a trickle


def trickle(dbs: Databases, url: str, sizes: Sizes, spacing_s: float = 0.05) -> dict[str, Any]:
    """Steady load: ``sizes.trickle`` timers falling due one after another, ``spacing_s`` apart, drained by
    one kmop worker in a process of its own (as ``kmop worker`` runs in production); lateness per timer
    from the history."""
    from engine.models import ProcessInstance

    eng = dbs.engine(url)
    deploy(eng, TIMER_WAIT)
    n = sizes.trickle
    first_due = datetime(2030, 1, 1, tzinfo=UTC)
    _set_up(eng, n, first_due, "trickle", 50, spacing_s=spacing_s)
    query = (
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.business_key.like("trickle-%"), ProcessInstance.status == "completed")
    )
    ctx = multiprocessing.get_context("spawn")
    shift, go, stop, results, ready = ctx.Value("d", 0.0), ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_worker_process, args=(url, shift, go, ready, stop, results), daemon=True)
    proc.start()
    try:
        ready.wait(timeout=120)
        # the worker's clock starts a second before the first timer falls due
        shift.value = (datetime.now(UTC) - (first_due - timedelta(seconds=1))).total_seconds()
        go.set()
        deadline = time.perf_counter() + 1 + n * spacing_s + 120
        while time.perf_counter() < deadline:
            with eng.transaction() as s:
                if s.scalar(query) == n:
                    break
            time.sleep(0.2)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            results.get(timeout=120)
        proc.join(timeout=30)
    late, exactly_once, completed = _fired(eng, "trickle", n, query)
    return {
        "timers": n,
        "per_second": 1 / spacing_s,
        "fired": len(late),
        "completed": completed,
        "exactly_once": exactly_once,
        "late_p50_s": percentile(late, 50),
        "late_p99_s": percentile(late, 99),
        "late_max_s": max(late) if late else float("nan"),
    }


def print_trickle(title: str, f: dict[str, Any]) -> None:
    say(
        f"\n== 4b. Steady load: {f['timers']} timers due one after another, {f['per_second']:.0f} per second,"
        f" {title}, one worker process"
    )
    say(
        f"   fired {f['fired']}/{f['timers']}; lateness p50 {f['late_p50_s'] * 1000:.1f} ms"
        f"   p99 {f['late_p99_s'] * 1000:.1f} ms   max {f['late_max_s'] * 1000:.1f} ms"
    )
