"""Decide who may see which case: staff see all, a provider its own organisation's, an auditor its bureau's
(the audit the provider chose it for, or a renewal audit the provider asked it to do).

Every page and API route that shows a case calls ``require_case`` (403 when the case is not theirs), so
the rule lives in one place.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from sqlalchemy.orm import Session

from engine.models import MessageReceipt
from engine.views import InstanceDetail
from tasks import renewal
from tasks.models import Organisation, Person

STAFF = {"vlaio", "beheerder", "analist"}
RENEWAL_WAIT = "wait_renewal"  # where the renewal process waits for its audit (bpmn/renewal.bpmn)


def organisation_of(db: Session, person: Person) -> Organisation:
    org = db.get(Organisation, person.organisation_id)
    assert org is not None
    return org


def may_see(db: Session, person: Person | None, roles: set[str], detail: InstanceDetail) -> bool:
    """True when ``person`` may see this case."""
    if person is None:
        return False
    if roles & STAFF:
        return True
    org = organisation_of(db, person)
    data: dict[str, Any] = detail.data
    provider_side = bool(roles & {"dienstverlener", "lokale_beheerder"})
    if provider_side and org.enterprise_number and data.get("enterprise_number") == org.enterprise_number:
        return True
    if "auditbureau" in roles and org.audit_bureau_code:
        if data.get("audit_bureau") == org.audit_bureau_code:
            return True
        return renewal.requested_of(db, detail.business_key or "", org.audit_bureau_code)
    return False


def waits_for_renewal_audit(detail: InstanceDetail) -> bool:
    return any(
        s.message_name == "audit_report" and s.element_id == RENEWAL_WAIT for s in detail.subscriptions
    )


def assigned_bureau(db: Session, detail: InstanceDetail) -> str | None:
    """The bureau whose audit report the case waits for: for a renewal, the bureau of the provider's open
    renewal request (none without one); otherwise the bureau the provider chose."""
    if waits_for_renewal_audit(detail):
        request = renewal.open_request(db, detail.business_key or "")
        return request.audit_bureau if request is not None else None
    bureau = detail.data.get("audit_bureau")
    return bureau if isinstance(bureau, str) else None


def waits_for_report(detail: InstanceDetail) -> bool:
    return any(s.message_name == "audit_report" for s in detail.subscriptions)


def may_report(db: Session, audit_bureau_code: str | None, detail: InstanceDetail) -> bool:
    """True when the case waits for an audit report now and it is ``audit_bureau_code``'s to deliver."""
    return (
        bool(audit_bureau_code)
        and waits_for_report(detail)
        and assigned_bureau(db, detail) == audit_bureau_code
    )


def repeated_report(db: Session, report_id: str, application_id: str) -> bool:
    """True when this report was accepted before for this application (the engine answers "duplicate").

    Asked again under the case's lock by whoever delivers a report: the same report sent twice at once
    then gets "duplicate", not "the case does not wait for a report" because the first one got there.
    """
    seen = db.get(MessageReceipt, report_id, populate_existing=True)
    return seen is not None and seen.message_name == "audit_report" and seen.correlation_key == application_id


def require_case(
    db: Session, engine: Any, person: Person | None, roles: set[str], instance_id: int
) -> InstanceDetail:
    """The case, or 404 when it does not exist and 403 when it is not this person's."""
    from engine.errors import NotFound

    try:
        detail: InstanceDetail = engine.show(db, instance_id)
    except NotFound:
        abort(404)
    if not may_see(db, person, roles, detail):
        abort(403)
    return detail


def visible_cases(
    db: Session,
    engine: Any,
    person: Person,
    roles: set[str],
    limit: int = 200,
    status: str | None = None,
    process_key: str | None = None,
) -> list[InstanceDetail]:
    """The cases this person may see, newest first (at most ``limit``; of a status and process if given).

    Found in the database by the instances' search fields (enterprise number, audit bureau) and the
    renewal requests, so only the person's own cases are loaded; instances no run has indexed yet (from
    before kmop kept search fields) are checked one by one.
    """
    filters = {"status": status, "process_key": process_key}
    if roles & STAFF:
        return [engine.show(db, s.id) for s in engine.instances(db, limit=limit, **filters)]
    org = organisation_of(db, person)
    found: dict[int, Any] = {}
    if roles & {"dienstverlener", "lokale_beheerder"} and org.enterprise_number:
        for s in engine.instances(
            db, limit=limit, **filters, attributes={"enterprise_number": org.enterprise_number}
        ):
            found[s.id] = s
    if "auditbureau" in roles and org.audit_bureau_code:
        for s in engine.instances(
            db, limit=limit, **filters, attributes={"audit_bureau": org.audit_bureau_code}
        ):
            found[s.id] = s
        keys = renewal.applications_of_bureau(db, org.audit_bureau_code)
        if keys:
            for s in engine.instances(db, limit=limit, **filters, business_keys=keys):
                found[s.id] = s
    details = [engine.show(db, i) for i in sorted(found, reverse=True)[:limit]]
    legacy = [engine.show(db, s.id) for s in engine.instances(db, limit=limit, **filters, unindexed=True)]
    details += [d for d in legacy if d.id not in found and may_see(db, person, roles, d)]
    details.sort(key=lambda d: d.id, reverse=True)
    return details[:limit]  # the search fields and requests found them by the rule may_see applies
