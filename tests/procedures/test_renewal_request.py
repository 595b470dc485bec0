"""A provider starts a renewal: the ``renewal_requested`` message names the bureau of the renewal audit."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.errors import InvalidInput, MessageNotDelivered
from tasks import renewal
from tasks.models import RenewalRequest

from .conftest import BRUSSELS, Case, World, scores


def registered(world: World) -> Case:
    case = world.apply()
    case.to_audit(bureau="dnv")
    case.report("R-1", scores=scores())
    case.decide()
    return case


def requests(world: World, key: str) -> list[RenewalRequest]:
    with world.engine.transaction() as session:
        return list(
            session.scalars(
                select(RenewalRequest).where(RenewalRequest.application_id == key).order_by(RenewalRequest.id)
            )
        )


def test_a_renewal_request_is_recorded_confirmed_and_the_case_keeps_waiting(world: World) -> None:
    case = registered(world)
    result = case.request_renewal(bureau="kiwa", hours=10)
    assert result.status == "delivered"
    [request] = requests(world, case.key)
    assert (request.audit_bureau, request.audit_hours, request.status) == ("kiwa", 10, "open")
    assert request.requested_by == "jan.acme"
    [reg] = world.registrations(case.key)
    assert request.registration_ends.isoformat() == reg["valid_until"]
    mail = world.outbox(case.key)[-1]
    assert mail.template == "renewal_requested" and "Kiwa Belgium" in mail.body
    detail = case.detail()
    assert "wait_renewal" in detail.active_elements
    assert detail.data["audit_bureau"] == "dnv"  # the first audit's bureau stays in the case data
    assert {s.message_name for s in detail.subscriptions} == {"audit_report", "renewal_requested"}
    # Waiting again after the request: the same end date, no reminder twice.
    [timer_end] = [t for t in detail.timers if t.element_id == "end_date"]
    assert timer_end.due_at.astimezone(BRUSSELS).date().isoformat() == reg["valid_until"]


def test_a_second_request_supersedes_the_first_and_the_renewal_closes_it(world: World) -> None:
    case = registered(world)
    case.request_renewal(bureau="kiwa")
    case.request_renewal(bureau="lrqa", hours=14)
    first, second = requests(world, case.key)
    assert (first.status, second.status) == ("superseded", "open")
    with world.engine.transaction() as session:
        current = renewal.open_request(session, case.key)
        assert current is not None and current.audit_bureau == "lrqa"
    [before] = world.registrations(case.key)
    case.report("R-2", scores=scores())
    [after] = world.registrations(case.key)
    assert after["registration_number"] == before["registration_number"]
    assert after["valid_from"] == before["valid_until"]
    assert [r.status for r in requests(world, case.key)] == ["superseded", "renewed"]
    # The next period waits again, and a new request can be made for it.
    case.request_renewal(bureau="dnv")
    assert [r.status for r in requests(world, case.key)] == ["superseded", "renewed", "open"]


def test_an_open_request_is_closed_when_the_registration_expires(world: World) -> None:
    case = registered(world)
    case.request_renewal()
    [reg] = world.registrations(case.key)
    end = date.fromisoformat(reg["valid_until"])
    world.advance_to(datetime(end.year, end.month, end.day, 0, 1, tzinfo=BRUSSELS))
    assert world.registrations(case.key)[0]["status"] == "expired"
    [request] = requests(world, case.key)
    assert request.status == "expired" and request.closed_at is not None
    with pytest.raises(InvalidInput) as refused:
        case.request_renewal()
    assert refused.value.field == "application_id" and "nieuwe aanvraag" in str(refused.value)
    assert len(requests(world, case.key)) == 1


def test_a_request_before_the_registration_is_refused_and_not_buffered(world: World) -> None:
    case = world.apply()
    case.to_audit()
    with pytest.raises(InvalidInput) as refused:
        case.request_renewal()
    assert refused.value.field == "application_id"
    assert "wait_report" in case.detail().active_elements
    assert requests(world, case.key) == []


@pytest.mark.parametrize(
    "bureau, hours, field",
    [
        ("nobody", 10, "audit_bureau"),
        ("kiwa", 0, "audit_hours"),
        ("kiwa", 81, "audit_hours"),
        ("", 10, "audit_bureau"),
    ],
)
def test_an_invalid_request_names_the_field_and_changes_nothing(
    world: World, bureau: str, hours: int, field: str
) -> None:
    case = registered(world)
    mails = len(world.outbox(case.key))
    with pytest.raises(InvalidInput) as refused:
        case.request_renewal(bureau=bureau, hours=hours)
    assert refused.value.field == field
    assert requests(world, case.key) == []
    assert len(world.outbox(case.key)) == mails


def test_a_request_for_an_unknown_application_is_refused(world: World) -> None:
    with world.engine.transaction() as session, pytest.raises(MessageNotDelivered):
        world.engine.message(
            session,
            "renewal_requested",
            None,
            {"application_id": "APP-NOPE", "audit_bureau": "kiwa", "audit_hours": 8},
        )


def test_a_request_while_the_starter_period_runs_is_refused_not_buffered(world: World) -> None:
    case = world.apply(starter=True)
    case.to_audit()
    case.report("R-1", audit_type="limited", scores=scores(("activity", "knowledge", "integrity")))
    case.decide()
    assert world.registrations(case.key)[0]["status"] == "provisional"
    with pytest.raises(MessageNotDelivered) as refused:
        case.request_renewal()
    assert "waits for message 'renewal_requested'" in str(refused.value)
    assert requests(world, case.key) == []
    with world.engine.transaction() as session:
        from engine.models import BufferedMessage

        assert session.scalars(select(BufferedMessage)).all() == []


def test_going_back_to_waiting_sends_no_reminder_twice(world: World) -> None:
    case = registered(world)
    [reg] = world.registrations(case.key)
    end = date.fromisoformat(reg["valid_until"])
    reminders = lambda: [m.template for m in world.outbox(case.key)].count("renewal_reminder")  # noqa: E731
    world.advance_to(datetime(end.year, end.month, end.day, 12, tzinfo=BRUSSELS) - timedelta(days=150))
    assert reminders() == 1  # six months before
    case.request_renewal(bureau="kiwa")
    case.report("R-2", scores=scores(integrity="B"))  # negative: the case waits again
    assert world.registrations(case.key)[0]["valid_until"] == reg["valid_until"]
    assert reminders() == 1
    world.advance_to(datetime(end.year, end.month, end.day, 12, tzinfo=BRUSSELS) - timedelta(days=30))
    assert reminders() == 2  # three months before, once
    case.report("R-3", scores=scores())
    assert world.registrations(case.key)[0]["valid_from"] == reg["valid_until"]
    assert reminders() == 2


def test_a_reminder_missed_before_the_wait_is_sent_once_when_planning_again(world: World) -> None:
    from sqlalchemy import update

    from tasks.models import Registration

    case = registered(world)
    soon = world.today() + timedelta(days=120)  # as if the registration entered its renewal late
    with world.engine.transaction() as session:
        session.execute(
            update(Registration).where(Registration.application_id == case.key).values(valid_until=soon)
        )
    reminders = lambda: [m.template for m in world.outbox(case.key)].count("renewal_reminder")  # noqa: E731
    assert reminders() == 0
    case.request_renewal()  # the wait is planned again: the 6-month reminder is overdue and unsent
    assert reminders() == 1
    case.request_renewal(bureau="lrqa")
    assert reminders() == 1, "sent once"
    world.advance_to(datetime(soon.year, soon.month, soon.day, 12, tzinfo=BRUSSELS) - timedelta(days=80))
    assert reminders() == 2  # three months before
