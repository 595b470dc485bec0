"""Section 2b of the benchmark: a data-heavy multi-instance, stored bytes and run time by number of items.

``bench/data/mi_data_heavy.bpmn`` has the shape of SpiffArena's own data-heavy test diagram
(``multiinstance_300``): a list of items (about 300 bytes each) in a data object, a sequential
multi-instance embedded subprocess that enriches each item, the enriched list in a second data object.
Every task inherits the whole list, and the enriched list grows by one item per item: stored naively,
bytes grow with the square of the number of items. SpiffArena stores 61 MB for one such instance at 300
items; the aim is at most half of that, growing linearly, and a run time that grows linearly.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import LargeBinary, Text, cast, func, select
from sqlalchemy.orm import Session

from bench.common import DATA, DEFAULT, QUICK, Databases, Sizes, deploy, pg_available, say

MI_DATA_HEAVY = DATA / "mi_data_heavy.bpmn"
ITEMS = (100, 200, 300)
QUICK_ITEMS = (10, 20, 30)
SPIFFARENA_300_BYTES = 61_000_000  # SpiffArena, the same shape at 300 items (issue 13)


def _octets(session: Session, column: Any) -> Any:
    """Bytes (not characters) of a text column, on SQLite and PostgreSQL alike."""
    text = cast(column, Text)
    if session.get_bind().dialect.name == "sqlite":
        return func.coalesce(func.length(cast(text, LargeBinary)), 0)
    return func.coalesce(func.octet_length(text), 0)


def instance_bytes(session: Session, instance_id: int) -> dict[str, int]:
    """Stored bytes of one instance, by table: every column that carries its state, data or history."""
    from engine.models import HistoryEntry, InstanceTaskState, ProcessInstance

    def total(*columns: Any, where: Any) -> int:
        expr = sum((_octets(session, c) for c in columns[1:]), _octets(session, columns[0]))
        return int(session.scalar(select(func.coalesce(func.sum(expr), 0)).where(where)) or 0)

    figures = {
        "skeleton": total(
            ProcessInstance.skeleton, ProcessInstance.search, where=ProcessInstance.id == instance_id
        ),
        "task_rows": total(
            InstanceTaskState.task_id,
            InstanceTaskState.scope,
            InstanceTaskState.body,
            where=InstanceTaskState.instance_id == instance_id,
        ),
        "history": total(
            HistoryEntry.event,
            HistoryEntry.element_id,
            HistoryEntry.actor,
            HistoryEntry.detail,
            where=HistoryEntry.instance_id == instance_id,
        ),
    }
    figures["total"] = sum(figures.values())
    return figures


def _one(eng: Any, items: int) -> dict[str, Any]:
    started = time.perf_counter()
    with eng.transaction() as s:
        summary = eng.start(s, "mi_data_heavy", {"count": items})
    seconds = time.perf_counter() - started
    if summary.status != "completed":
        raise AssertionError(f"mi_data_heavy with {items} items ended {summary.status}")
    with eng.transaction() as s:
        stored = instance_bytes(s, summary.id)
        checked = eng.show(s, summary.id).data.get("checked")
    if checked != items:
        raise AssertionError(f"mi_data_heavy with {items} items checked {checked}")
    return {"items": items, "seconds": seconds, "bytes": stored}


def mi_storage(dbs: Databases, url: str, sizes: Sizes, repeats: int = 2) -> dict[str, Any]:
    """Run the diagram at each size (best time of ``repeats`` runs); stored bytes of one instance."""
    eng = dbs.engine(url)
    deploy(eng, MI_DATA_HEAVY)
    counts = QUICK_ITEMS if sizes is QUICK else ITEMS
    _one(eng, 2)  # warm up: script hosts started, spec parsed and cached
    runs = []
    for items in counts:
        tries = [_one(eng, items) for _ in range(1 if sizes is QUICK else repeats)]
        best = min(tries, key=lambda r: r["seconds"])
        runs.append(
            {
                **best,
                "bytes_per_item": best["bytes"]["total"] / items,
                "ms_per_item": 1000 * best["seconds"] / items,
            }
        )
    first, last = runs[0], runs[-1]
    scale = last["items"] / first["items"]
    return {
        "runs": runs,
        "bytes_ratio_last_to_first": last["bytes"]["total"] / first["bytes"]["total"],
        "time_ratio_last_to_first": last["seconds"] / first["seconds"],
        "linear_ratio": scale,
        "spiffarena_300_bytes": SPIFFARENA_300_BYTES,
        "vs_spiffarena_300": last["bytes"]["total"] / SPIFFARENA_300_BYTES if last["items"] == 300 else None,
    }


def print_mi_storage(backend: str, res: dict[str, Any]) -> None:
    say(f"\n== 2b. Data-heavy multi-instance ({backend}): one instance of bench/data/mi_data_heavy.bpmn")
    say("   items   skeleton    task rows     history        total   bytes/item    run time   ms/item")
    for r in res["runs"]:
        b = r["bytes"]
        say(
            f"   {r['items']:5d} {b['skeleton'] / 1e6:8.2f} MB {b['task_rows'] / 1e6:8.2f} MB"
            f" {b['history'] / 1e6:8.2f} MB {b['total'] / 1e6:9.2f} MB {r['bytes_per_item']:10.0f} B"
            f" {r['seconds']:9.2f} s {r['ms_per_item']:8.2f}"
        )
    first, last = res["runs"][0], res["runs"][-1]
    say(
        f"   {last['items']} vs {first['items']} items: bytes x{res['bytes_ratio_last_to_first']:.2f}, "
        f"time x{res['time_ratio_last_to_first']:.2f} (linear would be x{res['linear_ratio']:.2f})"
    )
    if res["vs_spiffarena_300"] is not None:
        say(
            f"   at 300 items: {last['bytes']['total'] / 1e6:.2f} MB = "
            f"{res['vs_spiffarena_300']:.2f} x SpiffArena's {SPIFFARENA_300_BYTES / 1e6:.0f} MB"
            " (target: at most 0.5 x)"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run this section alone: ``python -m bench.mi_storage [--quick] [--pg]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.mi_storage", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10/20/30 items instead of 100/200/300")
    ap.add_argument("--pg", action="store_true", help="also on PostgreSQL")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULT
    if args.pg and (why := pg_available()):
        raise SystemExit(f"--pg: PostgreSQL not reachable: {why}")
    dbs = Databases()
    figures: dict[str, Any] = {}
    try:
        figures["sqlite"] = mi_storage(dbs, dbs.sqlite("mi_storage"), sizes)
        print_mi_storage("SQLite", figures["sqlite"])
        if args.pg:
            figures["postgres"] = mi_storage(dbs, dbs.postgres("mi_storage"), sizes)
            print_mi_storage("PostgreSQL", figures["postgres"])
    finally:
        dbs.cleanup()
    return figures


if __name__ == "__main__":
    main()
