"""Section 4 of the benchmark: timer lateness, a burst of timers due at one moment (4) and a trickle (4b)."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    FAR_FUTURE,
    TIMER_WAIT,
    Databases,
    Sizes,
    deploy,
    kmop_runner_for,
    percentile,
    quiet_logs,
    say,
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
