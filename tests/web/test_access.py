"""Finding a person's cases in the database (search fields, renewal requests), not by loading every case."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, update

from engine.api import Engine
from engine.models import InstanceAttribute, ProcessInstance
from tasks.models import Person
from tests.web.test_provider import OTHER, complete, registered, start, to_report
from web.access import visible_cases


def _cases(engine: Engine, username: str, limit: int = 200) -> list[str | None]:
    from tasks import people

    with engine.transaction() as db:
        person = db.scalars(select(Person).where(Person.username == username)).one()
        roles = people.roles_of(db, person)
        return [d.business_key for d in visible_cases(db, engine, person, roles, limit=limit)]


def test_search_fields_follow_the_process_data(app: Flask, engine: Engine) -> None:
    case = start(engine, "APP-S-000001", services=["advice"])
    with engine.transaction() as db:
        rows = {
            r.name: r.value
            for r in db.scalars(select(InstanceAttribute).where(InstanceAttribute.instance_id == case))
        }
    assert rows == {"enterprise_number": "0566988259", "company_name": "Acme Opleidingen BV"}
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    complete(engine, case, "check_declaration", {"decision": "approve"})
    complete(engine, case, "choose_bureau", {"audit_bureau": "kiwa", "audit_hours": 12})
    with engine.transaction() as db:
        rows = {
            r.name: r.value
            for r in db.scalars(select(InstanceAttribute).where(InstanceAttribute.instance_id == case))
        }
        assert rows == {
            "enterprise_number": "0566988259",
            "audit_bureau": "kiwa",
            "company_name": "Acme Opleidingen BV",
        }
        assert [s.id for s in engine.instances(db, attributes={"audit_bureau": "kiwa"})] == [case]
        assert engine.instances(db, attributes={"audit_bureau": "dnv"}) == []


def test_a_providers_own_cases_are_found_however_many_others_are_newer(app: Flask, engine: Engine) -> None:
    own = start(engine, "APP-S-000002", services=["advice"])
    for n in range(3):
        start(
            engine, f"APP-S-10000{n}", services=["advice"], enterprise_number=OTHER, company_name="Andere BV"
        )
    assert _cases(engine, "admin.acme", limit=2) == ["APP-S-000002"]
    assert _cases(engine, "piet.andere", limit=2) == ["APP-S-100002", "APP-S-100001"]
    assert len(_cases(engine, "an.vlaio", limit=2)) == 2  # staff: the newest
    assert own


def test_an_auditor_finds_its_audits_and_the_renewals_asked_of_it(app: Flask, engine: Engine) -> None:
    to_report(engine, "APP-S-000003", bureau="dnv")
    to_report(engine, "APP-S-000004", bureau="kiwa", services=["advice"])
    registered(engine, "APP-S-000009", enterprise_number=OTHER, company_name="Andere BV", bureau="kiwa")
    assert _cases(engine, "auditor.dnv") == ["APP-S-000003"]
    payload = {"application_id": "APP-S-000009", "audit_bureau": "dnv", "audit_hours": 8}
    with engine.transaction() as db:
        engine.message(db, "renewal_requested", None, payload)
    assert _cases(engine, "auditor.dnv") == ["APP-S-000009", "APP-S-000003"]


def test_cases_from_before_the_search_fields_are_still_found(app: Flask, engine: Engine) -> None:
    old, _ = registered(engine, "APP-S-000005")
    with engine.transaction() as db:  # as a database migrated from before kmop kept search fields
        db.execute(update(ProcessInstance).where(ProcessInstance.id == old).values(search=None))
        db.execute(InstanceAttribute.__table__.delete().where(InstanceAttribute.instance_id == old))
        assert [s.id for s in engine.instances(db, unindexed=True)] == [old]
    assert _cases(engine, "admin.acme") == ["APP-S-000005"]
    assert _cases(engine, "auditor.dnv") == ["APP-S-000005"]
    assert _cases(engine, "piet.andere") == []


def test_the_api_lists_a_providers_own_cases_past_newer_ones_of_others(app: Flask, engine: Engine) -> None:
    from tests.web.test_api import Api, token_for

    own = start(engine, "APP-S-000006", services=["advice"])
    for n in range(3):
        start(
            engine, f"APP-S-20000{n}", services=["advice"], enterprise_number=OTHER, company_name="Andere BV"
        )
    api = Api(app.test_client(), token_for(engine, "admin.acme"))
    listed = api.ok(api.get("/cases?limit=1"))["cases"]
    assert [c["id"] for c in listed] == [own]
    assert api.ok(api.get("/cases?status=completed"))["cases"] == []


def test_reindex_indexes_the_cases_from_before(app: Flask, engine: Engine) -> None:
    old, _ = registered(engine, "APP-S-000008")
    with engine.transaction() as db:
        db.execute(update(ProcessInstance).where(ProcessInstance.id == old).values(search=None))
        db.execute(InstanceAttribute.__table__.delete().where(InstanceAttribute.instance_id == old))
    with engine.transaction() as db:
        assert engine.reindex(db) == 1
    with engine.transaction() as db:
        assert engine.reindex(db) == 0
        assert engine.instances(db, unindexed=True) == []
        found = engine.instances(db, attributes={"enterprise_number": "0566988259", "audit_bureau": "dnv"})
        assert [s.id for s in found] == [old]
