"""Serve the registration procedures' service tasks: eligibility, audit summary, register, certificate,
notifications and the deadlines that the diagrams' timers wait for.

Each function is a plain typed service (``ServiceContext`` first, then the parameters the diagram gives)
registered under the operator name the diagrams use. The policy itself (what an audit result means, and
which registration and follow-ups it leads to) lives in the DMN tables ``bpmn/audit_outcome.dmn`` and
``bpmn/registration_route.dmn``, not here.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from engine.services import MessageContract, ServiceContext, ServiceRegistry

from . import certificate, dates, notify, register, renewal
from .models import AuditBureau, OutboxMessage, Registration
from .validation import (
    FieldError,
    ValidationErrors,
    summarize_scores,
    validate_application,
    validate_audit_report,
)

# The route of a decision comes from the decision table bpmn/registration_route.dmn.
ROUTES = ("standard", "starter", "conditional", "starter_conditional")


def follow_up_months() -> int:
    """Months for a conditional registration's follow-up audit when the report names no deadline
    (domain.md: 6, unconfirmed; setting ``KMOP_CONDITIONAL_FOLLOW_UP_MONTHS``)."""
    return int(os.environ.get("KMOP_CONDITIONAL_FOLLOW_UP_MONTHS", "6"))


# --------------------------------------------------------------------------------------- application


def _is_audit_bureau(ctx: ServiceContext, enterprise_number: str, company_name: str) -> AuditBureau | None:
    name = " ".join(company_name.lower().replace("ç", "c").split())
    for bureau in ctx.session.scalars(select(AuditBureau)):
        bureau_name = " ".join(bureau.name.lower().replace("ç", "c").split())
        if (
            bureau.enterprise_number == enterprise_number
            or name == bureau_name
            or name.startswith(bureau_name + " ")
        ):
            return bureau
    return None


def _eligibility_errors(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, FieldError]:
    errors: dict[str, FieldError] = {}
    bureau = _is_audit_bureau(ctx, str(data["enterprise_number"]), str(data["company_name"]))
    if bureau is not None:
        errors["enterprise_number"] = FieldError(
            "enterprise_number",
            f"Ondernemingsnummer: de aanvrager is een erkend auditbureau ({bureau.name}) en kan zich niet "
            "registreren als dienstverlener",
            f"Enterprise number: the applicant is an appointed audit bureau ({bureau.name}) and cannot "
            "register as a service provider",
        )
    for service in data["services"]:
        running = register.running_for(ctx.session, str(data["enterprise_number"]), service)
        if running is not None:
            errors["services"] = FieldError(
                "services",
                f"Diensten: er loopt al een registratie {running.number} voor {register.SERVICE_NL[service]}",
                f"Services: a registration {running.number} for {service} is already running",
            )
    return errors


def check_application(ctx: ServiceContext, data: dict[str, Any]) -> dict[str, Any]:
    """Validate an application before anything starts (start validator of ``registration``)."""
    accepted = dict(validate_application(data))
    errors = _eligibility_errors(ctx, accepted)
    if errors:
        raise ValidationErrors(errors)
    accepted["application_id"] = ctx.business_key
    # Names the diagrams read on every path, so that a path that skips the audit still finds them.
    accepted.update(outcome=None, follow_up_deadline=None, decision_note=None)
    return accepted


def check_eligibility(
    ctx: ServiceContext, enterprise_number: str, company_name: str, services: list[str]
) -> dict[str, Any]:
    """Check again, when the case reaches the agency, that nothing stands in the way of registering."""
    errors = _eligibility_errors(
        ctx, {"enterprise_number": enterprise_number, "company_name": company_name, "services": services}
    )
    return {"eligible": not errors, "reasons": [e.message_nl for e in errors.values()]}


def summarize_audit(ctx: ServiceContext, scores: dict[str, Any], audit_type: str) -> dict[str, Any]:
    """Turn the report's scores into the inputs of the audit-outcome decision table."""
    return dict(summarize_scores(scores, audit_type))


# ------------------------------------------------------------------------------------------ register


def register_provider(
    ctx: ServiceContext,
    application_id: str,
    enterprise_number: str,
    company_name: str,
    email: str,
    services: list[str],
    route: str,
    follow_up_deadline: str | None = None,
) -> dict[str, Any]:
    """Register one number per service: ``standard`` 5 years active, ``starter`` 2 years provisional,
    ``conditional`` 5 years with a follow-up deadline (from the report, else the default months), and
    ``starter_conditional`` (a starter with a G) 2 years provisional with that follow-up deadline too.

    A starter's condition cannot outlive its provisional period: the deadline is at most the period's last
    day, so the conditional follow-up always ends before the starter's own follow-up is due."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    existing = register.of_application(ctx.session, application_id)
    if existing:  # the same call retried after its transaction committed: report what is there
        return _summary(existing)
    decided = dates.today(ctx.now)
    years, status = {
        "standard": (5, "active"),
        "starter": (2, "provisional"),
        "conditional": (5, "conditional"),
        "starter_conditional": (2, "provisional"),
    }[route]
    valid_until = dates.add_years(decided, years)
    deadline: date | None = None
    if route in ("conditional", "starter_conditional"):
        deadline = (
            date.fromisoformat(follow_up_deadline)
            if follow_up_deadline
            else dates.add_months(decided, follow_up_months())
        )
        deadline = min(deadline, valid_until - timedelta(days=1))
    reason = {
        "standard": "registratie na beslissing van het agentschap",
        "starter": "voorlopige registratie als beginnende dienstverlener (2 jaar)",
        "conditional": "voorwaardelijke registratie: opvolgingsaudit vereist",
        "starter_conditional": "voorlopige registratie als beginnende dienstverlener (2 jaar) en "
        "voorwaardelijk: opvolgingsaudit vereist binnen de termijn van het auditrapport",
    }[route]
    created = [
        register.create(
            ctx.session,
            application_id=application_id,
            enterprise_number=enterprise_number,
            company_name=company_name,
            email=email,
            service=service,
            status=status,
            valid_from=decided,
            valid_until=valid_until,
            follow_up_deadline=deadline,
            now=ctx.now,
            reason=reason,
            source=f"{ctx.idempotency_key}:{service}",
        )
        for service in services
    ]
    return _summary(created)


def _summary(regs: list[Registration]) -> dict[str, Any]:
    first = regs[0]
    return {
        "numbers": [r.number for r in regs],
        "status": first.status,
        "valid_from": first.valid_from.isoformat(),
        "valid_until": first.valid_until.isoformat(),
        "follow_up_deadline": first.follow_up_deadline.isoformat() if first.follow_up_deadline else None,
        "running": first.status in register.RUNNING,
    }


ACTIONS = ("activate", "extend", "stop", "expire", "renew")
_CONDITION_MET_STARTER = (
    "positieve opvolgingsaudit: voorwaarde vervuld; de voorlopige registratie loopt tot de opvolgingsaudit "
    "als beginnende dienstverlener"
)


def update_registrations(
    ctx: ServiceContext, application_id: str, action: str, reason: str
) -> dict[str, Any]:
    """Change every registration of the application: activate (conditional → active; a provisional one, a
    starter whose condition is now met, stays provisional until its own follow-up), extend (a starter's
    end date + 3 years), stop, expire, or renew (same number, a new 5-year period after the old one)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    regs = register.of_application(ctx.session, application_id)
    if not regs:
        raise LookupError(f"no registrations for application {application_id}")
    today = dates.today(ctx.now)
    for reg in regs:
        if action in ("activate", "extend", "renew") and reg.status not in register.RUNNING:
            continue
        options: dict[str, dict[str, Any]] = {
            "activate": {"status": "active"},
            "extend": {"status": "active", "valid_until": dates.add_years(reg.valid_from, 5)},
            "stop": {"status": "stopped"},
            "expire": {"status": "expired"},
            "renew": {
                "status": "active",
                "valid_from": reg.valid_until,
                "valid_until": dates.add_years(reg.valid_until, 5),
            },
        }
        changes = dict(options[action])
        why = reason
        if action == "activate" and reg.status == "provisional":
            changes, why = {}, _CONDITION_MET_STARTER
        if action == "activate":
            changes["condition_met"] = True  # no follow-up deadline left to show or to plan by
        register.change(
            ctx.session, reg, now=ctx.now, on_date=today, reason=why, source=ctx.idempotency_key, **changes
        )
    if action in ("renew", "expire", "stop"):
        closed = {"renew": "renewed", "expire": "expired", "stop": "stopped"}[action]
        renewal.close(ctx.session, application_id, closed, ctx.now)
    return _summary(regs)


def issue_certificates(ctx: ServiceContext, application_id: str) -> dict[str, Any]:
    """Issue a certificate for each running registration whose dates changed since its last one."""
    issued = []
    for reg in register.of_application(ctx.session, application_id):
        if reg.status in register.RUNNING and certificate.issue(ctx.session, reg, ctx.now) is not None:
            issued.append(reg.number)
    return {"issued": issued}


def notify_provider(
    ctx: ServiceContext,
    template: str,
    application_id: str,
    email: str,
    company_name: str,
    reason: str = "",
    audit_bureau: str = "",
) -> dict[str, Any]:
    """Queue a Dutch e-mail to the provider about its application or registrations."""
    regs = register.of_application(ctx.session, application_id)
    deadline = ""
    if regs:
        end = regs[0].valid_until
        deadline = dates.long_nl(end)
    bureau = ""
    if template == "audit_reminder":
        bureau = "uw gekozen auditbureau"
    if audit_bureau:
        known = ctx.session.get(AuditBureau, audit_bureau)
        bureau = known.name if known is not None else audit_bureau
    message = notify.queue(
        ctx.session,
        key=ctx.idempotency_key,
        to=email,
        template=template,
        fields={
            "application_id": application_id,
            "company_name": company_name,
            "reason": reason or "-",
            "registrations": notify.describe(regs),
            "deadline": deadline,
            "audit_bureau": bureau,
        },
        application_id=application_id,
        now=ctx.now,
    )
    return {"outbox_id": message.id, "template": template}


# ----------------------------------------------------------------------------------------- deadlines


def plan_deadlines(ctx: ServiceContext, application_id: str, plan: str) -> dict[str, Any]:
    """Compute the moments the diagram's timers wait for, as ISO timestamps in Brussels time.

    ``starter``: reminders 3 and 1 month before the 2-year end, and the end itself; ``conditional``: the
    day after the follow-up deadline; ``renewal``: reminders 6 and 3 months before the end, and the end.

    A reminder whose moment has passed fires at once (a registration that enters the wait late still gets
    it), unless it was sent already or a later reminder is also due: then it is planned a day after the
    end, where the end's interrupting timer cancels it. So the diagrams may plan again when they go back to
    waiting (after a renewal request or a negative audit) without a reminder being sent twice.
    """
    regs = [r for r in register.of_application(ctx.session, application_id) if r.status in register.RUNNING]
    if not regs:
        raise LookupError(f"no running registration for application {application_id}")
    end = regs[0].valid_until
    never = dates.at_brussels(dates.day_after(end), 9)

    def reminders(template: str, *months_before: int) -> list[str]:
        moments = [
            datetime.combine(dates.add_months(end, -m), time(9), dates.BRUSSELS) for m in months_before
        ]
        planned = []
        for n, moment in enumerate(moments):
            later_due = any(m <= ctx.now for m in moments[n + 1 :])
            if moment <= ctx.now and (later_due or _sent_since(ctx, application_id, template, moment)):
                planned.append(never)
            else:
                planned.append(moment.isoformat())
        return planned

    if plan == "starter":
        first, second = reminders("follow_up_reminder", 3, 1)
        return {
            "first_reminder_at": first,
            "second_reminder_at": second,
            "deadline_at": dates.at_brussels(end),
            "deadline": end.isoformat(),
        }
    if plan == "conditional":
        deadline = regs[0].follow_up_deadline or dates.add_months(regs[0].valid_from, follow_up_months())
        return {"stop_at": dates.at_brussels(dates.day_after(deadline)), "deadline": deadline.isoformat()}
    if plan == "renewal":
        first, second = reminders("renewal_reminder", 6, 3)
        return {
            "first_reminder_at": first,
            "second_reminder_at": second,
            "expires_at": dates.at_brussels(end),
            "deadline": end.isoformat(),
        }
    raise ValueError(f"plan must be starter, conditional or renewal, got {plan!r}")


def _sent_since(ctx: ServiceContext, application_id: str, template: str, moment: datetime) -> bool:
    query = select(OutboxMessage.id).where(
        OutboxMessage.application_id == application_id,
        OutboxMessage.template == template,
        OutboxMessage.created_at >= moment,
    )
    return ctx.session.scalar(query.limit(1)) is not None


def register_all(registry: ServiceRegistry) -> None:
    """Register every operator, validator and message contract of the registration procedures."""
    registry.register_validator("check_application", check_application)
    for function in (
        check_eligibility,
        summarize_audit,
        register_provider,
        update_registrations,
        issue_certificates,
        notify_provider,
        plan_deadlines,
        renewal.record_renewal_request,
    ):
        registry.register(function.__name__, function)
    registry.register_message(renewal.contract())
    # Who may see a case: the provider by its enterprise number, the audit bureau it chose.
    registry.register_search_field("enterprise_number")
    registry.register_search_field("audit_bureau")
    registry.register_search_field("refusal_reason")  # a refused case lists as refused, not as ended
    registry.register_search_field("company_name")  # lists show it, sort and search by it
    registry.register_message(
        MessageContract(
            name="audit_report",
            validate=lambda payload: dict(validate_audit_report(payload)),
            key_field="application_id",
            id_field="report_id",
            refuse_unknown_key=True,
            # A report for a case that does not wait for one now is refused: kept, it could reach a later
            # wait it was never meant for (a renewal years on), or expire unread.
            buffer=False,
        )
    )
