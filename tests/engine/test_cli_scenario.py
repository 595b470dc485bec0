"""The issue's scenario, driven only through separate ``kmop`` processes, on SQLite and PostgreSQL.

A user task guarded by a 10-day boundary timer, then an event-based gateway racing the
``report_due`` message against a 6-week timer. Time moves only through ``kmop clock advance``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.kmop_cli import Kmop

pytestmark = pytest.mark.processes

DIAGRAM = Path(__file__).parent / "data" / "deadline_race.bpmn"


def _timer_fired(detail: dict[str, Any], element: str) -> int:
    return sum(1 for h in detail["history"] if h["event"] == "timer_fired" and h["element_id"] == element)


@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_boundary_timer_then_message_races_six_week_timer(db_url: str) -> None:
    kmop = Kmop(db_url)
    kmop.run("init")
    kmop.run("deploy", str(DIAGRAM))
    first = kmop.json("start", "deadline_race", "--business-key", "APP-1", "--data", '{"applicant": "Acme"}')
    second = kmop.json("start", "deadline_race", "--business-key", "APP-2")
    start = kmop.now()

    tasks = kmop.json("tasks", "--instance", str(first["id"]))
    assert [t["name"] for t in tasks] == ["Dossier nakijken"]
    assert datetime.fromisoformat(tasks[0]["due_at"]) == start + timedelta(days=10)

    # The boundary timer does not fire before its due time ...
    kmop.run("clock", "advance", "P9D")
    assert len(kmop.json("tasks", "--instance", str(first["id"]))) == 1
    assert _timer_fired(kmop.json("show", str(first["id"])), "review_deadline") == 0

    # ... instance 2's task is done by a person; instance 1's boundary timer fires exactly once.
    task2 = kmop.json("tasks", "--instance", str(second["id"]))[0]
    kmop.run("complete", task2["id"], "--as", "an.peeters", "--data", '{"remark": "ok"}')
    kmop.run("complete", task2["id"], "--as", "jan.jansen", expect=3)  # already completed: conflict
    kmop.run("clock", "advance", "P2D")
    kmop.run("clock", "advance", "P1D")
    one = kmop.json("show", str(first["id"]))
    assert _timer_fired(one, "review_deadline") == 1
    assert one["ready_tasks"] == []
    assert one["data"]["escalated"] is True
    assert [s["message_name"] for s in one["subscriptions"]] == ["report_due"]
    gateway_due = datetime.fromisoformat(one["timers"][0]["due_at"])
    assert gateway_due == start + timedelta(days=10) + timedelta(weeks=6)

    # A message with a wrong key reaches no case; with buffering off it is refused outright.
    kmop.run("message", "report_due", "--key", "APP-999", "--id", "r-0", "--payload", '{"score": "B"}')
    kmop.run("message", "report_due", "--key", "APP-998", expect=4, KMOP_MESSAGE_BUFFER_SECONDS="0")
    for inst in (first, second):
        detail = kmop.json("show", str(inst["id"]))
        assert detail["status"] == "waiting" and "score" not in detail["data"]

    # Instance 1 gets its report in week 5: delivered once, the repeated id is accepted once.
    kmop.run("clock", "advance", "P4W")
    delivered = kmop.json(
        "message", "report_due", "--key", "APP-1", "--id", "r-1", "--payload", '{"score": "T"}'
    )
    assert delivered["status"] == "delivered" and delivered["instance_id"] == first["id"]
    again = kmop.json("message", "report_due", "--key", "APP-1", "--id", "r-1", "--payload", '{"score": "B"}')
    assert again["status"] == "duplicate"
    one = kmop.json("show", str(first["id"]))
    assert one["status"] == "completed"
    assert one["data"]["score"] == "T"
    assert "end_received" in one["completed_elements"] and "end_late" not in one["completed_elements"]
    assert sum(1 for h in one["history"] if h["event"] == "message_received") == 1
    assert _timer_fired(one, "wait_report") == 0

    # Instance 2 gets nothing: its 6-week timer fires exactly once, and not a moment early.
    two = kmop.json("show", str(second["id"]))
    due_two = datetime.fromisoformat(two["timers"][0]["due_at"])
    kmop.run("clock", "set", (due_two - timedelta(seconds=1)).isoformat())
    assert kmop.json("show", str(second["id"]))["status"] == "waiting"
    kmop.run("clock", "advance", "PT2S")
    kmop.run("clock", "advance", "P1W")
    two = kmop.json("show", str(second["id"]))
    assert two["status"] == "completed"
    assert "end_late" in two["completed_elements"] and "end_received" not in two["completed_elements"]
    assert _timer_fired(two, "wait_report") == 1
    assert kmop.json("timers") == []
    # A late report for the finished case is refused: kept, it would wait for a case that never comes.
    late = kmop.run("message", "report_due", "--key", "APP-2", "--id", "r-2", expect=4)
    assert "every case with key 'APP-2' has ended" in late.stderr


def test_clock_refuses_to_move_in_normal_mode(tmp_path: Path) -> None:
    kmop = Kmop(f"sqlite:///{tmp_path / 'k.sqlite3'}", KMOP_CLOCK="system")
    kmop.run("init")
    proc = kmop.run("clock", "advance", "P1D", expect=1)
    assert "KMOP_CLOCK=simulated" in proc.stderr
    kmop.run("clock", "set", "2030-01-01T00:00:00+00:00", expect=1)
    shown = kmop.json("clock", "show")
    assert shown["simulated"] is False


def test_errors_are_clear_and_go_to_stderr(tmp_path: Path) -> None:
    kmop = Kmop(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    proc = kmop.run("instances", expect=1)
    assert "kmop init" in proc.stderr and proc.stdout == ""
    kmop.run("init")
    assert "no deployed process 'nope'" in kmop.run("start", "nope", expect=4).stderr
    assert "not valid JSON" in kmop.run("start", "nope", "--data", "{bad", expect=1).stderr
    assert "no task" in kmop.run("complete", "0000", expect=4).stderr
    bad = tmp_path / "bad.bpmn"
    bad.write_text("<definitions><oops></definitions>")
    out = kmop.run("deploy", str(bad), expect=1)
    assert "bad.bpmn" in out.stderr and "not well-formed XML" in out.stderr
    assert kmop.json("processes") == []


def test_demo_set_up_is_repeatable(tmp_path: Path) -> None:
    kmop = Kmop(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    first = kmop.run("demo", "--no-run")
    assert "deployed registration version 1" in first.stdout
    second = kmop.run("demo", "--no-run")
    assert "demo cases already present" in second.stdout
    instances = kmop.json("instances")
    assert sorted(i["business_key"] for i in instances) == ["APP-DEMO-1", "APP-DEMO-2", "APP-DEMO-3"]
    registry = kmop.json("registry")
    assert [r["company_name"] for r in registry] == ["Hogeschool Demo"]
    shown = kmop.json("registry", "show", registry[0]["registration_number"])
    assert shown["status"] == "active" and shown["history"]
    pdf = tmp_path / "attest.pdf"
    kmop.run("certificate", registry[0]["registration_number"], "--out", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert [m["template"] for m in kmop.json("outbox")] == ["registered"]
    kmop.run("registry", "show", "DV.O999999", expect=4)
