"""``--profile``: cProfile of the kmop start path."""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path
from typing import Any

from bench.common import TEN_TASKS, Databases, Sizes, deploy, kmop_runner, say

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
