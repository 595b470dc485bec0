"""Complaints about an audit, the auditor or the verdict, and the appeal to the supervisory committee.

A provider files a complaint in writing to the audit bureau that did the audit (``bpmn/complaint.bpmn``);
the bureau answers within the diagram's deadline (reminded, then escalated to VLAIO when late); the
provider may then appeal to the *toezichtscomité* (VLAIO, Departement WSE, VDAB), whose decision is
recorded on the case. The process data is the record: a complaint is a case of the process ``complaint``
whose ``enterprise_number`` and ``audit_bureau`` are search fields, so the provider and the bureau find
(and may see) their own complaints exactly as they do their applications.

Here: the start validator, the notification service, the audits a provider can complain about, and each
complaint in words for the lists.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from engine.models import InstanceAttribute, ProcessInstance
from engine.services import ServiceContext, ServiceRegistry
from engine.views import InstanceDetail

from . import dates, notify
from .keys import key_in_use
from .models import AuditBureau, Organisation, OutboxMessage, Person, RenewalRequest, RoleGrant
from .validation import FieldError, ValidationErrors, normalize_enterprise_number

PROCESS = "complaint"
REGISTRATION = "registration"
COMPLAINT_KEY = re.compile(r"KL-\d{4}-[0-9A-F]{6}")
SUBJECTS = {"audit": "De audit", "auditor": "De auditor", "verdict": "Het oordeel"}
VERDICTS = {"founded": "Gegrond", "partly": "Deels gegrond", "unfounded": "Ongegrond"}
APPEAL_DECISIONS = {"upheld": "Beroep gegrond", "rejected": "Beroep ongegrond"}
# Where a complaint stands, by the element it waits at (first match wins).
STATES = (
    ("answer_complaint", "Wacht op het antwoord van het auditbureau"),
    ("consider_appeal", "Beantwoord; beroep mogelijk"),
    ("decide_appeal", "In beroep bij het toezichtscomité"),
)

TEMPLATES: dict[str, tuple[str, str]] = {
    "complaint_received": (
        "Klacht {complaint_id} over een audit voor {company_name}",
        "Beste,\n\n{company_name} diende een klacht in over {subject_nl} (aanvraag {about_application}). "
        "Lees de klacht en beantwoord ze schriftelijk in het portaal, bij Klachten.",
    ),
    "complaint_reminder": (
        "Herinnering: klacht {complaint_id} is nog niet beantwoord",
        "Beste,\n\nDe termijn om klacht {complaint_id} van {company_name} te beantwoorden is verstreken. "
        "Beantwoord ze zo snel mogelijk in het portaal; zonder antwoord volgt VLAIO de klacht op.",
    ),
    "complaint_answered": (
        "Antwoord op uw klacht {complaint_id}",
        "Beste {company_name},\n\n{audit_bureau} beantwoordde uw klacht {complaint_id}.\n"
        "Oordeel: {outcome_nl}\nAntwoord: {text}\n\nBent u het niet eens met dit antwoord, dan kunt u in het "
        "portaal in beroep gaan bij het toezichtscomité (VLAIO, Departement WSE, VDAB); bij uw klacht ziet u "
        "tot wanneer dat kan.",
    ),
    "appeal_decided": (
        "Beslissing over het beroep bij klacht {complaint_id}",
        "Beste,\n\nHet toezichtscomité (VLAIO, Departement WSE, VDAB) besliste over het beroep van "
        "{company_name} bij klacht {complaint_id} over {audit_bureau}.\nBeslissing: {outcome_nl}\n"
        "Motivering: {text}",
    ),
}
OUTCOMES = {**VERDICTS, **APPEAL_DECISIONS}


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "-"


def new_complaint_key(session: Session, now: datetime) -> str:
    """A fresh complaint key ``KL-<year>-<6 hex digits>``, not used by any case."""
    year = now.astimezone(dates.BRUSSELS).year
    while True:
        key = f"KL-{year}-{secrets.token_hex(3).upper()}"
        if not key_in_use(session, key):
            return key


# ------------------------------------------------------------------------------- what to complain about


@dataclass(frozen=True)
class Audit:
    """An audit a provider may complain about: the application it was for and the bureau that did it."""

    application_id: str
    audit_bureau: str
    bureau_name: str
    company_name: str | None = None


def audits_of(session: Session, enterprise_number: str) -> list[Audit]:
    """The audits of this company's applications: the bureau it chose, and any renewal audit's bureau."""
    company = aliased(InstanceAttribute)
    bureau = aliased(InstanceAttribute)
    rows = session.execute(
        select(ProcessInstance.business_key, bureau.value)
        .join(company, company.instance_id == ProcessInstance.id)
        .join(bureau, bureau.instance_id == ProcessInstance.id)
        .where(
            ProcessInstance.process_key == REGISTRATION,
            company.name == "enterprise_number",
            company.value == enterprise_number,
            bureau.name == "audit_bureau",
        )
        .order_by(ProcessInstance.id.desc())
    ).all()
    pairs: list[tuple[str, str]] = [(str(k), str(b)) for k, b in rows if k and b]
    keys = [k for k, _ in pairs]
    if keys:
        renewals = session.execute(
            select(RenewalRequest.application_id, RenewalRequest.audit_bureau)
            .where(RenewalRequest.application_id.in_(keys))
            .order_by(RenewalRequest.id)
        ).all()
        pairs += [(str(a), str(b)) for a, b in renewals]
    names = {b.code: b.name for b in session.scalars(select(AuditBureau))}
    seen: dict[tuple[str, str], Audit] = {}
    for key, code in pairs:
        seen.setdefault((key, code), Audit(key, code, names.get(code, code)))
    return list(seen.values())


def _error(field: str, nl: str, en: str) -> FieldError:
    return FieldError(field, nl, en)


def check_complaint(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """Accept a complaint only about an audit of the complainant's own application (start validator)."""
    accepted = dict(data)
    try:
        number = normalize_enterprise_number(str(data.get("enterprise_number") or ""))
    except FieldError as exc:
        raise ValidationErrors({"enterprise_number": exc}) from exc
    accepted["enterprise_number"] = number
    about = str(data.get("about_application") or "").strip()
    code = str(data.get("audit_bureau") or "")
    audits = {(a.application_id, a.audit_bureau) for a in audits_of(ctx.session, number)}
    if (about, code) not in audits:
        raise ValidationErrors(
            {
                "about_application": _error(
                    "about_application",
                    "Aanvraag: kies een audit van een aanvraag van uw onderneming, door het bureau dat ze "
                    "deed",
                    "Application: choose an audit of one of your company's applications, by the bureau that "
                    "did it",
                )
            }
        )
    accepted["about_application"] = about
    accepted["complaint_id"] = ctx.business_key
    accepted["filed_at"] = ctx.now.isoformat()
    # Names the diagram reads later on every path (a path that skips a task still finds them).
    accepted.update(
        complaint_founded=None,
        answer_text=None,
        appeal=None,
        appeal_text=None,
        appeal_decision=None,
        appeal_decision_note=None,
    )
    return accepted


# -------------------------------------------------------------------------------------------- e-mail


def bureau_addresses(session: Session, audit_bureau: str) -> list[str]:
    """The e-mail addresses of the bureau's active auditors (people with the role ``auditbureau``)."""
    query = (
        select(Person.email)
        .join(Organisation, Organisation.id == Person.organisation_id)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            Organisation.audit_bureau_code == audit_bureau,
            RoleGrant.role == "auditbureau",
            Person.active.is_(True),
        )
        .order_by(Person.id)
    )
    return sorted(set(session.scalars(query)))


def _queue(ctx: ServiceContext, key: str, to: str, template: str, fields: dict[str, Any]) -> OutboxMessage:
    existing = ctx.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
    if existing is not None:  # the same service call retried: queue nothing twice
        return existing
    subject, body = TEMPLATES[template]
    values = _Fields(fields)
    message = OutboxMessage(
        idempotency_key=key,
        application_id=str(fields["complaint_id"]),
        to_address=to,
        template=template,
        subject=subject.format_map(values),
        body=body.format_map(values) + notify.SIGNATURE,
        created_at=ctx.now,
        meta={"fields": sorted(fields)},
    )
    ctx.session.add(message)
    ctx.session.flush()
    return message


def notify_complaint(
    ctx: ServiceContext,
    template: str,
    recipient: str,
    complaint_id: str,
    email: str,
    company_name: str,
    audit_bureau: str,
    subject: str | None = None,
    about_application: str | None = None,
    text: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """Queue a Dutch e-mail about a complaint to the provider, the bureau's auditors, or both."""
    if template not in TEMPLATES:
        raise ValueError(f"no complaint e-mail template '{template}' (known: {', '.join(sorted(TEMPLATES))})")
    if recipient not in ("provider", "bureau", "both"):
        raise ValueError(f"recipient must be provider, bureau or both, got {recipient!r}")
    bureau = ctx.session.get(AuditBureau, audit_bureau)
    detail = _Fields(
        complaint_id=complaint_id,
        company_name=company_name,
        audit_bureau=bureau.name if bureau is not None else audit_bureau,
        subject_nl=SUBJECTS.get(subject or "", "de audit").lower(),
        about_application=about_application or "-",
        text=text or "-",
        outcome_nl=OUTCOMES.get(outcome or "", "-"),
    )
    addresses: list[str] = []
    if recipient in ("provider", "both"):
        addresses.append(email)
    if recipient in ("bureau", "both"):
        addresses += bureau_addresses(ctx.session, audit_bureau)
    ids = [
        _queue(ctx, f"{ctx.idempotency_key}:{n}", to, template, dict(detail)).id
        for n, to in enumerate(addresses)
    ]
    return {"outbox_ids": ids, "template": template, "at": ctx.now.isoformat()}


# ------------------------------------------------------------------------------------- in words, lists


@dataclass(frozen=True)
class Complaint:
    """A complaint as the lists and its page show it (Dutch words; the web layer translates)."""

    id: int
    key: str
    company_name: str
    about_application: str
    audit_bureau: str
    subject: str
    state: str
    filed_at: str | None
    verdict: str | None
    appeal_decision: str | None
    open: bool


RECORDED = ("answer_complaint", "consider_appeal", "decide_appeal", "follow_up_late_answer")


def facts(detail: InstanceDetail) -> dict[str, Any]:
    """The complaint's data with what each party submitted, from the case's history.

    While VLAIO's follow-up of a late answer is open, that branch holds the case's "current" data (from
    before the answer); the answer, the appeal and the decision are read from the history entries of
    their tasks, which hold exactly what was submitted, whichever branch is current.
    """
    found = dict(detail.data)
    for entry in detail.history:
        if entry.event == "user_task_completed" and entry.element_id in RECORDED:
            submitted = entry.detail.get("data")
            if isinstance(submitted, dict):
                found.update(submitted)
    return found


def state_of(detail: InstanceDetail) -> str:
    """Where the complaint stands, in (Dutch) words (a late answer's follow-up by VLAIO aside)."""
    for element, text in STATES:
        if element in detail.active_elements:
            return text
    decision = facts(detail).get("appeal_decision")
    if decision in APPEAL_DECISIONS:
        return "Beroep beslist: " + APPEAL_DECISIONS[decision].split(" ", 1)[1]
    if "closed_without_appeal" in detail.completed_elements:
        return "Afgesloten zonder beroep (termijn verstreken)"
    if "complaint_closed" in detail.completed_elements or detail.status == "completed":
        return "Afgesloten"
    return "Lopend"


def describe(detail: InstanceDetail, bureau_names: dict[str, str]) -> Complaint:
    data = facts(detail)
    code = str(data.get("audit_bureau") or "")
    return Complaint(
        id=detail.id,
        key=detail.business_key or str(detail.id),
        company_name=str(data.get("company_name") or "-"),
        about_application=str(data.get("about_application") or "-"),
        audit_bureau=bureau_names.get(code, code),
        subject=SUBJECTS.get(str(data.get("subject")), "-"),
        state=state_of(detail),
        filed_at=data.get("filed_at"),
        verdict=VERDICTS.get(str(data.get("complaint_founded"))),
        appeal_decision=APPEAL_DECISIONS.get(str(data.get("appeal_decision"))),
        open=detail.status not in ("completed", "cancelled"),
    )


def bureau_names(session: Session) -> dict[str, str]:
    return {b.code: b.name for b in session.scalars(select(AuditBureau))}


def mails_of(session: Session, complaint_id: str) -> list[OutboxMessage]:
    """The e-mails queued about this complaint, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.application_id == complaint_id)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def register(registry: ServiceRegistry) -> None:
    """Register the complaint procedure's start validator and notification service."""
    registry.register_validator("check_complaint", check_complaint)
    registry.register("notify_complaint", notify_complaint)
