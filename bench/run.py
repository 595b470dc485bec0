"""Benchmark kmop against raw SpiffWorkflow: throughput, storage, save cost, timer lateness.

Run ``.venv/bin/python -m bench.run`` (about 5 minutes on a 2-core machine; with ``--pg`` 13-16 minutes, also
while the test suite runs), ``--quick`` for a smoke run of a few seconds, ``--pg`` to add PostgreSQL figures
(timers drained by one and by two worker processes), ``--json PATH`` to also write the figures,
``--profile`` to print where the kmop start path spends time. With ``--pg``, section 6 builds 100,000
cases for the monitor (``--monitor N`` for another size, e.g. 5000 for a quick look); ``--only
throughput|timers|mi|http|lists|monitor`` runs that section alone, without the summary.

Everything goes through kmop's own code paths (the ``Engine`` facade and ``engine.worker.Worker``). Each
section uses a fresh database: SQLite files in a temporary directory, and on PostgreSQL databases named
``kmop_bench_*``; all are removed at the end, also after a failure.

This module parses the flags, runs the sections in order and prints the summary. The sections live in
``bench.throughput`` (1), ``bench.storage`` (2), ``bench.mi_storage`` (2b, a data-heavy
multi-instance at 100/200/300 items), ``bench.save_cost`` (3), ``bench.timers`` (4, 4b) and
``bench.lists`` (5, the list pages on a large database), ``bench.monitor`` (6, the monitor's queries,
dashboard and the lists behind its figures, on cases built by ``bench.monitor_build``; PostgreSQL only),
``bench.http`` (7, one flow in-process and through HTTP against a ``kmop serve`` subprocess),
``bench.profiling`` (``--profile``); the
summary table in ``bench.summary``; what they share (sizes,
``Databases``, output helpers) in ``bench.common``, which imports none of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import DEFAULT, PG_ADMIN_URL, QUICK, Databases, Sizes, pg_available, say
from bench.http import http_overhead, print_http
from bench.lists import pages, print_lists
from bench.mi_storage import mi_storage, print_mi_storage
from bench.monitor import monitor, print_monitor
from bench.profiling import print_profile, profile_start
from bench.save_cost import print_save_cost, save_cost
from bench.storage import print_storage, storage
from bench.summary import environment, summary_table
from bench.throughput import print_throughput, throughput, throughput_section
from bench.timers import print_timers, print_trickle, timers, trickle

__all__ = ["Databases", "main"]


# ----------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    ap.add_argument("--pg", action="store_true", help="add PostgreSQL figures (throughput, 2-worker timers)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the kmop start path and print the top 15"
    )
    ap.add_argument("--timers", type=int, help="number of timers (default 10,000; --quick 150)")
    ap.add_argument("--lists", type=int, help="cases for the list pages (default 100,000; --quick 200)")
    ap.add_argument(
        "--monitor", type=int, help="cases for the monitor, with --pg (default 100,000; --quick 2,000)"
    )
    ap.add_argument(
        "--only",
        choices=("lists", "monitor", "http", "throughput", "timers", "mi"),
        help="run this section alone (no summary)",
    )
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
    if args.only:
        try:
            _section(args.only, args, dbs, fig)
        finally:
            dbs.cleanup()
        if args.json:
            Path(args.json).write_text(json.dumps(fig, indent=2, default=str) + "\n", encoding="utf-8")
        return fig
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

        _section("http", args, dbs, fig)

        fig["storage"] = storage(dbs, sizes)
        print_storage(fig["storage"])
        fig["mi_storage"] = {"sqlite": mi_storage(dbs, dbs.sqlite("mi_storage"), sizes)}
        print_mi_storage("SQLite", fig["mi_storage"]["sqlite"])
        if args.pg:
            fig["mi_storage"]["postgres"] = mi_storage(dbs, dbs.postgres("mi_storage"), sizes)
            print_mi_storage("PostgreSQL", fig["mi_storage"]["postgres"])

        fig["save_cost"] = save_cost(dbs, sizes)
        print_save_cost(fig["save_cost"])

        fig["trickle"] = {"sqlite": trickle(dbs, dbs.sqlite("trickle"), sizes)}
        print_trickle("SQLite", fig["trickle"]["sqlite"])
        if args.pg:
            fig["trickle"]["postgres"] = trickle(dbs, dbs.postgres("trickle"), sizes)
            print_trickle("PostgreSQL", fig["trickle"]["postgres"])
        fig["timers"] = timers(dbs, sizes, pg=args.pg)
        print_timers(fig["timers"])

        _section("lists", args, dbs, fig)
        if args.pg:
            _section("monitor", args, dbs, fig)

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
    bursts = {k: v for k, v in fig["timers"].items() if isinstance(v, dict) and "exactly_once" in v}
    for backend, t in [*bursts.items(), *(("trickle " + k, v) for k, v in fig["trickle"].items())]:
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


def _section(name: str, args: argparse.Namespace, dbs: Databases, fig: dict[str, Any]) -> None:
    """One section alone into ``fig``: throughput, timers (steady and burst), mi (data-heavy
    multi-instance), 5 (the lists), 6 (the monitor, PostgreSQL only) or 7 (HTTP)."""
    if name == "throughput":
        throughput_section(dbs, QUICK if args.quick else DEFAULT, args.pg, fig)
        return
    if name == "timers":
        sizes = QUICK if args.quick else DEFAULT
        if args.timers:
            sizes = Sizes(**{**sizes.__dict__, "timers": args.timers})
        fig["trickle"] = {"sqlite": trickle(dbs, dbs.sqlite("trickle"), sizes)}
        print_trickle("SQLite", fig["trickle"]["sqlite"])
        if args.pg:
            fig["trickle"]["postgres"] = trickle(dbs, dbs.postgres("trickle"), sizes)
            print_trickle("PostgreSQL", fig["trickle"]["postgres"])
        fig["timers"] = timers(dbs, sizes, pg=args.pg)
        print_timers(fig["timers"])
        return
    if name == "mi":
        sizes = QUICK if args.quick else DEFAULT
        fig["mi_storage"] = {"sqlite": mi_storage(dbs, dbs.sqlite("mi_storage"), sizes)}
        print_mi_storage("SQLite", fig["mi_storage"]["sqlite"])
        if args.pg:
            fig["mi_storage"]["postgres"] = mi_storage(dbs, dbs.postgres("mi_storage"), sizes)
            print_mi_storage("PostgreSQL", fig["mi_storage"]["postgres"])
        return
    if name == "http":
        fig["http"] = {"sqlite": http_overhead(dbs, dbs.sqlite("http"), args.quick)}
        print_http("SQLite (file, WAL)", fig["http"]["sqlite"])
        if args.pg:
            fig["http"]["postgres"] = http_overhead(dbs, dbs.postgres("http"), args.quick)
            print_http("PostgreSQL (localhost)", fig["http"]["postgres"])
        return
    rounds = 5 if args.quick else 30
    if name == "monitor":
        if not args.pg:
            raise SystemExit("--only monitor: the monitor section runs on PostgreSQL: add --pg")
        cases = args.monitor or (2_000 if args.quick else 100_000)
        fig["monitor"] = monitor(dbs, dbs.postgres("monitor"), cases, rounds)
        print_monitor(fig["monitor"])
        return
    cases = args.lists or (200 if args.quick else 100_000)
    if args.pg:
        fig["lists"] = {"postgres": pages(dbs, dbs.postgres("lists"), cases, rounds)}
        print_lists("PostgreSQL", fig["lists"]["postgres"])
    else:
        fig["lists"] = {"sqlite": pages(dbs, dbs.sqlite("lists"), cases, rounds)}
        print_lists("SQLite", fig["lists"]["sqlite"])


if __name__ == "__main__":
    main(sys.argv[1:])
