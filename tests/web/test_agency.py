"""The agency's inbox: lanes, filters, overdue tasks standing out, claim and release, task beside case."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import update

from engine import clock
from engine.api import Engine
from engine.models import UserTask
from tasks import people
from tasks.models import Organisation
from tests.web.conftest import PASSWORD
from tests.web.test_provider import client_of, complete, links, post, ready, start, to_report


def colleague(engine: Engine, username: str, role: str = "vlaio") -> None:
    with engine.transaction() as db:
        vlaio = db.query(Organisation).filter_by(kind="agency").one()
        people.create_person(
            db,
            username=username,
            name=username.split(".")[0].title(),
            email=f"{username}@x.example",
            password=PASSWORD,
            organisation=vlaio,
            roles=(role,),
            now=clock.now(),
        )


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="task[^"]*" data-task="([^"]+)"', html)


def test_the_inbox_shows_the_agency_lane_and_filters(app: Flask, engine: Engine) -> None:
    signing = start(engine, "APP-V-000001")
    checking = start(engine, "APP-V-000002", services=["advice"])
    complete(engine, checking, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    waiting = to_report(engine, "APP-V-000003", services=["advice"], enterprise_number="1000000021")
    [check] = ready(engine, checking, "check_declaration")
    [sign] = ready(engine, signing, "sign_declaration")
    an = client_of(app, "an.vlaio")

    page = an.get("/vlaio/").get_data(as_text=True)
    assert rows(page) == [check], "by default the agency's own lane"
    assert set(rows(an.get("/vlaio/?lane=alle").get_data(as_text=True))) == {check, sign}
    assert rows(an.get("/vlaio/?lane=Dienstverlener").get_data(as_text=True)) == [sign]
    assert rows(an.get("/vlaio/?lane=alle&name=Verklaring+op+eer+nakijken").get_data(as_text=True)) == [check]
    assert rows(an.get("/vlaio/?lane=alle&process=renewal").get_data(as_text=True)) == []
    assert len(rows(an.get("/vlaio/?lane=alle&process=registration").get_data(as_text=True))) == 2
    assert rows(an.get("/vlaio/?overdue=1").get_data(as_text=True)) == []
    assert waiting

    # A task past its due date stands out and is what "overdue only" shows.
    past = clock.now() - timedelta(days=2)
    with engine.transaction() as db:
        db.execute(update(UserTask).where(UserTask.id == check).values(due_at=past))
    page = an.get("/vlaio/").get_data(as_text=True)
    assert f'<tr class="task overdue" data-task="{check}"' in page
    assert re.search(r'<span class="overdue">[^<]+\(Over tijd\)</span>', page)
    assert rows(an.get("/vlaio/?overdue=1").get_data(as_text=True)) == [check]


def test_claim_release_and_complete(app: Flask, engine: Engine) -> None:
    colleague(engine, "bart.vlaio")
    case = start(engine, "APP-V-000004")
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    [check] = ready(engine, case, "check_declaration")
    an, bart = client_of(app, "an.vlaio"), client_of(app, "bart.vlaio")

    assert post(an, f"/vlaio/taken/{check}/opnemen", {"next": "/vlaio/"}).status_code == 302
    with engine.transaction() as db:
        assert engine.task(db, check).claimed_by == "an.vlaio"
    assert "Vrijgeven" in an.get("/vlaio/").get_data(as_text=True)
    taken = post(bart, f"/vlaio/taken/{check}/opnemen", {})
    assert taken.status_code == 302
    assert "opgenomen door an.vlaio" in bart.get("/vlaio/").get_data(as_text=True)
    assert post(bart, f"/vlaio/taken/{check}/vrijgeven", {}).status_code == 403
    blocked = post(bart, f"/vlaio/taken/{check}", {"decision": "approve"})
    assert blocked.status_code == 409 and "opgenomen door an.vlaio" in blocked.get_data(as_text=True)

    assert post(an, f"/vlaio/taken/{check}/vrijgeven", {}).status_code == 302
    with engine.transaction() as db:
        assert engine.task(db, check).claimed_by is None

    # The form stands beside the case: its data and history; an error stands beside its field.
    page = bart.get(f"/vlaio/taken/{check}").get_data(as_text=True)
    assert "Acme Opleidingen BV" in page and "Historiek" in page and "user_task_completed" not in page
    assert '<th scope="row" title="company_name">Naam van de onderneming</th>' in page
    assert page.index('title="company_name"') < page.index('title="services"'), "data dictionary order"
    assert "<strong>Taak afgerond</strong>: Verklaring op eer ondertekenen (per dienst)" in page
    missing = post(bart, f"/vlaio/taken/{check}", {"decision_note": "Kijk na"})
    html = missing.get_data(as_text=True)
    assert missing.status_code == 400 and 'id="f-decision-error"' in html and "Kijk na</textarea>" in html
    no_reason = post(bart, f"/vlaio/taken/{check}", {"decision": "reject", "decision_note": "  "})
    html = no_reason.get_data(as_text=True)
    assert no_reason.status_code == 400 and 'id="f-decision-note-error"' in html
    assert "Toelichting: is verplicht." in html, html
    assert "Verplicht bij een weigering" in html  # the hint says so before anyone tries
    assert post(bart, f"/vlaio/taken/{check}", {"decision": "approve"}).status_code == 302
    with engine.transaction() as db:
        [done] = [t for t in engine.tasks(db, instance_id=case, status="completed") if t.id == check]
        assert done.completed_by == "bart.vlaio"
    assert post(an, f"/vlaio/taken/{check}/opnemen", {}).status_code == 302  # told it is done, no error page
    assert post(an, f"/vlaio/taken/{check}", {"decision": "approve"}).status_code == 409


def test_provider_tasks_are_shown_not_completed_by_the_agency(app: Flask, engine: Engine) -> None:
    case = start(engine, "APP-V-000005")
    [sign] = ready(engine, case, "sign_declaration")
    an = client_of(app, "an.vlaio")
    page = an.get(f"/vlaio/taken/{sign}").get_data(as_text=True)
    assert "hoort bij een andere rol" in page and "Taak afronden" not in page
    assert (
        post(an, f"/vlaio/taken/{sign}", {"declaration_accepted": "1", "declared_by": "An"}).status_code
        == 403
    )
    assert an.get("/vlaio/taken/no-such-task").status_code == 404


def test_an_operator_may_use_the_inbox_and_release_any_claim(app: Flask, engine: Engine) -> None:
    colleague(engine, "bea.beheer", role="beheerder")
    case = start(engine, "APP-V-000006")
    complete(engine, case, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    [check] = ready(engine, case, "check_declaration")
    an, bea = client_of(app, "an.vlaio"), client_of(app, "bea.beheer")
    post(an, f"/vlaio/taken/{check}/opnemen", {})
    assert links(bea.get("/vlaio/").get_data(as_text=True), "/vlaio/taken/") == [f"/vlaio/taken/{check}"]
    assert post(bea, f"/vlaio/taken/{check}/vrijgeven", {}).status_code == 302
    with engine.transaction() as db:
        assert engine.task(db, check).claimed_by is None


def test_every_step_has_a_due_date_from_the_diagram_and_late_ones_stand_out(
    app: Flask, engine: Engine
) -> None:
    """The registration diagram gives each user task a due date (property ``due``): a provider's
    declaration 2 weeks, the agency's check 5 days. Once the clock passes it, the task stands out, is
    what "overdue only" shows, and the staff case list's overdue filter finds the case, also when it
    waits on the provider."""
    signing = start(engine, "APP-V-000011")
    checking = start(engine, "APP-V-000012", services=["advice"])
    complete(engine, checking, "sign_declaration", {"declaration_accepted": True, "declared_by": "Jan"})
    [check] = ready(engine, checking, "check_declaration")
    [sign] = ready(engine, signing, "sign_declaration")
    now = clock.now()
    with engine.transaction() as db:
        assert engine.task(db, check).due_at == now + timedelta(days=5)
        assert engine.task(db, sign).due_at == now + timedelta(weeks=2)
    an = client_of(app, "an.vlaio")
    everything = an.get("/vlaio/?lane=alle").get_data(as_text=True)
    assert rows(everything) == [check, sign], "sorted by due date, the earliest first"
    assert rows(an.get("/vlaio/?overdue=1&lane=alle").get_data(as_text=True)) == []

    engine.advance_clock(now + timedelta(days=6))
    page = an.get("/vlaio/").get_data(as_text=True)
    assert f'<tr class="task overdue" data-task="{check}"' in page
    assert rows(an.get("/vlaio/?overdue=1&lane=alle").get_data(as_text=True)) == [check]
    assert re.findall(r'<tr data-case="(\d+)"', an.get("/dossiers/?overdue=1").get_data(as_text=True)) == [
        str(checking)
    ]
    engine.advance_clock(now + timedelta(weeks=2, days=1))
    late = re.findall(r'<tr data-case="(\d+)"', an.get("/dossiers/?overdue=1").get_data(as_text=True))
    assert set(late) == {str(checking), str(signing)}, "a case waiting on the provider is late too"
    assert rows(an.get("/vlaio/?overdue=1&lane=alle").get_data(as_text=True)) == [check, sign]
