"""Start a renewal in the provider portal (and through the API): the bureau named there, and only that
bureau, delivers the renewal audit; the registration goes on with the same number."""

from __future__ import annotations

import re

from flask import Flask

from engine import clock
from engine.api import Engine
from tasks import people, register, renewal
from tasks.dates import today
from tasks.models import OutboxMessage
from tests.web.conftest import PASSWORD
from tests.web.test_api import Api, add_person, report, token_for
from tests.web.test_bureau import scores
from tests.web.test_provider import client_of, grant, post, registered, to_report


def _kiwa_auditor(engine: Engine) -> None:
    with engine.transaction() as db:
        kiwa = people.create_organisation(db, "Kiwa Belgium", "audit_bureau", audit_bureau_code="kiwa")
        people.create_person(
            db,
            username="auditor.kiwa",
            name="Karel",
            email="karel@kiwa.example",
            password=PASSWORD,
            organisation=kiwa,
            roles=("auditbureau",),
            now=clock.now(),
        )


def test_the_provider_requests_a_renewal_and_the_chosen_bureau_renews_it(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    _kiwa_auditor(engine)
    case, number = registered(engine, "APP-R-000001")
    with engine.transaction() as db:
        [before] = register.of_application(db, "APP-R-000001")
        until, old_end = before.valid_until.strftime("%d/%m/%Y"), before.valid_until
    jan = client_of(app, "jan.acme")
    overview = jan.get("/aanbieder/").get_data(as_text=True)
    assert f"/aanbieder/aanvragen/{case}/verlenging" in overview
    form = jan.get(f"/aanbieder/aanvragen/{case}/verlenging").get_data(as_text=True)
    assert f"De registratie loopt tot {until}." in form
    assert '<option value="kiwa"' in form and "Kiwa Belgium" in form and "Vinçotte" in form
    assert re.search(r'<option value="dnv" selected>', form), "the first audit's bureau is proposed"

    # A wrong number of hours: the error beside the field, the chosen bureau kept, nothing recorded.
    refused = post(
        jan, f"/aanbieder/aanvragen/{case}/verlenging", {"audit_bureau": "kiwa", "audit_hours": "0"}
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'id="f-audit-hours-error"' in html
    assert re.search(r'<option value="kiwa" selected>', html)
    with engine.transaction() as db:
        assert renewal.history(db, "APP-R-000001") == []

    sent = post(jan, f"/aanbieder/aanvragen/{case}/verlenging", {"audit_bureau": "kiwa", "audit_hours": "12"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/aanbieder/aanvragen/{case}")
    page = jan.get(f"/aanbieder/aanvragen/{case}").get_data(as_text=True)
    assert "Uw aanvraag tot verlenging is bezorgd" in page
    assert re.search(r"Verlenging aangevraagd op \d\d/\d\d/\d{4} bij Kiwa Belgium\.", page)
    with engine.transaction() as db:
        [request] = renewal.history(db, "APP-R-000001")
        assert (request.audit_bureau, request.audit_hours, request.requested_by) == ("kiwa", 12, "jan.acme")
        mail = db.query(OutboxMessage).filter_by(template="renewal_requested").one()
        assert "Kiwa Belgium" in mail.body

    # The first audit's bureau may not deliver it; the chosen one sees it among its requested renewals.
    dnv = client_of(app, "auditor.dnv")
    assert "niet door uw bureau verwacht" in dnv.get(f"/auditbureau/audits/{case}").get_data(as_text=True)
    wrong = post(
        dnv, f"/auditbureau/audits/{case}", {"report_id": "DNV-REN", "audit_type": "full", **scores()}
    )
    assert wrong.status_code == 403
    kiwa = client_of(app, "auditor.kiwa")
    listing = kiwa.get("/auditbureau/").get_data(as_text=True)
    requested = listing.split("Aangevraagde verlengingsaudits")[1].split("Afgehandelde audits")[0]
    assert "APP-R-000001" in requested and f"/auditbureau/audits/{case}" in requested and until in requested
    delivered = post(
        kiwa, f"/auditbureau/audits/{case}", {"report_id": "KIWA-1", "audit_type": "full", **scores()}
    )
    assert delivered.status_code == 302
    with engine.transaction() as db:
        [after] = register.of_application(db, "APP-R-000001")
        assert after.number == number and after.valid_from == old_end and after.status == "active"
        assert [r.status for r in renewal.history(db, "APP-R-000001")] == ["renewed"]
    # Renewed, the case waits for the next period's renewal: a request can be made again.
    assert f"/aanbieder/aanvragen/{case}/verlenging" in jan.get(f"/aanbieder/aanvragen/{case}").get_data(
        as_text=True
    )


def test_no_renewal_request_while_the_case_is_not_registered(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    case = to_report(engine, "APP-R-000002")
    jan = client_of(app, "jan.acme")
    page = jan.get(f"/aanbieder/aanvragen/{case}/verlenging")
    assert page.status_code == 200 and "kan nu geen verlenging aangevraagd worden" in page.get_data(
        as_text=True
    )
    assert f"/aanbieder/aanvragen/{case}/verlenging" not in jan.get(f"/aanbieder/aanvragen/{case}").get_data(
        as_text=True
    )
    refused = post(
        jan, f"/aanbieder/aanvragen/{case}/verlenging", {"audit_bureau": "kiwa", "audit_hours": "8"}
    )
    assert refused.status_code == 409
    with engine.transaction() as db:
        assert renewal.history(db, "APP-R-000002") == []


def test_a_renewal_through_the_api(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    case, number = registered(engine, "APP-R-000003")
    waiting = to_report(engine, "APP-R-000004", services=["advice"])
    client = app.test_client()
    provider = Api(client, token_for(engine, "jan.acme"))
    kiwa = Api(client, add_person(engine, "kiwa.system", "kiwa", ("auditbureau",)))
    other = Api(client, token_for(engine, "piet.andere"))
    # Before any request, the renewal audit is nobody's to deliver, not even the first audit's bureau.
    assert kiwa.post("/messages/audit_report", report("APP-R-000003", "K-1")).status_code == 403
    assert other.post(f"/cases/{case}/renewal", {"audit_bureau": "kiwa", "audit_hours": 8}).status_code == 403
    bad = provider.post(f"/cases/{case}/renewal", {"audit_bureau": "nobody", "audit_hours": 8})
    assert bad.status_code == 400 and bad.get_json()["field"] == "audit_bureau"
    assert (
        provider.post(f"/cases/{waiting}/renewal", {"audit_bureau": "kiwa", "audit_hours": 8}).status_code
        == 409
    )
    result = provider.ok(provider.post(f"/cases/{case}/renewal", {"audit_bureau": "kiwa", "audit_hours": 8}))
    assert result["status"] == "delivered" and result["instance_id"] == case
    assert kiwa.ok(kiwa.get(f"/cases/{case}"))["business_key"] == "APP-R-000003"
    assert (
        kiwa.ok(kiwa.post("/messages/audit_report", report("APP-R-000003", "K-1")))["status"] == "delivered"
    )
    registration = kiwa.ok(kiwa.get(f"/registrations/{number}"))
    assert registration["registration_number"] == number and registration["status"] == "active"


def test_a_report_sent_early_is_refused_not_kept_for_the_renewal(app: Flask, engine: Engine) -> None:
    from tests.web.test_provider import complete

    case = to_report(engine, "APP-R-000005")
    client = app.test_client()
    dnv = Api(client, token_for(engine, "auditor.dnv"))
    dnv.ok(dnv.post("/messages/audit_report", report("APP-R-000005", "DNV-1")))
    # The case now waits for the agency's decision, not for a report: a second one is refused, not buffered
    # (delivered later it would renew the registration without any renewal request).
    early = dnv.post("/messages/audit_report", report("APP-R-000005", "DNV-2"))
    assert early.status_code == 403
    assert (
        dnv.ok(dnv.post("/messages/audit_report", report("APP-R-000005", "DNV-1")))["status"] == "duplicate"
    )
    complete(engine, case, "decide", {"decision": "approve"})
    with engine.transaction() as db:
        [reg] = register.of_application(db, "APP-R-000005")
        # dates of a registration are Brussels dates (after 23:00 UTC in winter it is tomorrow there)
        assert reg.valid_from <= today(clock.now()), "not renewed: the period starts now, not in 5 years"
        assert "wait_renewal" in engine.show(db, case).active_elements
        assert renewal.history(db, "APP-R-000005") == []


def test_a_bureau_the_provider_replaced_no_longer_sees_the_case(app: Flask, engine: Engine) -> None:
    grant(engine, "jan.acme")
    case, _ = registered(engine, "APP-R-000006")
    client = app.test_client()
    provider = Api(client, token_for(engine, "jan.acme"))
    kiwa = Api(client, add_person(engine, "kiwa.system", "kiwa", ("auditbureau",)))
    lrqa = Api(client, add_person(engine, "lrqa.system", "lrqa", ("auditbureau",)))
    provider.ok(provider.post(f"/cases/{case}/renewal", {"audit_bureau": "kiwa", "audit_hours": 8}))
    assert kiwa.get(f"/cases/{case}").status_code == 200
    provider.ok(provider.post(f"/cases/{case}/renewal", {"audit_bureau": "lrqa", "audit_hours": 8}))
    assert kiwa.get(f"/cases/{case}").status_code == 403
    assert kiwa.ok(kiwa.get("/cases"))["cases"] == []
    assert kiwa.post("/messages/audit_report", report("APP-R-000006", "K-9")).status_code == 403
    assert (
        lrqa.ok(lrqa.post("/messages/audit_report", report("APP-R-000006", "L-1")))["status"] == "delivered"
    )
    assert lrqa.get(f"/cases/{case}").status_code == 200, "the bureau that renewed it still sees it"
