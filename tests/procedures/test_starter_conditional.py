"""A starter whose limited audit has a G: registered provisionally (2 years) AND conditionally.

The rule is the decision table ``bpmn/registration_route.dmn``: first the conditional follow-up (a positive
follow-up audit by the report's deadline), then the starter's own follow-up (within the 2 years); failing
either ends the registration.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

from engine.config import PROJECT_ROOT
from tests.procedures.conftest import BRUSSELS, EXEMPT, MODULES, Case, World, scores

LIMITED = tuple(m for m in MODULES if m not in EXEMPT)


def _registered_with_g(world: World, **report: Any) -> Case:
    case = world.apply(starter=True)
    case.to_audit()
    case.report("R-1", audit_type="limited", scores=scores(LIMITED, knowledge="G"), **report)
    case.decide()
    return case


def _in_two_years(day: date) -> date:
    return date(day.year + 2, day.month, day.day)


def test_starter_with_g_runs_both_follow_ups_and_becomes_full_after_both(world: World) -> None:
    decided = world.today()
    case = _registered_with_g(world, follow_up_deadline="2027-09-30")
    [record] = world.registrations(case.key)
    assert record["status"] == "provisional"
    assert record["valid_until"] == _in_two_years(decided).isoformat()
    assert record["follow_up_deadline"] == "2027-09-30"
    data = case.detail().data
    assert (data["route"], data["needs_starter_follow_up"], data["needs_conditional_follow_up"]) == (
        "starter_conditional",
        True,
        True,
    )
    assert "conditional_follow_up" in case.detail().active_elements

    world.advance(days=90)
    case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",)))
    [record] = world.registrations(case.key)
    assert record["status"] == "provisional", "the condition is met; the starter's follow-up is still due"
    assert "follow_up_deadline" not in record, "no follow-up deadline of a met condition stays behind"
    assert "voorwaarde vervuld" in record["history"][-1]["reason"]
    active = case.detail().active_elements
    assert "starter_follow_up" in active and "conditional_follow_up" not in active
    assert [m.template for m in world.outbox(case.key)] == ["registered"], "a met condition sends nothing"

    world.advance(days=30 * 20)
    case.report("R-3", audit_type="follow_up", scores=scores(EXEMPT))
    [record] = world.registrations(case.key)
    assert record["status"] == "active"
    assert record["valid_until"] == date(decided.year + 5, decided.month, decided.day).isoformat()
    assert world.outbox(case.key)[-1].template == "registration_extended"
    assert "renewal" in case.detail().active_elements


def test_starter_with_g_missing_the_conditional_deadline_is_stopped_without_the_starter_follow_up(
    world: World,
) -> None:
    decided = world.today()
    case = _registered_with_g(world)  # no deadline in the report: the default 6 months
    [record] = world.registrations(case.key)
    deadline = date.fromisoformat(record["follow_up_deadline"])
    assert deadline == date(decided.year, decided.month + 6, decided.day)
    world.advance_to(datetime(deadline.year, deadline.month, deadline.day, 23, 0, tzinfo=BRUSSELS))
    assert world.registrations(case.key)[0]["status"] == "provisional"
    world.advance(hours=2)
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped"
    assert world.outbox(case.key)[-1].template == "registration_stopped"
    detail = case.detail()
    assert detail.status == "completed"
    assert "starter_follow_up" not in {h.element_id for h in detail.history}


def test_starter_with_g_negative_conditional_follow_up_ends_the_registration(world: World) -> None:
    case = _registered_with_g(world, follow_up_deadline="2027-09-30")
    world.advance(days=30)
    case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",), knowledge="B"))
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped"
    assert "negatieve opvolgingsaudit" in record["history"][-1]["reason"]
    assert case.detail().status == "completed"


def test_starter_with_g_meeting_the_condition_but_missing_its_own_follow_up_is_stopped_at_two_years(
    world: World,
) -> None:
    # A report deadline beyond the provisional period is cut to its last day.
    case = _registered_with_g(world, follow_up_deadline="2031-01-01")
    [record] = world.registrations(case.key)
    end = date.fromisoformat(record["valid_until"])
    assert record["follow_up_deadline"] == (end - timedelta(days=1)).isoformat()
    world.advance(days=60)
    case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",)))
    assert world.registrations(case.key)[0]["status"] == "provisional"

    world.advance_to(datetime(end.year, end.month, end.day, tzinfo=BRUSSELS) - timedelta(minutes=1))
    assert world.registrations(case.key)[0]["status"] == "provisional"
    world.advance(minutes=2)
    [record] = world.registrations(case.key)
    assert record["status"] == "stopped" and record["history"][-1]["date"] == end.isoformat()
    templates = [m.template for m in world.outbox(case.key)]
    assert templates == ["registered", "follow_up_reminder", "follow_up_reminder", "registration_stopped"]


# ------------------------------------------------------------------------------------ the decision table


def _decide(decision: str, data: dict[str, Any]) -> dict[str, Any]:
    parser = BpmnDmnParser()
    parser.add_dmn_files([str(PROJECT_ROOT / "bpmn" / f"{decision}.dmn")])
    dmn = parser.dmn_parsers[decision]
    dmn.parse()
    task = SimpleNamespace(data=data, workflow=SimpleNamespace(script_engine=PythonScriptEngine()))
    return dict(DMNEngine(dmn.decision.decisionTables[0]).result(task))


ROUTE_ROWS = [
    (("public", False, None), ("standard", False, False)),
    (("private", False, "positive"), ("standard", False, False)),
    (("private", False, "conditional"), ("conditional", False, True)),
    (("private", True, "positive"), ("starter", True, False)),
    (("private", True, "conditional"), ("starter_conditional", True, True)),
]


@pytest.mark.parametrize("given, expected", ROUTE_ROWS)
def test_registration_route_table_rows(given: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    provider_type, starter, outcome = given
    result = _decide(
        "registration_route", {"provider_type": provider_type, "starter": starter, "outcome": outcome}
    )
    assert (
        result["route"],
        result["needs_starter_follow_up"],
        result["needs_conditional_follow_up"],
    ) == expected


def test_a_negative_audit_has_no_route_and_the_limited_audit_outcome_follows_the_scores() -> None:
    assert (
        _decide("registration_route", {"provider_type": "private", "starter": True, "outcome": "negative"})
        == {}
    )
    outcomes = {
        (b, g): _decide("audit_outcome", {"audit_summary": {"has_b": b, "has_g": g}})["outcome"]
        for b in (True, False)
        for g in (True, False)
    }
    assert outcomes == {
        (True, True): "negative",
        (True, False): "negative",
        (False, True): "conditional",
        (False, False): "positive",
    }
