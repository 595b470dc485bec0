"""The audit bureau's pages: its own audits only, and a report form that shows each error beside its field."""

from __future__ import annotations

import re

from flask import Flask

from engine.api import Engine
from tests.web.test_provider import MODULES, OTHER, client_of, full_scores, post, registered, to_report

ASPECTS = ("conformity", "demonstrability")


def scores(modules: tuple[str, ...] = MODULES, letter: str = "T") -> dict[str, str]:
    return {f"scores.{m}.{a}": letter if a == "conformity" else "V" for m in modules for a in ASPECTS}


def test_the_auditor_sees_the_audits_of_its_own_bureau_only(app: Flask, engine: Engine) -> None:
    ours = to_report(engine, "APP-B-000001")
    theirs = to_report(
        engine, "APP-B-000002", bureau="kiwa", enterprise_number=OTHER, company_name="Andere BV"
    )
    done, _ = registered(engine, "APP-B-000003", services=["advice"])
    reported = to_report(engine, "APP-B-000007")
    payload = {
        "application_id": "APP-B-000007",
        "report_id": "R-7",
        "audit_type": "full",
        "scores": full_scores(),
    }
    with engine.transaction() as db:
        engine.message(db, "audit_report", None, payload)
    auditor = client_of(app, "auditor.dnv")
    page = auditor.get("/auditbureau/").get_data(as_text=True)
    assert "APP-B-000001" in page and "APP-B-000002" not in page
    open_part, rest = page.split("Aangevraagde verlengingsaudits")
    renewals, past = rest.split("Afgehandelde audits")
    assert f"/auditbureau/audits/{ours}" in open_part and "Volledige audit" in open_part
    assert "Geen aangevraagde verlengingsaudits." in renewals
    assert "APP-B-000003" in past and "R-APP-B-000003" in past
    assert "APP-B-000007" in past and f'href="/auditbureau/audits/{reported}">R-7</a>' in past  # to read it
    assert auditor.get(f"/auditbureau/audits/{theirs}").status_code == 403
    sent = post(
        auditor, f"/auditbureau/audits/{theirs}", {"report_id": "X", "audit_type": "full", **scores()}
    )
    assert sent.status_code == 403
    assert auditor.get("/auditbureau/audits/99999").status_code == 404
    # A registered case waits for its renewal audit, but only from the bureau the provider asks for it.
    renewal_page = auditor.get(f"/auditbureau/audits/{done}").get_data(as_text=True)
    assert "niet door uw bureau verwacht" in renewal_page and 'name="report_id"' not in renewal_page


def test_a_wrong_report_shows_each_error_beside_its_field_and_keeps_what_was_typed(
    app: Flask, engine: Engine
) -> None:
    case = to_report(engine, "APP-B-000004")
    auditor = client_of(app, "auditor.dnv")
    form = auditor.get(f"/auditbureau/audits/{case}").get_data(as_text=True)
    assert re.search(r'value="full"\s+checked', form), "the expected audit type is chosen"
    typed = {"report_id": "DNV-17", "audit_type": "full", **scores(("activity", "knowledge", "integrity"))}
    typed["scores.activity.conformity"] = ""
    refused = post(auditor, f"/auditbureau/audits/{case}", typed)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'id="f-scores-activity-conformity-error"' in html
    assert 'id="module-experience-error"' in html and 'id="module-satisfaction-error"' in html
    assert 'value="DNV-17"' in html
    assert re.search(r'<option value="V" selected>', html)
    with engine.transaction() as db:
        assert "wait_report" in engine.show(db, case).active_elements, "nothing was delivered"

    late = post(
        auditor, f"/auditbureau/audits/{case}", {**typed, **scores(), "follow_up_deadline": "30/06/2027"}
    )
    assert late.status_code == 400 and 'id="f-follow-up-deadline-error"' in late.get_data(as_text=True)


def test_a_conditional_report_with_its_deadline_reaches_the_case(app: Flask, engine: Engine) -> None:
    case = to_report(engine, "APP-B-000005")
    auditor = client_of(app, "auditor.dnv")
    sent = post(
        auditor,
        f"/auditbureau/audits/{case}",
        {
            "report_id": "DNV-18",
            "audit_type": "full",
            **scores(letter="G"),
            "follow_up_deadline": "2030-06-30",
        },
    )
    assert sent.status_code == 302
    with engine.transaction() as db:
        detail = engine.show(db, case)
    assert detail.data["report_id"] == "DNV-18" and detail.data["follow_up_deadline"] == "2030-06-30"
    assert "decide" in detail.active_elements
    shown = auditor.get(f"/auditbureau/audits/{case}").get_data(as_text=True)
    assert "Dit dossier wacht niet op een auditrapport" in shown
    # The auditor sees what it submitted, in words: type, scores per module and aspect, the deadline.
    assert "Ingediend rapport DNV-18" in shown and "Volledige audit" in shown and "30/06/2030" in shown
    table = shown[shown.index('<table class="scores">') : shown.index("</table>")]
    assert table.count("G - gedeeltelijk") == len(MODULES) and table.count("V - volkomen") == len(MODULES)
    assert f'href="/auditbureau/audits/{case}">DNV-18</a>' in auditor.get("/auditbureau/").get_data(
        as_text=True
    )
    # The same report again (a second click): accepted once, and said so; another report: refused.
    again = post(
        auditor, f"/auditbureau/audits/{case}", {"report_id": "DNV-18", "audit_type": "full", **scores()}
    )
    assert again.status_code == 302
    assert "werd al eerder ontvangen" in auditor.get("/auditbureau/").get_data(as_text=True)
    other = post(
        auditor, f"/auditbureau/audits/{case}", {"report_id": "DNV-19", "audit_type": "full", **scores()}
    )
    assert other.status_code == 409
    with engine.transaction() as db:
        received = [h for h in engine.show(db, case).history if h.event == "message_received"]
    assert len(received) == 1


def test_a_starter_gets_a_limited_audit(app: Flask, engine: Engine) -> None:
    case = to_report(engine, "APP-B-000006", starter=True)
    auditor = client_of(app, "auditor.dnv")
    form = auditor.get(f"/auditbureau/audits/{case}").get_data(as_text=True)
    assert re.search(r'value="limited"\s+checked', form)
    limited = tuple(m for m in MODULES if m not in ("experience", "satisfaction"))
    sent = post(
        auditor,
        f"/auditbureau/audits/{case}",
        {"report_id": "DNV-19", "audit_type": "limited", **scores(limited)},
    )
    assert sent.status_code == 302
    with engine.transaction() as db:
        assert engine.show(db, case).data["audit_type"] == "limited"


def test_a_report_id_used_for_another_application_is_shown_beside_the_field(
    app: Flask, engine: Engine
) -> None:
    first, second = to_report(engine, "APP-B-000010"), to_report(engine, "APP-B-000011", services=["advice"])
    auditor = client_of(app, "auditor.dnv")
    report = {"report_id": "DNV-42", "audit_type": "full", **scores()}
    assert post(auditor, f"/auditbureau/audits/{first}", report).status_code == 302
    reused = post(auditor, f"/auditbureau/audits/{second}", report)
    html = reused.get_data(as_text=True)
    assert reused.status_code == 400 and 'id="f-report-id-error"' in html and "al gebruikt" in html
    assert 'value="DNV-42"' in html, "what was typed is kept"
    with engine.transaction() as db:
        assert "wait_report" in engine.show(db, second).active_elements
