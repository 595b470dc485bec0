"""Words for cases and registrations shared by the provider, bureau and agency pages.

Phases, statuses and services in Dutch (English through the catalog), where a case waits for an audit
report, and the input a user task was made with (which service a declaration is for).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from engine.errors import InvalidInput
from engine.views import InstanceDetail

from .. import formrender
from ..i18n import translate

T = TypeVar("T")

SERVICES = {"training": "Opleiding", "advice": "Advies"}
REGISTRATION_STATUS = {
    "provisional": "Voorlopig",
    "conditional": "Voorwaardelijk",
    "active": "Actief",
    "stopped": "Stopgezet",
    "expired": "Verlopen",
}
CASE_STATUS = {
    "running": "Bezig",
    "waiting": "Lopend",
    "completed": "Afgesloten",
    "cancelled": "Geannuleerd",
    "error": "Fout (in behandeling)",
    "suspended": "Geschorst",
}
# Where a case stands, by the element it waits at (first match wins).
PHASES = (
    ("sign_declaration", "Verklaring op eer ondertekenen"),
    ("check_declaration", "Verklaring op eer wordt nagekeken"),
    ("choose_bureau", "Auditbureau kiezen"),
    ("wait_report", "Wacht op het auditrapport"),
    ("decide", "Beslissing door VLAIO"),
    ("wait_follow_up", "Wacht op de opvolgingsaudit"),
    ("wait_renewal", "Geregistreerd; een verlenging vraagt een nieuwe audit"),
)
# Elements that wait for an audit report, and the kind of audit they expect.
REPORT_WAITS = {"wait_report": "full", "wait_follow_up": "follow_up", "wait_renewal": "full"}
AUDIT_TYPES = {
    "full": "Volledige audit",
    "limited": "Beperkte audit (starter)",
    "follow_up": "Opvolgingsaudit",
}
MODULES = {
    "activity": "Activiteit",
    "experience": "Ervaring",
    "satisfaction": "Klanttevredenheid",
    "knowledge": "Kennis van de kmo-portefeuille",
    "integrity": "Integriteit",
}
ASPECTS = {"conformity": "Conformiteit", "demonstrability": "Aantoonbaarheid"}
SCORES = {"B": "B - beperkt", "G": "G - gedeeltelijk", "T": "T - toereikend", "V": "V - volkomen"}

# Process data in words, in the order a case handler reads it (keys of the data dictionary first, then
# what the services added); a key not listed shows as itself.
DATA_LABELS = {
    "company_name": "Naam van de onderneming",
    "enterprise_number": "Ondernemingsnummer",
    "email": "E-mailadres",
    "iban": "IBAN",
    "bic": "BIC",
    "services": "Diensten",
    "provider_type": "Soort dienstverlener",
    "starter": "Starter",
    "eligibility": "Ontvankelijkheid",
    "declarations": "Verklaringen op eer",
    "audit_bureau": "Auditbureau",
    "audit_hours": "Geschat aantal uren",
    "audit_cost_estimate": "Geschatte auditkost (EUR)",
    "expected_audit_type": "Verwachte audit",
    "report_id": "Rapportnummer",
    "audit_type": "Type audit",
    "scores": "Scores",
    "follow_up_deadline": "Termijn opvolgingsaudit",
    "audit_summary": "Samenvatting van de audit",
    "outcome": "Auditresultaat",
    "decision": "Beslissing",
    "decision_note": "Motivering",
    "refusal_reason": "Reden van weigering",
    "registration": "Registraties",
    "certificates": "Attesten",
    "renewal_request": "Aanvraag tot verlenging",
    "declaration_accepted": "Verklaring op eer aanvaard",
    "declared_by": "Ondertekend door",
    "application_id": "Aanvraagnummer",
    "service": "Dienst",
}


def word(table: dict[str, str], key: Any) -> str:
    """``key`` in words from ``table``, in the current language (the key itself when unknown)."""
    return translate(table[key]) if key in table else str(key or "-")


def phase(detail: InstanceDetail) -> str:
    """Where the case stands, in words."""
    for element, text in PHASES:
        if element in detail.active_elements:
            return translate(text)
    if detail.status == "completed":
        return translate("Geweigerd") if detail.data.get("refusal_reason") else translate("Afgesloten")
    return word(CASE_STATUS, detail.status)


def waiting_report(detail: InstanceDetail) -> str | None:
    """The element at which the case waits for an ``audit_report``, or None."""
    for sub in detail.subscriptions:
        if sub.message_name == "audit_report":
            return sub.element_id
    return None


def expected_audit(detail: InstanceDetail) -> str:
    """The audit type the waiting case expects (a starter's first audit is limited)."""
    element = waiting_report(detail) or "wait_report"
    expected = detail.data.get("expected_audit_type")
    if element == "wait_report" and isinstance(expected, str):
        return expected
    return REPORT_WAITS.get(element, "full")


def task_input(engine: Any, db: Session, task_id: str) -> dict[str, Any]:
    """The data a ready user task holds (which service a declaration of honour is for)."""
    data: dict[str, Any] = engine.task_data(db, task_id)
    return data


def attempt(engine: Any, call: Callable[[Session], T]) -> T | InvalidInput:
    """Run an engine call that may refuse the input; return its result, or the refusal.

    The call runs in a savepoint, so that a refusal rolls back only what the call changed. A full
    rollback would expire every row the session loaded, also the process-version row the engine keeps
    in its spec cache, and the next start of that process would fail (DetachedInstanceError).
    """
    from engine.runner import begin_write

    with engine.transaction() as db:
        begin_write(db)
        try:
            with db.begin_nested():
                return call(db)
        except InvalidInput as exc:
            return exc


def complete_form(
    engine: Any, schema: dict[str, Any], form: Any, task: Any, actor: str
) -> tuple[dict[str, Any], dict[str, str], bool]:
    """Complete a user task with its posted form, as every task page does: (the values to show again,
    the errors by field, whether the task was completed). A task claimed by someone else, a field the
    form refuses and a completion the engine refuses each come back as errors, nothing half done."""
    values = formrender.values(schema, form)
    data = formrender.parse(schema, form)
    errors = formrender.check(schema, data)
    if task.claimed_by not in (None, actor):
        errors[""] = translate("Deze taak is opgenomen door %s.") % task.claimed_by
    if errors:
        return values, errors, False
    done = attempt(engine, lambda db: engine.complete(db, task.id, data, actor=actor))
    if isinstance(done, InvalidInput):
        return values, formrender.messages(done, schema), False
    return values, {}, True
