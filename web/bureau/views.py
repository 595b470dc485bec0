"""An auditor's audits (its own bureau's only) and the audit report form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, Forbidden, InvalidInput, MessageIdReused
from engine.pages import DUE_FIRST as DUE
from engine.pages import InstanceQuery, Match, Order
from engine.views import InstanceDetail
from tasks import renewal

from .. import formrender, lists
from ..access import (
    RENEWAL_WAIT,
    may_report,
    organisation_of,
    repeated_report,
    require_case,
    waits_for_renewal_audit,
)
from ..auth import engine, roles_required
from ..formrender import Field, Option
from ..i18n import translate
from ..provider import casework, wording
from . import bp

ASPECTS = casework.ASPECTS
REPORT_ID_HINT = "Uw eigen kenmerk van het rapport; hetzelfde rapport twee keer indienen telt één keer."
REPORT_ID_USED = (
    "Rapportnummer: %s werd al gebruikt voor een ander rapport; geef dit rapport een eigen nummer."
)
NOT_MINE = (
    "Dit auditrapport wordt niet door uw bureau verwacht: voor een verlenging kiest de dienstverlener het "
    "auditbureau in zijn aanvraag tot verlenging."
)
DEADLINE_HINT = "Alleen bij een voorwaardelijk resultaat (een G-score). Zonder datum geldt 6 maanden."


def _row(d: InstanceDetail) -> dict[str, Any]:
    waiting = casework.waiting_report(d)
    return {
        "id": d.id,
        "key": d.business_key,
        "company": d.data.get("company_name"),
        "services": [casework.word(casework.SERVICES, s) for s in d.data.get("services") or []],
        "hours": d.data.get("audit_hours"),
        "phase": casework.phase(d),
        "waiting": waiting,
        "expected": casework.word(casework.AUDIT_TYPES, casework.expected_audit(d)),
        "report_id": d.data.get("report_id"),
        "deadline": d.data.get("follow_up_deadline")
        if casework.waiting_report(d) == "wait_follow_up"
        else None,
        "updated_at": d.updated_at,
    }


def submitted(d: InstanceDetail, code: str | None) -> dict[str, Any] | None:
    """The last report this bureau submitted on the case, in words (None when it submitted none)."""
    if not d.data.get("report_id") or d.data.get("audit_bureau") != code:
        return None
    given = d.data.get("scores")
    scores: dict[str, Any] = given if isinstance(given, dict) else {}
    return {
        "report_id": d.data["report_id"],
        "audit_type": casework.word(casework.AUDIT_TYPES, d.data.get("audit_type")),
        "rows": wording.score_rows(scores),
        "deadline": d.data.get("follow_up_deadline"),
    }


SORTS = ("key", "company", "status", "updated", "due")
ORDERS = {"company": f"field:{lists.COMPANY}"}  # the engine's names of the sorts that differ
REPORT_WAITS = ("wait_report", "wait_follow_up")  # where a case waits for its (follow-up) audit report
CURRENT = 100  # open and renewal audits listed at most (the soonest due first)

bp.record_once(lists.init_app)


@bp.get("/")
@roles_required("auditbureau")
def index() -> Any:
    eng = engine()
    paging = lists.Paging.from_args(request.args, SORTS, "updated", descending=True)
    with eng.transaction() as db:
        org = organisation_of(db, g.person)
        code = org.audit_bureau_code
        match = lists.understand(db, paging.text)
        requested = renewal.applications_of_bureau(db, code) if code else []
        # the bureau's cases: the audits the providers chose it for, and the renewals asked of it
        scope = (Match(attributes={"audit_bureau": code}), Match(business_keys=requested)) if code else ()

        def rows(query: InstanceQuery, order: Order, offset: int, limit: int) -> tuple[Any, list[Any]]:
            page = eng.instance_page(db, query, order, offset, limit)
            return page, [
                _index_row(db, code, eng.show(db, r.case.id), r.due_at) for r in page.rows
            ]  # this page only

        _, current = rows(InstanceQuery(waiting_at=REPORT_WAITS, match=match, scope=scope), DUE, 0, CURRENT)
        renewals = InstanceQuery(
            waiting_at=(RENEWAL_WAIT,), match=match, scope=(Match(business_keys=requested),)
        )
        _, asked = rows(renewals, DUE, 0, CURRENT)
        # the bureau's other audits (complaints addressed to it are on /klachten/)
        rest = InstanceQuery(
            process_key="registration", not_waiting_at=REPORT_WAITS, match=match, scope=scope
        )
        page, past = rows(rest, paging.order(ORDERS.get(paging.sort)), paging.offset, lists.PAGE_SIZE)
    return render_template(
        "bureau/index.html",
        org_name=org.name,
        paging=paging,
        pager=lists.pager(page.offset, len(page.rows), page.total),
        open_rows=[r for r in current if r["mine"]],
        renewal_rows=[r for r in asked if r["mine"]],
        past_rows=past,
    )


def _index_row(db: Session, code: str | None, d: InstanceDetail, due_at: datetime | None) -> dict[str, Any]:
    row = {**_row(d), "due_at": due_at, "overdue": due_at is not None and due_at < clock.now()}
    row["mine"] = may_report(db, code, d)
    request = renewal.open_request(db, d.business_key or "") if waits_for_renewal_audit(d) else None
    if request is not None:
        row["hours"] = request.audit_hours
        row["requested_at"] = request.requested_at
        row["ends"] = request.registration_ends
    return row


def report_fields() -> tuple[list[Field], list[tuple[str, str, list[Field]]], Field]:
    """(head fields, one (module, label, [two selects]) per module, the deadline field)."""
    head = [
        Field(
            "report_id",
            translate("Rapportnummer"),
            "text",
            required=True,
            max_length=100,
            hint=translate(REPORT_ID_HINT),
        ),
        Field(
            "audit_type",
            translate("Type audit"),
            "radio",
            required=True,
            options=tuple(Option(k, casework.word(casework.AUDIT_TYPES, k)) for k in casework.AUDIT_TYPES),
        ),
    ]
    scores = tuple(Option(k, casework.word(casework.SCORES, k)) for k in casework.SCORES)
    modules = [
        (
            module,
            casework.word(casework.MODULES, module),
            [
                Field(f"scores.{module}.{aspect}", translate(word), "select", options=scores)
                for aspect, word in ASPECTS.items()
            ],
        )
        for module in casework.MODULES
    ]
    deadline = Field(
        "follow_up_deadline",
        translate("Termijn opvolgingsaudit"),
        "date",
        hint=translate(DEADLINE_HINT),
    )
    return head, modules, deadline


def payload_of(key: str, form: Any) -> dict[str, Any]:
    """The ``audit_report`` message from the form: only the modules that were scored."""
    scores: dict[str, dict[str, str]] = {}
    for module in casework.MODULES:
        given = {a: str(form.get(f"scores.{module}.{a}", "")).strip() for a in ASPECTS}
        if any(given.values()):
            scores[module] = {a: v for a, v in given.items() if v}
    return {
        "application_id": key,
        "report_id": str(form.get("report_id", "")).strip(),
        "audit_type": str(form.get("audit_type", "")).strip(),
        "scores": scores,
        "follow_up_deadline": str(form.get("follow_up_deadline", "")).strip() or None,
    }


@bp.route("/audits/<int:instance_id>", methods=["GET", "POST"])
@roles_required("auditbureau")
def report(instance_id: int) -> Any:
    eng = engine()
    with eng.transaction() as db:
        detail = require_case(db, eng, g.person, g.roles, instance_id)
        code = organisation_of(db, g.person).audit_bureau_code
        mine = may_report(db, code, detail)
    waiting = casework.waiting_report(detail) is not None
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"audit_type": casework.expected_audit(detail)}
    if request.method == "POST":
        values = {k: str(v) for k, v in request.form.items() if k != "csrf_token"}
        payload = payload_of(detail.business_key or "", request.form)
        actor = g.person.username
        report_id = str(payload.get("report_id") or "")
        with eng.transaction() as db:
            repeat = repeated_report(db, report_id, detail.business_key or "")
        if not waiting and not repeat:
            raise Conflict(translate("Dit dossier wacht niet op een auditrapport."))
        if not mine and not repeat:
            raise Forbidden(translate(NOT_MINE))

        def deliver(db: Session) -> Any:
            # Checked again under the case's lock, in the delivering transaction: a renewal request that
            # names another bureau may have come in since the page was shown, or the same report (sent
            # twice at once) may have been delivered: then the engine answers "duplicate".
            eng.lock(db, instance_id)
            if not repeated_report(db, report_id, detail.business_key or "") and not may_report(
                db, code, eng.show(db, instance_id)
            ):
                raise Forbidden(translate(NOT_MINE))
            return eng.message(db, "audit_report", None, payload, actor=actor)

        try:
            result = casework.attempt(eng, deliver)
        except MessageIdReused:
            result = InvalidInput(translate(REPORT_ID_USED) % payload["report_id"], field="report_id")
        if isinstance(result, InvalidInput):
            errors = formrender.messages(result)
        else:
            text = "Het auditrapport %s is bezorgd aan VLAIO."
            if result.status == "duplicate":
                text = "Het auditrapport %s werd al eerder ontvangen; het telt één keer."
            flash(translate(text) % payload["report_id"])
            return redirect(url_for("bureau.index"))
    head, modules, deadline = report_fields()
    shown = [*head, *(f for _, _, pair in modules for f in pair), deadline]
    return render_template(
        "bureau/report.html",
        detail=detail,
        waiting=waiting,
        mine=mine,
        head=head,
        modules=modules,
        deadline=deadline,
        submitted=submitted(detail, code),
        aspects=wording.aspects(),
        known=[f.name for f in shown] + [f"scores.{m}" for m in casework.MODULES],
        values=values,
        errors=errors,
    ), (400 if errors else 200)
