"""Scenarios of domain.md, driven through the engine's facade with the simulated clock."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest

from engine.errors import InvalidInput, MessageNotDelivered, MessageTooLate
from engine.forms import FormErrors
from engine.services import ServiceRegistry
from tests.conftest import make_engine
from tests.procedures.conftest import BRUSSELS, EXEMPT, MODULES, World, pdf_text, scores


def test_private_provider_with_full_positive_audit_is_registered_for_five_years(world: World) -> None:
    case = world.apply()
    case.to_audit()
    assert case.report("R-1", scores=scores()).status == "delivered"
    world.advance(days=3)
    decided_on = world.today()
    case.decide(note="Audit positief")
    [record] = world.registrations(case.key)
    assert record["status"] == "active"
    assert record["registration_number"].startswith("DV.O") and len(record["registration_number"]) == 10
    assert record["valid_from"] == decided_on.isoformat()
    assert record["valid_until"] == date(decided_on.year + 5, decided_on.month, decided_on.day).isoformat()
    [cert] = world.certificates(record["registration_number"])
    text = pdf_text(cert.pdf)
    assert record["registration_number"] in text and "Acme Opleidingen BV" in text
    assert decided_on.strftime("%d/%m/%Y") in text
    assert date(decided_on.year + 5, decided_on.month, decided_on.day).strftime("%d/%m/%Y") in text
    mails = world.outbox(case.key)
    assert [m.template for m in mails] == ["registered"]
    assert record["registration_number"] in mails[0].body and mails[0].to_address == "info@acme.be"
    assert case.detail().data["audit_cost_estimate"] == 12 * 150


def test_starter_is_provisional_for_two_years_then_follow_up_in_month_23_extends_it(world: World) -> None:
    case = world.apply(starter=True)
    case.to_audit()
    case.report("R-1", audit_type="limited", scores=scores(tuple(m for m in MODULES if m not in EXEMPT)))
    start = world.today()
    case.decide()
    [record] = world.registrations(case.key)
    assert record["status"] == "provisional"
    assert record["valid_until"] == date(start.year + 2, start.month, start.day).isoformat()
    number = record["registration_number"]

    world.advance(days=30 * 23)  # month 23, past the reminder 3 months before the end
    assert [m.template for m in world.outbox(case.key)] == ["registered", "follow_up_reminder"]
    case.report("R-2", audit_type="follow_up", scores=scores(EXEMPT))
    [record] = world.registrations(case.key)
    assert record["status"] == "active", [
        h.detail for h in case.detail().history if h.event == "service_failed"
    ]
    assert record["registration_number"] == number
    assert record["valid_until"] == date(start.year + 5, start.month, start.day).isoformat()
    certs = world.certificates(number)
    assert len(certs) == 2, "the certificate is re-issued when the dates change"
    assert date(start.year + 5, start.month, start.day).strftime("%d/%m/%Y") in pdf_text(certs[-1].pdf)
    assert world.outbox(case.key)[-1].template == "registration_extended"
    assert "renewal" in case.detail().active_elements  # the full registration is now watched for renewal


def test_starter_without_follow_up_is_stopped_on_the_deadline_day_not_earlier(world: World) -> None:
    case = world.apply(starter=True)
    case.to_audit()
    case.report("R-1", audit_type="limited", scores=scores(tuple(m for m in MODULES if m not in EXEMPT)))
    case.decide()
    [record] = world.registrations(case.key)
    deadline = date.fromisoformat(record["valid_until"])
    midnight = datetime(deadline.year, deadline.month, deadline.day, tzinfo=BRUSSELS)

    world.advance_to(midnight - timedelta(minutes=1))
    assert world.registrations(case.key)[0]["status"] == "provisional"
    world.advance(minutes=2)
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped"
    assert record["history"][-1]["date"] == deadline.isoformat()
    templates = [m.template for m in world.outbox(case.key)]
    assert templates == ["registered", "follow_up_reminder", "follow_up_reminder", "registration_stopped"]
    assert case.detail().status == "completed"


def test_conditional_registration_positive_follow_up_turns_active_without_any_message(world: World) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores(knowledge="G"), follow_up_deadline="2027-09-30")
    case.decide()
    [record] = world.registrations(case.key)
    assert record["status"] == "conditional" and record["follow_up_deadline"] == "2027-09-30"
    sent_before = len(world.outbox(case.key))
    world.advance(days=90)
    case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",)))
    [record] = world.registrations(case.key)
    assert record["status"] == "active" and "follow_up_deadline" not in record  # the condition is met
    assert len(world.outbox(case.key)) == sent_before, "a positive follow-up sends nothing"


def test_conditional_registration_missing_its_deadline_is_stopped_and_the_provider_told(world: World) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores(activity="G"))  # no deadline in the report: the default 6 months
    decided = world.today()
    case.decide()
    [record] = world.registrations(case.key)
    deadline = date.fromisoformat(record["follow_up_deadline"])
    assert deadline == date(decided.year, decided.month + 6, decided.day)
    world.advance_to(datetime(deadline.year, deadline.month, deadline.day, 23, 0, tzinfo=BRUSSELS))
    assert world.registrations(case.key)[0]["status"] == "conditional", "the deadline day itself still counts"
    world.advance(hours=2)
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped"
    assert world.outbox(case.key)[-1].template == "registration_stopped"


def test_a_follow_up_report_after_its_deadline_is_refused_and_never_kept(world: World) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores(knowledge="G"), follow_up_deadline="2027-09-30")
    case.decide()
    world.engine.clock.set(datetime(2027, 10, 1, tzinfo=BRUSSELS))  # type: ignore[attr-defined]
    with pytest.raises(MessageTooLate) as late:  # at the deadline, before the worker's sweep
        case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",)))
    assert "deadline" in late.value.message
    world.advance(minutes=1)
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped"
    with pytest.raises(MessageNotDelivered):  # after the sweep: the case has ended
        case.report("R-3", audit_type="follow_up", scores=scores(("knowledge",)))
    assert world.registrations(case.key)[0]["status"] == "stopped"


def test_negative_audit_is_refused_with_a_notification(world: World) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores(integrity="B"))
    detail = case.detail()
    assert detail.status == "completed"
    assert world.registrations(case.key) == []
    [mail] = world.outbox(case.key)
    assert mail.template == "application_refused" and "negatief auditresultaat" in mail.body


def test_public_provider_is_registered_without_any_audit_step(world: World) -> None:
    case = world.apply(provider_type="public", company_name="Hogeschool Gent")
    case.sign_declarations()
    case.complete("check_declaration", {"decision": "approve"})
    case.decide()
    [record] = world.registrations(case.key)
    assert record["status"] == "active"
    visited = {h.element_id for h in case.detail().history}
    assert not visited & {"choose_bureau", "wait_report", "summarize_report", "decide_outcome"}


def test_training_and_advice_in_one_application_one_audit_two_registrations(world: World) -> None:
    case = world.apply(services=["training", "advice"])
    assert len([t for t in case.detail().ready_tasks if t.element_id == "sign_declaration"]) == 2
    case.to_audit()
    case.report("R-1", scores=scores())
    case.decide()
    records = world.registrations(case.key)
    assert sorted(r["registration_number"][:4] for r in records) == ["DV.A", "DV.O"]
    assert {r["service"] for r in records} == {"training", "advice"}
    assert len({r["valid_until"] for r in records}) == 1
    done = [
        h.element_id for h in case.detail().history if h.event in ("task_completed", "user_task_completed")
    ]
    assert done.count("choose_bureau") == 1 and done.count("wait_report") == 1


def test_four_week_reminder_and_six_week_escalation_do_not_stop_the_case(world: World) -> None:
    case = world.apply()
    case.to_audit()
    world.advance(weeks=4)
    assert [m.template for m in world.outbox(case.key)] == ["audit_reminder"]
    assert "wait_report" in case.detail().active_elements
    world.advance(weeks=2)
    escalation = [t for t in case.detail().ready_tasks if t.element_id == "follow_up_late_report"]
    assert len(escalation) == 1 and escalation[0].lane == "VLAIO (agentschap)"
    assert "wait_report" in case.detail().active_elements
    case.complete("follow_up_late_report", {"escalation_note": "Auditbureau gebeld"})
    case.report("R-1", scores=scores())
    case.decide()
    assert world.registrations(case.key)[0]["status"] == "active"


def test_completing_the_six_week_escalation_keeps_the_case_data_its_index_and_its_bureau(
    world: World,
) -> None:
    case = world.apply()
    case.to_audit(bureau="dnv")
    world.advance(weeks=6)
    before = case.detail().data
    case.complete("follow_up_late_report", {"escalation_note": "Auditbureau gebeld"})
    after = case.detail().data
    lost = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert lost == {}, "the escalation wrote none of these"
    with world.engine.transaction() as session:
        found = world.engine.instances(session, attributes={"enterprise_number": "0566988259"})
        by_bureau = world.engine.instances(session, attributes={"audit_bureau": "dnv"})
    assert [i.id for i in found] == [case.id] and [i.id for i in by_bureau] == [case.id]
    assert case.report("R-1", scores=scores()).status == "delivered"


def test_renewal_in_time_keeps_the_number_and_follows_on_the_old_period(world: World) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores())
    case.decide()
    [first] = world.registrations(case.key)
    end = date.fromisoformat(first["valid_until"])
    world.advance_to(datetime(end.year, end.month - 2, end.day, 12, tzinfo=BRUSSELS))  # reminders sent by now
    assert [m.template for m in world.outbox(case.key)].count("renewal_reminder") == 2
    case.report("R-2", scores=scores())
    [renewed] = world.registrations(case.key)
    assert renewed["registration_number"] == first["registration_number"]
    assert renewed["valid_from"] == first["valid_until"]
    assert renewed["valid_until"] == date(end.year + 5, end.month, end.day).isoformat()
    assert renewed["status"] == "active"
    assert len(world.certificates(first["registration_number"])) == 2


def test_without_renewal_the_registration_expires_and_a_new_application_gets_a_new_number(
    world: World,
) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores())
    case.decide()
    [first] = world.registrations(case.key)
    end = date.fromisoformat(first["valid_until"])
    world.advance_to(datetime(end.year, end.month, end.day, tzinfo=BRUSSELS) - timedelta(minutes=1))
    assert world.registrations(case.key)[0]["status"] == "active"
    world.advance(minutes=2)
    [expired] = world.registrations(case.key)
    assert expired["status"] == "expired" and expired["history"][-1]["date"] == end.isoformat()
    assert world.outbox(case.key)[-1].template == "registration_expired"
    again = world.apply()
    again.to_audit()
    again.report("R-9", scores=scores())
    again.decide()
    [second] = world.registrations(again.key)
    assert second["registration_number"] != first["registration_number"]


def test_moving_the_clock_fires_each_deadline_at_its_own_time_while_a_worker_holds_the_case(
    world: World, db_url: str, registry: ServiceRegistry
) -> None:
    case = world.apply()
    case.to_audit()
    case.report("R-1", scores=scores())
    case.decide()
    [first] = world.registrations(case.key)
    end = date.fromisoformat(first["valid_until"])
    worker = make_engine(db_url, registry)
    held, release = threading.Event(), threading.Event()

    def hold_the_case() -> None:  # a worker busy with this case while the clock is moved
        with worker.transaction() as session:
            worker.lock(session, case.id)
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_case)
    holder.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    world.advance(days=365 * 7)  # past the reminders and the end, in one move
    holder.join()
    worker.close()
    [record] = world.registrations(case.key)
    assert record["status"] == "expired"
    assert record["history"][-1]["date"] == end.isoformat(), (
        "expired on its end date, not on the day moved to"
    )
    fired = [h for h in case.detail().history if h.event == "timer_fired"]
    assert fired and all(h.at.isoformat() == h.detail["due_at"] for h in fired)


INVALID = [
    ("enterprise_number", "0566.988.258"),
    ("enterprise_number", "2566988259"),
    ("enterprise_number", "056698825"),
    ("iban", "BE69 5390 0754 7034"),
    ("iban", "BE41 0918 1173 5141"),
    ("iban", "BE6853900754703"),
    ("bic", "GEBABEB"),
    ("bic", "GEBABEBB1"),
    ("bic", "GEBABEBBXX"),
    ("bic", "KREDBEBB"),  # a valid BIC, but not the bank of the IBAN
]


@pytest.mark.parametrize("field, value", INVALID)
def test_every_invalid_vector_is_refused_naming_the_field_and_nothing_starts(
    world: World, field: str, value: str
) -> None:
    with pytest.raises(FormErrors) as info:
        world.apply(**{field: value})
    assert field in info.value.errors, info.value.errors
    with world.engine.transaction() as session:
        assert world.engine.instances(session) == []


def test_an_audit_bureau_cannot_apply(world: World) -> None:
    with pytest.raises(FormErrors) as info:
        world.apply(company_name="Bureau Veritas")
    assert "auditbureau" in info.value.errors["enterprise_number"]


def test_audit_reports_unknown_application_refused_and_repeat_counted_once(world: World) -> None:
    case = world.apply()
    case.to_audit()
    with pytest.raises(MessageNotDelivered):
        case.world.engine.message  # noqa: B018
        with world.engine.transaction() as session:
            world.engine.message(
                session,
                "audit_report",
                None,
                {"application_id": "APP-NOPE", "report_id": "X", "audit_type": "full", "scores": scores()},
            )
    with pytest.raises(InvalidInput):
        case.report("R-bad", scores=scores(activity="Q"))
    assert case.report("R-1", scores=scores()).status == "delivered"
    assert case.report("R-1", scores=scores(integrity="B")).status == "duplicate"
    history = case.detail().history
    assert sum(1 for h in history if h.event == "message_received") == 1
    assert case.detail().data["outcome"] == "positive"


@pytest.mark.parametrize("element", ["check_declaration", "decide"])
def test_a_refusal_needs_its_reason_and_the_provider_reads_it(world: World, element: str) -> None:
    """Refusing the declaration or the registration without a reason (none, or only spaces) is refused
    naming the field; with one, the case is refused and the provider's e-mail gives that reason."""
    case = world.apply()
    if element == "check_declaration":
        case.sign_declarations()
    else:
        case.to_audit()
        case.report("R-1", scores=scores())
    for note in (None, "", "   "):
        with pytest.raises(FormErrors) as info:
            case.complete(element, {"decision": "reject", "decision_note": note}, actor="case.handler")
        assert info.value.errors == {"decision_note": "is required"}
    without_note = {"decision": "reject"}
    with pytest.raises(FormErrors):
        case.complete(element, without_note, actor="case.handler")
    reason = "De opgegeven ervaring is niet aangetoond."
    case.complete(element, {"decision": "reject", "decision_note": reason}, actor="case.handler")
    detail = case.detail()
    assert detail.status == "completed" and reason in detail.data["refusal_reason"]
    [mail] = [m for m in world.outbox(case.key) if "geweigerd" in m.body]
    assert reason in mail.body and ": -" not in mail.body
    assert world.registrations(case.key) == []
