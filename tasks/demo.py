"""Prepare a demo: schema, the bundled diagrams in ``bpmn/``, and registration cases at several stages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine import clock
from engine.api import Engine
from engine.models import ProcessInstance

from . import people
from .validation import normalize_enterprise_number

PROVIDERS: list[dict[str, Any]] = [
    {
        "enterprise_number": "0566.988.259",
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.example",
        "iban": "BE48 0011 2345 6727",
        "bic": "GEBABEBB",
        "services": ["training"],
        "provider_type": "private",
        "starter": False,
    },
    {
        "enterprise_number": "1000.000.021",
        "company_name": "Cyberveilig Advies NV",
        "email": "hallo@cyber.example",
        "iban": "BE56 3631 2345 6788",
        "bic": "BBRUBEBB",
        "services": ["training", "advice"],
        "provider_type": "private",
        "starter": True,
    },
    {
        "enterprise_number": "1001.234.592",
        "company_name": "Hogeschool Demo",
        "email": "kmo@hogeschool.example",
        "iban": "BE09 7341 2345 6757",
        "bic": "KREDBEBB",
        "services": ["training"],
        "provider_type": "public",
        "starter": False,
    },
]


def prepare(engine: Engine) -> None:
    """Initialise the database, deploy ``bpmn/`` and add demo cases once (running it again adds nothing)."""
    engine.init_db()
    with engine.transaction() as session:
        result = engine.deploy(session, [engine.settings.bpmn_dir], actor="demo")
    for d in result.created:
        print(f"deployed {d['process_key']} version {d['version']}")
    with engine.transaction() as session:
        if session.scalar(select(func.count(ProcessInstance.id))):
            print("demo cases already present")
            _print_people()
            return
    _add_people(engine)
    keys = []
    for n, provider in enumerate(PROVIDERS, start=1):
        key = f"APP-DEMO-{n}"
        with engine.transaction() as session:
            engine.start(session, "registration", provider, business_key=key, actor="demo")
        keys.append(key)
    _sign_and_check(engine, keys[1])
    with engine.transaction() as session:
        task = _task(engine, session, keys[1], "choose_bureau")
        engine.complete(session, task, {"audit_bureau": "vincotte", "audit_hours": 14}, actor="demo")
    _sign_and_check(engine, keys[2])
    with engine.transaction() as session:
        engine.complete(
            session, _task(engine, session, keys[2], "decide"), {"decision": "approve"}, actor="demo"
        )
    print(
        "demo cases: APP-DEMO-1 (applied), APP-DEMO-2 (waiting for its audit report), "
        "APP-DEMO-3 (public provider, registered)"
    )
    _print_people()


DEMO_PASSWORD = "demo"  # a demo only: every demo person has this password, printed at start
DEMO_PEOPLE = [  # username, name, organisation index (-1: agency, -2: audit bureau Vinçotte), roles
    ("beheerder.acme", "Bea Beheerder", 0, ("lokale_beheerder",)),
    ("jan.acme", "Jan Peeters", 0, ("dienstverlener",)),
    ("els.cyber", "Els Claes", 1, ("dienstverlener", "lokale_beheerder")),
    ("hilde.hogeschool", "Hilde Maes", 2, ("dienstverlener", "lokale_beheerder")),
    ("auditor.vincotte", "Vera Auditor", -2, ("auditbureau",)),
    ("an.vlaio", "An Dossierbeheerder", -1, ("vlaio",)),
    ("ops", "Olaf Operator", -1, ("beheerder", "analist")),
]


def _add_people(engine: Engine) -> None:
    with engine.transaction() as session:
        orgs = [
            people.create_organisation(
                session, p["company_name"], "provider", normalize_enterprise_number(p["enterprise_number"])
            )
            for p in PROVIDERS
        ]
        agency = people.create_organisation(session, "VLAIO", "agency")
        bureau = people.create_organisation(session, "Vinçotte", "audit_bureau", audit_bureau_code="vincotte")
        for username, name, index, roles in DEMO_PEOPLE:
            org = {-1: agency, -2: bureau}.get(index) or orgs[index]
            people.create_person(
                session,
                username=username,
                name=name,
                email=f"{username}@demo.example",
                password=DEMO_PASSWORD,
                organisation=org,
                roles=roles,
                now=clock.now(),
            )


def _print_people() -> None:
    listed = ", ".join(f"{u} ({'/'.join(r)})" for u, _n, _i, r in DEMO_PEOPLE)
    print(f"demo people, password '{DEMO_PASSWORD}': {listed}")


def _task(engine: Engine, session: Any, key: str, element: str) -> str:
    instance = next(i for i in engine.instances(session) if i.business_key == key)
    return next(t.id for t in engine.tasks(session, instance_id=instance.id) if t.element_id == element)


def _sign_and_check(engine: Engine, key: str) -> None:
    with engine.transaction() as session:
        instance = next(i for i in engine.instances(session) if i.business_key == key)
        for task in engine.tasks(session, instance_id=instance.id):
            if task.element_id == "sign_declaration":
                engine.complete(
                    session, task.id, {"declaration_accepted": True, "declared_by": "Demo"}, actor="demo"
                )
    with engine.transaction() as session:
        engine.complete(
            session, _task(engine, session, key, "check_declaration"), {"decision": "approve"}, actor="demo"
        )
