"""Prepare a demo: schema, the bundled diagrams in ``bpmn/``, and a few cases to look at."""

from __future__ import annotations

from sqlalchemy import func, select

from .api import Engine
from .models import ProcessInstance


def prepare(engine: Engine) -> None:
    """Initialise the database, deploy ``bpmn/`` and start demo cases once (idempotent)."""
    engine.init_db()
    with engine.transaction() as session:
        result = engine.deploy(session, [engine.settings.bpmn_dir], actor="demo")
    for d in result.created:
        print(f"deployed {d['process_key']} version {d['version']}")
    with engine.transaction() as session:
        if session.scalar(select(func.count(ProcessInstance.id))):
            print("demo cases already present")
            return
        keys = {p.process_key for p in engine.processes(session)}
        if "termijnbewaking" in keys:
            for n in (1, 2, 3):
                engine.start(
                    session, "termijnbewaking", {"demo": True}, business_key=f"DEMO-{n}", actor="demo"
                )
            print("started 3 demo cases of 'termijnbewaking' (business keys DEMO-1..3)")
