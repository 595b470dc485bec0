"""Trying a draft in a scratch database: it runs on its own clock, and the live database never notices."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import clock, tryout
from engine.api import Engine
from engine.config import PROJECT_ROOT
from engine.errors import DeploymentError, InvalidInput, NotFound
from engine.models import (
    ClockState,
    DefinitionFile,
    HistoryEntry,
    InstanceTaskState,
    ProcessInstance,
    ProcessVersion,
    UserTask,
    WakeUp,
)
from engine.sources import SourceFile
from engine.tryout import Tryout

APPLICATION: dict[str, Any] = {
    "enterprise_number": "0566.988.259",
    "company_name": "Acme Opleidingen BV",
    "email": "info@acme.example",
    "iban": "BE48 0011 2345 6727",
    "bic": "GEBABEBB",
    "services": ["training"],
    "provider_type": "private",
    "starter": False,
}
MODULES = ("activity", "experience", "satisfaction", "knowledge", "integrity")
SCORES = {m: {"conformity": "T", "demonstrability": "V"} for m in MODULES}
LIVE_TABLES = (
    ProcessInstance,
    HistoryEntry,
    UserTask,
    WakeUp,
    InstanceTaskState,
    ProcessVersion,
    DefinitionFile,
)


@pytest.fixture
def live(engine: Engine) -> Engine:
    with engine.transaction() as db:
        engine.deploy(db, [PROJECT_ROOT / "bpmn"])
    return engine


def three_week_draft(engine: Engine) -> list[SourceFile]:
    """The files of ``registration`` with the first reminder after 3 weeks instead of 4."""
    with engine.transaction(write=False) as db:
        files = tryout.draft_sources(db, "registration")
    changed = []
    for f in files:
        if f.name == "registration.bpmn":
            assert '"P4W"' in f.content
            f = SourceFile(f.name, f.content.replace('"P4W"', '"P3W"'))
        changed.append(f)
    return changed


def make(live: Engine, files: list[SourceFile], root: Path, owner: str = "ops") -> str:
    with live.transaction(write=False) as db:
        return Tryout.create(live, db, "registration", files, owner=owner, root=root)


def counts(engine: Engine) -> dict[str, Any]:
    with engine.transaction(write=False) as db:
        found: dict[str, Any] = {
            t.__tablename__: db.scalar(select(func.count()).select_from(t)) for t in LIVE_TABLES
        }
        found["clock"] = db.scalar(select(ClockState.now))
    return found


def to_audit_wait(t: Tryout) -> None:
    t.start(APPLICATION, business_key="PROEF-1")
    for element, data in (
        ("sign_declaration", {"declaration_accepted": True, "declared_by": "Olaf"}),
        ("check_declaration", {"decision": "approve"}),
        ("choose_bureau", {"audit_bureau": "vincotte", "audit_hours": 14}),
    ):
        task = next(task for task in t.state().tasks if task.element_id == element)
        t.complete(task.id, data)


def test_changed_reminder_fires_after_three_weeks_and_live_stays_untouched(
    live: Engine, tmp_path: Path
) -> None:
    with live.transaction() as db:
        case = live.start(db, "registration", APPLICATION, business_key="APP-LIVE-1")
    live_clock = clock.active()
    before = counts(live)
    files = three_week_draft(live)

    tryout_id = make(live, files, tmp_path)
    with Tryout.open(tryout_id, live, root=tmp_path) as t:
        start = t.state().now
        assert not t.state().started and t.state().start_form[0] == "application.json"
        to_audit_wait(t)
        state = t.state()
        assert "wait_report" in [w.element_id for w in state.waiting]
        assert "Wachten op auditrapport" in [w.name for w in state.waiting]
        reminder = next(timer for timer in state.timers if timer.element_id == "report_after_4_weeks")
        assert reminder.due_at == start + timedelta(weeks=3)
        assert [m.name for m in state.messages] == ["audit_report"]
        assert state.messages[0].correlation_key == "PROEF-1"
        assert "remind_report" not in state.path

        assert t.advance("P3W") == 1
        state = t.state()
        assert state.now == start + timedelta(weeks=3)
        assert state.path[-2:] == ["report_after_4_weeks", "remind_report"]
        last = state.steps[-1]
        assert last.kind == "advance" and last.detail["duration"] == "P3W"
        assert "report_after_4_weeks" in [e["element_id"] for e in last.events if e["event"] == "timer_fired"]
        sent = next(e for e in last.events if e["element_id"] == "remind_report")
        assert sent["event"] == "task_completed" and sent["name"] == "Herinnering versturen"
        assert "reminder" in sent["detail"]["changed"]
        assert [s.kind for s in state.steps] == ["start", "complete", "complete", "complete", "advance"]
        assert "wait_report" in [w.element_id for w in state.waiting]  # the report is still awaited
        assert [timer.element_id for timer in state.timers] == ["report_after_6_weeks"]

    assert clock.active() is live_clock
    assert counts(live) == before
    with live.transaction(write=False) as db:
        again = live.show(db, case.id)
    assert again.history[-1].event != "timer_fired" and again.status == case.status
    assert [t.element_id for t in again.ready_tasks] == ["sign_declaration"]


def test_a_try_out_never_changes_a_running_live_case(live: Engine, tmp_path: Path) -> None:
    with live.transaction() as db:
        case = live.start(db, "registration", APPLICATION, business_key="PROEF-1")  # the same key
        task = live.tasks(db, instance_id=case.id)[0]
    with Tryout.open(make(live, three_week_draft(live), tmp_path), live, root=tmp_path) as t:
        to_audit_wait(t)
        t.advance("P7W")
        with pytest.raises(InvalidInput):
            t.message("audit_report", "PROEF-1", {"nonsense": True})
        report = {"application_id": "PROEF-1", "report_id": "R-1", "audit_type": "full", "scores": SCORES}
        assert t.message("audit_report", "PROEF-1", report) == "delivered"
        state = t.state()
        assert [task.element_id for task in state.tasks] == ["follow_up_late_report", "decide"]
        assert state.steps[-1].kind == "message" and state.steps[-1].data["audit_type"] == "full"
    with live.transaction(write=False) as db:
        detail = live.show(db, case.id)
        assert [x.id for x in detail.ready_tasks] == [task.id]
        assert detail.timers == [] and detail.subscriptions == []
        assert db.scalar(select(func.count(ProcessVersion.id))) == len(live.processes(db))
        assert {v.version for v in live.processes(db)} == {1}


def test_bad_durations_are_refused_with_a_clear_message(live: Engine, tmp_path: Path) -> None:
    with Tryout.open(make(live, three_week_draft(live), tmp_path), live, root=tmp_path) as t:
        for bad in ("P4", "4 weeks", "", "P", "PT", "-P1D", "P0D", "P999Y", "P1W2D", "3w"):
            with pytest.raises(InvalidInput) as caught:
                t.advance(bad)
            assert caught.value.field == "duration"
        start = t.state().now
        assert t.advance("p1dt12h") == 0  # nothing started: nothing to wake, the clock still moves
        assert t.state().steps[-1].detail["duration"] == "P1DT12H"
        assert t.state().now == start + timedelta(days=1, hours=12)


def test_a_broken_draft_is_refused_and_leaves_nothing(live: Engine, tmp_path: Path) -> None:
    files = [
        SourceFile(f.name, f.content.replace('"P3W"', "P3W")) if f.name == "registration.bpmn" else f
        for f in three_week_draft(live)
    ]
    with pytest.raises(DeploymentError) as caught:
        make(live, files, tmp_path)
    assert any(p.element == "report_after_4_weeks" for p in caught.value.problems)
    assert list(tmp_path.glob("*.db")) == [] and list(tmp_path.glob("*.json")) == []


def test_one_try_out_per_analyst_and_process_and_old_ones_go(live: Engine, tmp_path: Path) -> None:
    files = three_week_draft(live)
    first = make(live, files, tmp_path)
    other = make(live, files, tmp_path, owner="someone")
    second = make(live, files, tmp_path)
    assert Tryout.find("ops", "registration", tmp_path) == second
    with pytest.raises(NotFound):
        Tryout.open(first, live, root=tmp_path)
    meta_path = tmp_path / f"{other}.json"
    meta = json.loads(meta_path.read_text())
    meta["created"] = time.time() - 2 * 24 * 3600
    meta_path.write_text(json.dumps(meta))
    assert tryout.cleanup(tmp_path) == 1
    assert Tryout.find("someone", "registration", tmp_path) is None
    assert sorted(p.stem for p in tmp_path.glob("*.db")) == [second]
    with pytest.raises(NotFound):
        Tryout.open("../../etc/passwd", live, root=tmp_path)
    assert not os.path.exists(tmp_path / "etc")


BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def bpmn(process_id: str) -> str:
    return f'<definitions xmlns="{BPMN_NS}"><process id="{process_id}"/></definitions>'


def test_draft_files_replace_live_files_by_name_and_by_what_they_define() -> None:
    live = [SourceFile("a.bpmn", bpmn("a")), SourceFile("b.bpmn", bpmn("b")), SourceFile("form.json", "{}")]
    draft = [SourceFile("b-new.bpmn", bpmn("b")), SourceFile("form.json", '{"title": "new"}')]
    assert [f.name for f in tryout.merged(draft, live)] == ["b-new.bpmn", "form.json", "a.bpmn"]
