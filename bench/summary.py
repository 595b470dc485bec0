"""The environment figures and the summary table printed at the end of the benchmark."""

from __future__ import annotations

import os
import platform
from typing import Any

from bench.common import Sizes


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


def _cell(figure: dict[str, Any] | None, render: Any) -> str:
    """A table cell: the figure rendered, or "-" where the run has none (no --pg)."""
    return render(figure) if figure else "-"


def _both(figures: dict[str, Any], render: Any) -> str:
    """The SQLite and the PostgreSQL cells of a row."""
    return f"{_cell(figures.get('sqlite'), render)} | {_cell(figures.get('postgres'), render)}"


def _per_s(d: dict[str, Any]) -> str:
    return f"{d['per_s']:.0f}/s"


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
    if "raw_stored_1_per_tx" in raw:
        lines.append(
            "| raw SpiffWorkflow kept in a one-table database, 1 per transaction (its ratio to raw sandboxed)"
            f" | {rate(raw, 'raw_stored_1_per_tx')} ({ratio(raw, 'raw_stored_1_per_tx', raw)}) |"
            f" {rate(pg_raw, 'raw_stored_1_per_tx')}"
            f" ({ratio(pg_raw, 'raw_stored_1_per_tx', pg_raw or raw)}) |"
        )
    st = fig["storage"]
    labels = (("ten_tasks", "completed ten_tasks"), ("user_wait", "instance waiting at a user task"))
    for key, label in labels:
        f = st[key]
        lines.append(
            f"| stored bytes per {label} (task rows / total / file growth) | "
            f"{f['task_bytes']:.0f} / {f['total_bytes']:.0f} / "
            f"{f['sqlite_file_growth_bytes']:.0f} B | |"
        )
    mi = fig.get("mi_storage", {})
    if mi:

        def mi_cell(d: dict[str, Any]) -> str:
            return " / ".join(f"{r['bytes']['total'] / 1e6:.1f} MB, {r['seconds']:.2f} s" for r in d["runs"])

        counts = "/".join(str(r["items"]) for r in (mi.get("sqlite") or mi["postgres"])["runs"])
        lines.append(
            f"| data-heavy multi-instance at {counts} items: stored bytes, run time"
            f" (SpiffArena: 61 MB at 300) | {_both(mi, mi_cell)} |"
        )
    for f in fig["save_cost"].values():
        lines.append(
            f"| complete 1 user task after {f['script_tasks']} script tasks: "
            f"task rows written, step time | {f['task_rows_written']:.0f} rows "
            f"({f['task_bytes_written']:.0f} B), {f['step_ms']:.1f} ms"
            f" (load {f['load_ms']:.1f} ms) | |"
        )
    tm, tr = fig["timers"], fig["trickle"]

    def trickle_cell(d: dict[str, Any]) -> str:
        return f"p50 {d['late_p50_s'] * 1000:.0f} ms, p99 {d['late_p99_s'] * 1000:.0f} ms late"

    def burst_cell(d: dict[str, Any]) -> str:
        return (
            f"{d['timers_per_s']:.0f}/s = {d['ratio_to_raw']:.2f} of raw, {d['ratio_to_durable']:.2f} of raw"
            f" restored+stored, {d.get('ratio_to_raw_db', float('nan')):.2f} of raw in the database;"
            f" p99 {d['late_p99_s']:.1f} s;"
            f" once: {'yes' if d['exactly_once'] else 'NO'}"
        )

    steady = tr.get("sqlite") or tr.get("postgres") or {}
    lines.append(
        f"| {steady.get('timers', 0)} timers due one after another, {steady.get('per_second', 0):.0f}/s,"
        f" one worker: lateness | {_both(tr, trickle_cell)} |"
    )
    lines.append(
        f"| raw SpiffWorkflow firing a due timer: in memory / restored, fired and stored by its serializer"
        f" | {tm['raw']['per_s']:.0f}/s / {tm['raw']['durable_per_s']:.0f}/s | |"
    )
    if tm.get("raw_db"):
        lines.append(
            "| raw SpiffWorkflow kept in a one-table database: read and lock 20, restore, fire, store, commit"
            f" | {_both(tm['raw_db'], _per_s)} |"
        )
    lines.append(
        f"| {tm['sqlite']['timers']:,} timers due at once, one worker: drain rate | {_both(tm, burst_cell)} |"
    )
    if "postgres_2" in tm:
        lines.append(
            f"| the same, two worker processes (two / one: {tm['two_to_one']:.2f}x) | |"
            f" {burst_cell(tm['postgres_2'])} |"
        )
    web = fig.get("http", {})
    if web:

        def flow(d: dict[str, Any]) -> str:
            text = (
                f"{d['http']['ms_per_flow']:.1f} / {d['in_process']['ms_per_flow']:.1f} ms, "
                f"ratio {d['ratio']:.2f}"
            )
            if "ratio_gunicorn" in d:
                text += f" (gunicorn {d['gunicorn']['ms_per_flow']:.1f} ms, ratio {d['ratio_gunicorn']:.2f})"
            return text

        lines.append(
            "| one flow (start, 8 scripts, user task): through HTTP / in-process, ratio |"
            f" {_both(web, flow)} |"
        )
    for backend, f in fig.get("lists", {}).items():
        worst = max(v for k, v in f.items() if k.endswith("_ms") and not k.startswith("baseline"))
        cell = f"{worst:.1f} ms / {f['baseline_primary_key_ms']:.2f} ms"
        cells = f"| {cell} |" if backend == "postgres" else f"{cell} | |"
        lines.append(
            f"| list pages on {f['cases']:,} cases: worst page p95 / primary-key fetch p95 | {cells}"
        )
    return lines
