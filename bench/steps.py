"""Benchmark one step of a case: what a step costs kept in memory, loaded from the database, and in replay.

Run ``.venv/bin/python -m bench.steps`` (about a minute; ``--pg`` adds PostgreSQL, ``--quick`` a smoke run,
``--json PATH`` writes the figures). It measures, in one run:

- a fresh spec for a workflow from its version's blueprint (what restoring a workflow correctly costs,
  ``engine.blueprint``), beside raw SpiffWorkflow restoring the same workflow with the spec it keeps;
- the steps of a registration (sign, check, choose the bureau, the audit report, the decision) through
  the engine's facade, with the workflow kept in memory between steps, loaded from the database at every
  step (``KMOP_WORKFLOW_CACHE=0``: what another process or a restart sees), and in replay mode;
- one diagram script: a plain one in the engine, one with a call in a script host, and the same in the
  engine without any bound (``isolated=False``), the baseline.

Ratios are against baselines measured in the same run. Nothing here is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

PROJECT = Path(__file__).resolve().parent.parent
START = datetime(2027, 3, 5, 9, 0, tzinfo=UTC)
MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")


def application(enterprise_number: str) -> dict[str, Any]:
    return {
        "enterprise_number": enterprise_number,
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.be",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
        "starter": False,
    }


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000 if samples else float("nan")


def timed(call: Callable[[], Any], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


# ------------------------------------------------------------------------------------ fresh specs


def spec_costs(rounds: int) -> dict[str, Any]:
    """A blueprint's fresh spec for a workflow, against the library restoring a workflow with its own spec."""
    from lxml import etree
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    from engine.state import _SERIALIZER

    try:
        from engine.blueprint import Blueprint
    except ImportError:  # a kmop from before blueprints (run to compare): nothing to measure here
        return {}

    found: dict[str, Any] = {}
    for name, files in (
        ("ten_tasks", [PROJECT / "bench" / "data" / "ten_tasks.bpmn"]),
        (
            "registration",
            sorted((PROJECT / "bpmn").glob("*.bpmn")) + sorted((PROJECT / "bpmn").glob("*.dmn")),
        ),
    ):
        parser = SpiffBpmnParser()
        for f in files:
            root = etree.fromstring(f.read_bytes())
            (parser.add_dmn_xml if f.suffix == ".dmn" else parser.add_bpmn_xml)(root, f.name)
        spec, subs = parser.get_spec(name), parser.get_subprocess_specs(name)
        blueprint = Blueprint(spec, subs)
        instantiate = timed(blueprint.instantiate, rounds)
        text = _SERIALIZER.serialize_json(BpmnWorkflow(spec, subs))
        library = timed(lambda text=text: _SERIALIZER.deserialize_json(text), rounds)
        found[name] = {
            "fresh_spec_ms": median_ms(instantiate),
            "library_restore_with_spec_ms": median_ms(library),
            "blueprint_bytes": blueprint.size,
        }
    return found


# --------------------------------------------------------------------------------- registration steps


def step_costs(url: str, mode: str, cases: int) -> dict[str, Any]:
    """Median time of each step of ``cases`` registrations, every step a transaction of its own."""
    from engine.api import Engine
    from engine.config import Settings
    from engine.models import ClockState
    from tasks.registry import default_registry

    overrides: dict[str, Any] = {"database_url": url, "clock": "simulated"}
    if mode == "loaded":
        overrides["workflow_cache"] = 0
    if mode == "replay":
        overrides["replay"] = True
    known = set(Settings.__dataclass_fields__)
    if not set(overrides) <= known:  # a kmop from before these settings: it always loaded
        return {}
    engine = Engine(Settings.from_env({}, **overrides), default_registry())
    engine.init_db()
    with engine.db.begin() as conn:
        conn.execute(update(ClockState).values(now=START))
    with engine.transaction() as session:
        engine.deploy(session, [PROJECT / "bpmn"])
    steps: dict[str, list[float]] = {}

    def step(name: str, call: Callable[[Any], Any]) -> None:
        began = time.perf_counter()
        with engine.transaction() as session:
            call(session)
        steps.setdefault(name, []).append(time.perf_counter() - began)

    def task(instance: int, element: str) -> str:
        with engine.transaction() as session:
            return next(t.id for t in engine.tasks(session, instance_id=instance) if t.element_id == element)

    scores = {m: {"conformity": "T", "demonstrability": "V"} for m in MODULES}

    def one_case(n: int) -> None:
        key = f"APP-{mode}-{n}"
        number = 10_000_000 + n
        data = application(enterprise_number=f"{number:08d}{97 - number % 97:02d}")
        holder: dict[str, int] = {}
        step("start", lambda s: holder.update(id=engine.start(s, "registration", data, business_key=key).id))
        case = holder["id"]
        for element, fields in (
            ("sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"}),
            ("check_declaration", {"decision": "approve"}),
            ("choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12}),
            ("audit_report", None),
            ("decide", {"decision": "approve"}),
        ):
            if fields is None:
                report = {
                    "application_id": key,
                    "report_id": f"R-{key}",
                    "audit_type": "full",
                    "scores": scores,
                }
                step(element, lambda s, r=report: engine.message(s, "audit_report", None, r))
            else:
                task_id = task(case, element)
                step(element, lambda s, t=task_id, f=fields: engine.complete(s, t, f))

    for n in range(cases):
        one_case(n)
    engine.close()
    found = {name: median_ms(samples[1:] or samples) for name, samples in steps.items()}  # first: warm-up
    found["all_steps"] = sum(found.values())
    return found


# ------------------------------------------------------------------------------------------ scripts


def script_costs(rounds: int) -> dict[str, float]:
    from engine.sandbox import SandboxedEnvironment

    data = {"audit_hours": 12, "starter": False, "services": ["training", "advice"], "name": "Acme"}
    plain = "audit_cost_estimate = audit_hours * 150\nroute = 'starter' if starter else 'standard'"
    called = "names = ', '.join(services)\ntotal = sum([audit_hours, 2])"
    bounded = SandboxedEnvironment()
    try:
        unbounded = SandboxedEnvironment(isolated=False)
    except TypeError:  # a kmop from before script hosts: everything ran in the engine
        unbounded = bounded
    found = {}
    for label, environment, script in (
        ("plain_in_engine_ms", bounded, plain),
        ("with_a_call_in_a_host_ms", bounded, called),
        ("plain_unbounded_ms", unbounded, plain),
        ("with_a_call_unbounded_ms", unbounded, called),
    ):
        environment.execute(script, dict(data))
        found[label] = median_ms(timed(lambda e=environment, s=script: e.execute(s, dict(data)), rounds))
    return found


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.steps", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--pg", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rounds, cases = (50, 3) if args.quick else (400, 12)
    from bench.common import Databases

    dbs = Databases()
    figures: dict[str, Any] = {"specs": spec_costs(rounds), "scripts": script_costs(rounds)}
    try:
        kinds = ["sqlite", "postgres"] if args.pg else ["sqlite"]
        for kind in kinds:
            for mode in ("memory", "loaded", "replay"):
                url = dbs.sqlite(f"steps_{mode}") if kind == "sqlite" else dbs.postgres(f"steps_{mode}")
                figures.setdefault("steps", {}).setdefault(kind, {})[mode] = step_costs(url, mode, cases)
    finally:
        dbs.cleanup()
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return figures


def report(figures: dict[str, Any]) -> None:
    if figures["specs"]:
        print("\nA fresh spec for a workflow (median ms)")
    for name, f in figures["specs"].items():
        ratio = f["fresh_spec_ms"] / f["library_restore_with_spec_ms"]
        print(
            f"  {name:13} from its blueprint {f['fresh_spec_ms']:.2f}; the library restoring a workflow with "
            f"its stored spec {f['library_restore_with_spec_ms']:.2f} (ratio {ratio:.2f}); "
            f"blueprint {f['blueprint_bytes']:,} B"
        )
    s = figures["scripts"]
    print("\nOne diagram script (median ms)")
    plain, unbounded = s["plain_in_engine_ms"], s["plain_unbounded_ms"]
    print(f"  plain, in the engine        {plain:.3f}  (unbounded: {unbounded:.3f})")
    print(
        f"  with a call, in a host      {s['with_a_call_in_a_host_ms']:.3f}  "
        f"(unbounded: {s['with_a_call_unbounded_ms']:.3f}; "
        f"{s['with_a_call_in_a_host_ms'] - s['with_a_call_unbounded_ms']:.3f} ms for the host)"
    )
    for kind, found in figures.get("steps", {}).items():
        modes = {m: f for m, f in found.items() if f}
        print(f"\nA registration, step by step, {kind} (median ms per step)")
        print("  " + f"{'step':18}" + "".join(f"{m:>10}" for m in modes))
        for name in next(iter(modes.values())):
            print(f"  {name:18}" + "".join(f"{modes[m][name]:10.2f}" for m in modes))


if __name__ == "__main__":
    main()
