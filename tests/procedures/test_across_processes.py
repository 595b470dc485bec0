"""The seven procedures and two public diagrams, every step a separate ``kmop`` process.

Nothing survives between two steps but the database, as after a restart or under several gunicorn and
worker processes: each step is ``kmop tasks``/``complete``/``message``/``clock advance`` in a process of
its own. Time moves only through ``kmop clock``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.config import PROJECT_ROOT
from tests.kmop_cli import Kmop
from tests.procedures.conftest import EXEMPT, MODULES, application, scores

pytestmark = pytest.mark.processes

START = "2027-03-05T10:00:00+01:00"
# A kmop process takes about a second to start, so each procedure runs on SQLite; those that exercise
# what a restart used to break (multi-instance merges, event subprocesses) run on PostgreSQL as well.
DB = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQLITE = ["sqlite"]


class CliCase:
    """One application, every step a ``kmop`` process."""

    def __init__(self, kmop: Kmop, key: str, **changes: Any) -> None:
        self.kmop, self.key = kmop, key
        data = json.dumps(application(**changes))
        self.id = kmop.json("start", "registration", "--business-key", key, "--data", data)["id"]

    def tasks(self, element: str) -> list[str]:
        found = [
            t["id"] for t in self.kmop.json("tasks", "--instance", str(self.id)) if t["element_id"] == element
        ]
        assert found, f"no ready task {element}: {self.show()['active_elements']}"
        return found

    def complete(self, element: str, data: dict[str, Any]) -> None:
        for task in self.tasks(element):
            self.kmop.run("complete", task, "--data", json.dumps(data), "--as", "tester")

    def to_audit(self) -> None:
        self.complete("sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"})
        self.complete("check_declaration", {"decision": "approve"})
        self.complete("choose_bureau", {"audit_bureau": "dnv", "audit_hours": 12})

    def report(self, report_id: str, audit_type: str = "full", **fields: Any) -> str:
        payload = {"application_id": self.key, "report_id": report_id, "audit_type": audit_type, **fields}
        result = self.kmop.json("message", "audit_report", "--payload", json.dumps(payload))
        return str(result["status"])

    def decide(self) -> None:
        self.complete("decide", {"decision": "approve", "decision_note": "in orde"})

    def show(self) -> Any:
        return self.kmop.json("show", str(self.id))

    def registrations(self) -> list[dict[str, Any]]:
        return [r for r in self.kmop.json("registry") if r["application_id"] == self.key]


@pytest.fixture
def kmop(db_url: str) -> Iterator[Kmop]:
    tool = Kmop(db_url)
    tool.run("init")
    tool.run("clock", "set", START)
    tool.run("deploy", str(PROJECT_ROOT / "bpmn"))
    yield tool


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_full_positive_audit(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-1")
    case.to_audit()
    assert case.report("R-1", scores=scores()) == "delivered"
    case.decide()
    [record] = case.registrations()
    assert record["status"] == "active" and record["registration_number"].startswith("DV.O")
    assert case.show()["status"] == "waiting"  # now watched for its renewal
    assert "renewal" in case.show()["active_elements"]


@pytest.mark.parametrize("db_url", DB, indirect=True)
def test_training_and_advice_two_declarations_signed_in_two_processes(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-2", services=["training", "advice"])
    assert len(case.tasks("sign_declaration")) == 2
    case.to_audit()  # the multi-instance merges children completed by separate processes
    case.report("R-1", scores=scores())
    case.decide()
    assert sorted(r["registration_number"][:4] for r in case.registrations()) == ["DV.A", "DV.O"]


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_starter_follow_up_in_month_23(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-3", starter=True)
    case.to_audit()
    case.report("R-1", audit_type="limited", scores=scores(tuple(m for m in MODULES if m not in EXEMPT)))
    case.decide()
    [record] = case.registrations()
    assert record["status"] == "provisional"
    kmop.run("clock", "advance", "P690D")  # month 23, past the reminder
    assert case.report("R-2", audit_type="follow_up", scores=scores(EXEMPT)) == "delivered"
    [record] = case.registrations()
    start = date.fromisoformat(record["valid_from"])
    assert record["status"] == "active"
    assert record["valid_until"] == date(start.year + 5, start.month, start.day).isoformat()


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_conditional_registration_turned_active(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-4")
    case.to_audit()
    case.report("R-1", scores=scores(knowledge="G"), follow_up_deadline="2027-09-30")
    case.decide()
    assert [r["status"] for r in case.registrations()] == ["conditional"]
    kmop.run("clock", "advance", "P90D")
    assert case.report("R-2", audit_type="follow_up", scores=scores(("knowledge",))) == "delivered"
    assert [r["status"] for r in case.registrations()] == ["active"]


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_public_provider_without_audit(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-5", provider_type="public", company_name="Hogeschool Gent")
    case.complete("sign_declaration", {"declaration_accepted": True, "declared_by": "Jan Peeters"})
    case.complete("check_declaration", {"decision": "approve"})
    case.decide()
    assert [r["status"] for r in case.registrations()] == ["active"]


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_renewal_in_time(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-6")
    case.to_audit()
    case.report("R-1", scores=scores())
    case.decide()
    [first] = case.registrations()
    end = date.fromisoformat(first["valid_until"])
    kmop.run("clock", "set", f"{end.year}-{end.month - 2:02d}-{end.day:02d}T12:00:00+02:00")
    assert case.report("R-2", scores=scores()) == "delivered"
    [renewed] = case.registrations()
    assert renewed["registration_number"] == first["registration_number"]
    assert renewed["valid_from"] == first["valid_until"] and renewed["status"] == "active"


@pytest.mark.parametrize("db_url", SQLITE, indirect=True)
def test_negative_audit_refused(kmop: Kmop) -> None:
    case = CliCase(kmop, "APP-7")
    case.to_audit()
    case.report("R-1", scores=scores(integrity="B"))
    detail = case.show()
    assert detail["status"] == "completed" and case.registrations() == []
    assert [m["template"] for m in kmop.json("outbox", "--application", "APP-7")] == ["application_refused"]


@pytest.mark.parametrize("db_url", DB, indirect=True)
def test_parallel_multiinstance_cardinality(db_url: str, conformance: Path) -> None:
    kmop = Kmop(db_url)
    kmop.run("init")
    kmop.run("deploy", str(conformance / "parallel_multiinstance_cardinality.bpmn"))
    instance = kmop.json("start", "main", "--business-key", "MI")["id"]
    tasks = kmop.json("tasks", "--instance", str(instance))
    assert len(tasks) == 3
    for n, task in enumerate(tasks):
        kmop.run("complete", task["id"], "--data", json.dumps({"output_item": n}))
    detail = kmop.json("show", str(instance))
    assert detail["status"] == "completed" and sorted(detail["data"]["output_data"]) == [0, 1, 2]


@pytest.mark.parametrize("db_url", DB, indirect=True)
def test_event_subprocess(db_url: str, conformance: Path) -> None:
    kmop = Kmop(db_url)
    kmop.run("init")
    kmop.run("deploy", str(conformance / "event-subprocess.bpmn"))
    instance = kmop.json("start", "main", "--business-key", "ES")["id"]
    for expected in ("set_data", "task"):
        [task] = kmop.json("tasks", "--instance", str(instance))
        assert task["element_id"] == expected
        kmop.run("complete", task["id"])
    detail = kmop.json("show", str(instance))
    assert detail["status"] == "completed" and detail["incidents"] == []
    assert {"sub", "task"} <= set(detail["completed_elements"])
