"""The benchmark still runs end to end (its figures are printed by it, never asserted on here)."""

from __future__ import annotations

from typing import Any


def test_quick_benchmark_runs_and_every_timer_fires_once() -> None:
    from bench.run import main

    figures: dict[str, Any] = main(["--quick", "--timers", "40"])
    timers = figures["timers"]["sqlite"]
    assert timers["exactly_once"] is True and timers["completed"] == timers["timers"] == 40
    assert {"raw", "sqlite"} <= set(figures["throughput"])
    assert figures["storage"] and figures["save_cost"]
    trickle = figures["trickle"]["sqlite"]
    assert trickle["exactly_once"] is True and trickle["fired"] == trickle["timers"]
    assert figures["timers"]["raw"]["timers"] > 0
    assert figures["timers"]["raw_db"]["sqlite"]["timers"] == 40  # the floor: raw SpiffWorkflow in a table
    assert any("raw SpiffWorkflow kept in a one-table database" in line for line in figures["summary_table"])


def test_shared_bench_code_imports_no_section_module() -> None:
    """bench.common (Databases, sizes, helpers) stands alone; bench.run still hands out Databases."""
    import subprocess
    import sys

    import bench.common
    from bench.run import Databases

    assert Databases is bench.common.Databases
    code = "import sys, bench.common; print(sorted(m for m in sys.modules if m.startswith('bench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bench', 'bench.common']"
