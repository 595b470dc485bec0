"""Section 3 of the benchmark: the cost of one small step versus the size of the instance."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, func, select

from bench.common import Databases, Sizes, deploy, median, say

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
