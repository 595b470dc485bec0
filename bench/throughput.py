"""Section 1 of the benchmark: throughput of ten_tasks, raw SpiffWorkflow in memory versus kmop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bench.common import TEN_TASKS, Databases, Sizes, deploy, kmop_runner, median, raw_library, say

# ------------------------------------------------------------------------------- 1. throughput


def raw_spec() -> tuple[Any, dict[str, Any]]:
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(TEN_TASKS)])
    return parser.get_spec("ten_tasks"), parser.get_subprocess_specs("ten_tasks")


def _raw_instance(sandboxed: bool) -> Callable[[int], Any]:
    """A function that runs one raw ten_tasks instance in memory (``BpmnWorkflow(spec, subs)`` +
    ``do_engine_steps()``, started with ``n``) and returns the completed workflow."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from engine.sandbox import SandboxedEnvironment

    spec, subs = raw_spec()
    script_engine = PythonScriptEngine(environment=SandboxedEnvironment()) if sandboxed else None

    def one(n: int) -> Any:
        wf = BpmnWorkflow(spec, subs, script_engine=script_engine)
        wf.get_tasks(state=TaskState.READY)[0].data.update({"n": n})
        wf.do_engine_steps()
        if not wf.completed:
            raise AssertionError("raw ten_tasks instance did not complete")
        return wf

    return one


def raw_runner(sandboxed: bool) -> Callable[[int], None]:
    """Run ``n`` in-memory instances, nothing saved (the library as it comes: ``raw_library``)."""
    one = _raw_instance(sandboxed)

    def run(n: int) -> None:
        with raw_library():
            for i in range(n):
                one(i)

    return run


def raw_stored_runner(url: str) -> Callable[[int], None]:
    """Raw SpiffWorkflow (kmop's sandbox) kept in a one-table database of the same kind, one instance per
    transaction: run it, serialize it with the library's serializer, INSERT the text, commit. The least
    any engine that keeps its instances must do per instance, with no history, task list or index."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine

    table = Table("raw_state", MetaData(), Column("id", Integer, primary_key=True), Column("state", Text))
    db = create_engine(url)
    table.create(db, checkfirst=True)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    one = _raw_instance(sandboxed=True)
    insert = table.insert()

    def run(n: int) -> None:
        with raw_library():
            for i in range(n):
                wf = one(i)
                with db.begin() as conn:
                    conn.execute(insert, {"state": serializer.serialize_json(wf)})

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
        runners["raw_stored_1_per_tx"] = raw_stored_runner(url)
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
    if "raw_stored_1_per_tx" in raw and "kmop_1_per_tx" in res:
        stored = raw["raw_stored_1_per_tx"]["per_s"]
        say(
            "   raw kept in the same database, one per transaction:"
            f" {stored / sandboxed:.2f} of raw in memory;"
            f" kmop_1_per_tx / raw_stored_1_per_tx = {res['kmop_1_per_tx']['per_s'] / stored:.2f}"
        )


def throughput_section(dbs: Databases, sizes: Sizes, pg: bool, fig: dict[str, Any]) -> None:
    """Section 1 into ``fig`` and printed: SQLite, and with ``pg`` PostgreSQL (``--only throughput``)."""
    thr = throughput(dbs, dbs.sqlite("throughput"), sizes)
    raw = {k: v for k, v in thr.items() if k.startswith("raw")}
    fig["throughput"] = {"raw": raw, "sqlite": {k: v for k, v in thr.items() if k.startswith("kmop")}}
    print_throughput("SQLite (file, WAL)", fig["throughput"]["sqlite"], raw, sizes)
    if pg:
        pg_thr = throughput(dbs, dbs.postgres("throughput"), sizes)
        pg_raw = {k: v for k, v in pg_thr.items() if k.startswith("raw")}
        fig["throughput"]["postgres"] = {k: v for k, v in pg_thr.items() if k.startswith("kmop")}
        fig["throughput"]["raw_during_postgres"] = pg_raw
        print_throughput("PostgreSQL (localhost)", fig["throughput"]["postgres"], pg_raw, sizes)
