"""The complaint procedure (``bpmn/complaint.bpmn``) through the engine; deadlines on the simulated clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine import clock
from engine.forms import FormErrors
from tasks import complaints, people
from tests.procedures.conftest import World, scores

BUREAU_LANE = "Auditbureau"
COMMITTEE_LANE = "Toezichtscomité (VLAIO, Departement WSE, VDAB)"

# the engine's storage is tested on both databases elsewhere
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def audited(world: World, **changes: Any) -> str:
    """An application audited by DNV (report delivered), and DNV's auditor; its application id."""
    with world.engine.transaction() as db:
        if db.query(people.Organisation).filter_by(audit_bureau_code="dnv").first() is None:
            dnv = people.create_organisation(db, "DNV", "audit_bureau", audit_bureau_code="dnv")
            people.create_person(
                db,
                username="auditor.dnv",
                name="Dirk",
                email="dirk@dnv.example",
                password="x-123456",
                organisation=dnv,
                roles=("auditbureau",),
                now=clock.now(),
            )
    case = world.apply(**changes)
    case.to_audit("dnv")
    case.report(f"R-{case.key}", scores=scores(knowledge="B"))
    return case.key


def file(world: World, about: str, key: str = "KL-2027-000001", **changes: Any) -> int:
    data = {
        "enterprise_number": "0566.988.259",
        "company_name": "Acme Opleidingen BV",
        "email": "info@acme.be",
        "about_application": about,
        "audit_bureau": "dnv",
        "subject": "verdict",
        "complaint_text": "Het oordeel over de module kennis klopt niet: we toonden alles aan.",
        **changes,
    }
    with world.engine.transaction() as db:
        return world.engine.start(db, "complaint", data, business_key=key, actor="jan.acme").id


def ready(world: World, instance_id: int, element: str) -> Any:
    with world.engine.transaction() as db:
        found = [t for t in world.engine.show(db, instance_id).ready_tasks if t.element_id == element]
    assert found, f"no ready {element}"
    return found[0]


def complete(world: World, instance_id: int, element: str, data: dict[str, Any]) -> None:
    task = ready(world, instance_id, element)
    with world.engine.transaction() as db:
        world.engine.complete(db, task.id, data, actor="tester")


def templates(world: World, key: str) -> list[tuple[str, str]]:
    return [(m.template, m.to_address) for m in world.outbox(key)]


def test_a_late_answer_is_reminded_then_escalated_and_the_appeal_decision_is_recorded(world: World) -> None:
    complaint = file(world, audited(world))
    filed = world.now()
    answer = ready(world, complaint, "answer_complaint")
    assert answer.lane == BUREAU_LANE and answer.due_at == filed + timedelta(days=30)
    assert templates(world, "KL-2027-000001") == [("complaint_received", "dirk@dnv.example")]

    world.advance(days=30, minutes=-1)
    assert len(world.outbox("KL-2027-000001")) == 1, "no reminder before the deadline"
    world.advance(minutes=2)
    assert templates(world, "KL-2027-000001")[-1] == ("complaint_reminder", "dirk@dnv.example")
    with world.engine.transaction() as db:
        assert "follow_up_late_answer" not in world.engine.show(db, complaint).active_elements
    world.advance(days=15)
    escalation = ready(world, complaint, "follow_up_late_answer")
    assert escalation.lane == "VLAIO (agentschap)"
    assert ready(world, complaint, "answer_complaint").overdue, "the answer is still awaited, late"

    complete(
        world,
        complaint,
        "answer_complaint",
        {"complaint_founded": "unfounded", "answer_text": "De audit volgde de regels."},
    )
    mail = world.outbox("KL-2027-000001")[-1]
    assert (mail.template, mail.to_address) == ("complaint_answered", "info@acme.be")
    assert "Ongegrond" in mail.body and "De audit volgde de regels." in mail.body
    with pytest.raises(FormErrors) as refused:
        complete(world, complaint, "consider_appeal", {"appeal": "appeal", "appeal_text": "  "})
    assert "appeal_text" in refused.value.errors
    complete(
        world, complaint, "consider_appeal", {"appeal": "appeal", "appeal_text": "Kennis werd aangetoond."}
    )
    decide = ready(world, complaint, "decide_appeal")
    assert decide.lane == COMMITTEE_LANE and decide.due_at is not None

    complete(
        world,
        complaint,
        "decide_appeal",
        {"appeal_decision": "upheld", "appeal_decision_note": "Het dossier toont de kennis aan."},
    )
    with world.engine.transaction() as db:
        detail = world.engine.show(db, complaint)
    assert "appeal_decided" in detail.completed_elements
    assert complaints.facts(detail)["appeal_decision"] == "upheld"
    assert complaints.state_of(detail) == "Beroep beslist: gegrond"
    assert detail.status == "waiting", "VLAIO's follow-up of the late answer is still open"
    complete(world, complaint, "follow_up_late_answer", {"escalation_note": "Bureau gebeld."})
    with world.engine.transaction() as db:
        assert world.engine.show(db, complaint).status == "completed"
    last = templates(world, "KL-2027-000001")[-2:]
    assert sorted(last) == [("appeal_decided", "dirk@dnv.example"), ("appeal_decided", "info@acme.be")]


def test_without_an_appeal_within_the_period_the_complaint_closes(world: World) -> None:
    complaint = file(world, audited(world))
    complete(
        world,
        complaint,
        "answer_complaint",
        {"complaint_founded": "partly", "answer_text": "We herbekijken de score."},
    )
    assert "appeal_period_over" in [t.element_id for t in world_timers(world, complaint)]
    world.advance(days=30, minutes=1)
    with world.engine.transaction() as db:
        detail = world.engine.show(db, complaint)
    assert detail.status == "completed" and "closed_without_appeal" in detail.completed_elements
    assert [t for t, _ in templates(world, "KL-2027-000001")] == ["complaint_received", "complaint_answered"]


def world_timers(world: World, instance_id: int) -> list[Any]:
    with world.engine.transaction() as db:
        return world.engine.timers(db, instance_id)


def test_a_complaint_only_about_an_audit_of_ones_own_application(world: World) -> None:
    other = audited(world, enterprise_number="1000.000.021", company_name="Andere BV")
    with pytest.raises(FormErrors) as refused:
        file(world, other)
    assert set(refused.value.errors) == {"about_application"}
    mine = audited(world)
    with pytest.raises(FormErrors) as wrong_bureau:
        file(world, mine, audit_bureau="kiwa")
    assert set(wrong_bureau.value.errors) == {"about_application"}
    with world.engine.transaction() as db:
        assert world.engine.instances(db, process_key="complaint") == []
